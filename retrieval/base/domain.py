"""The dialogue domain (``data/domain.yml``): Rasa's domain keys plus Frontdesk's own.

Rasa's keys are read as Rasa reads them, so an imported project's domain works unchanged:
``intents``, ``entities``, ``slots`` (with ``type``, ``mappings``, ``influence_conversation``,
``initial_value``), ``forms``, ``responses``, ``actions`` and ``session_config``.

Frontdesk adds, for a domain without stories:

```yaml
categories: {order_status: orders, ...}          # intent -> topic for the ops dashboard
general_topics: [feedback]   # topics that say how, not what: read the subject from the words
intent_actions: {order_status: action_order_status}
slots: {order_id: {entity: order_id, prompt: "What's your order number?"}}
required_slots: {action_order_status: [order_id]}  # asked for, in turn, before the action
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.base.datafiles import DataFileError, load_yaml

SLOT_TYPES = ("text", "bool", "categorical", "float", "list", "any")
MAPPING_TYPES = ("from_entity", "from_text", "from_intent", "from_trigger_intent", "custom")
DOMAIN_FIX = "see the 'Dialogue' section of the README for the domain.yml keys"


@dataclass(frozen=True, slots=True)
class SlotMapping:
    type: str
    entity: str | None = None
    value: Any = None
    intent: tuple[str, ...] = ()
    not_intent: tuple[str, ...] = ()
    role: str | None = None
    group: str | None = None
    action: str | None = None
    # Each condition: (active_loop, requested_slot); None where the condition leaves it open.
    conditions: tuple[tuple[str | None, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class SlotSpec:
    name: str
    entity: str
    prompt: str
    type: str = "text"
    influence_conversation: bool = False
    initial_value: Any = None
    values: tuple[str, ...] = ()
    mappings: tuple[SlotMapping, ...] = ()


@dataclass(frozen=True, slots=True)
class FormSpec:
    name: str
    required_slots: tuple[str, ...]
    ignored_intents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionConfig:
    expiration_minutes: float = 60.0
    carry_over_slots: bool = True


@dataclass(frozen=True, slots=True)
class Domain:
    categories: Mapping[str, str] = field(default_factory=dict)
    # Topics whose intents say how a customer feels or talks ("complaint", "thanks"), not
    # what about: the ops monitor files such a message under the subject its words are
    # nearest to, where there is one (bot/ops/topics.py).
    general_topics: frozenset[str] = frozenset()
    intent_actions: Mapping[str, str] = field(default_factory=dict)
    slots: Mapping[str, SlotSpec] = field(default_factory=dict)
    required_slots: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    intents: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    forms: Mapping[str, FormSpec] = field(default_factory=dict)
    actions: tuple[str, ...] = ()
    responses: Mapping[str, Any] = field(default_factory=dict)
    session: SessionConfig = field(default_factory=SessionConfig)
    path: str | None = field(default=None, compare=False)

    def category(self, intent: str | None) -> str:
        if not intent:
            return "unknown"
        return self.categories.get(intent, "other")

    def missing_slots(self, action: str, slots: Mapping[str, Any]) -> list[str]:
        return [name for name in self.required_slots.get(action, ()) if not slots.get(name)]

    def initial_slots(self) -> dict[str, Any]:
        return {
            name: spec.initial_value
            for name, spec in self.slots.items()
            if spec.initial_value is not None
        }

    def as_rasa(self, intents: Sequence[str] = ()) -> dict[str, Any]:
        """The domain as rasa_sdk actions receive it (``DomainDict``)."""
        slots: dict[str, Any] = {}
        for name, spec in self.slots.items():
            slots[name] = {
                "type": spec.type,
                "initial_value": spec.initial_value,
                "influence_conversation": spec.influence_conversation,
                "mappings": [_mapping_as_rasa(m) for m in spec.mappings],
            }
            if spec.values:
                slots[name]["values"] = list(spec.values)
        entities = set(self.entities) | {spec.entity for spec in self.slots.values()}
        return {
            "intents": list(intents or self.intents),
            "entities": sorted(entities),
            "slots": slots,
            "actions": sorted(set(self.actions) | set(self.intent_actions.values())),
            "responses": dict(self.responses),
            "forms": {
                name: {"required_slots": list(form.required_slots)}
                for name, form in self.forms.items()
            },
        }

    @classmethod
    def load(cls, path: str | Path) -> Domain:
        path = Path(path)
        if not path.exists():
            return cls()
        data = load_yaml(path) or {}
        if not isinstance(data, dict):
            raise DataFileError(path, "expected a mapping at the top level", fix=DOMAIN_FIX)
        slots = {
            str(name): _slot(path, str(name), spec)
            for name, spec in _mapping(path, data, "slots").items()
        }
        required = _required(path, data, slots)
        categories = _str_map(path, data, "categories")
        return cls(
            categories=categories,
            general_topics=_general_topics(path, data, categories),
            intent_actions=_str_map(path, data, "intent_actions"),
            slots=slots,
            required_slots=required,
            intents=tuple(_names(data.get("intents"))),
            entities=tuple(_names(data.get("entities"))),
            forms=_forms(path, data, slots),
            actions=tuple(_names(data.get("actions"))),
            responses=dict(_mapping(path, data, "responses")),
            session=_session(path, data),
            path=str(path),
        )


def _names(items: Any) -> list[str]:
    """Rasa lists intents/entities/actions as names or one-key mappings with options."""
    names: list[str] = []
    for item in items or ():
        if isinstance(item, dict):
            names.extend(str(k) for k in item)
        else:
            names.append(str(item))
    return names


def _slot(path: Path, name: str, spec: Any) -> SlotSpec:
    if not isinstance(spec, dict):
        raise DataFileError(
            path,
            f"slot {name!r} must be a mapping",
            field=f"slots.{name}",
            fix="write {type: text, mappings: [...]} (Rasa) or {entity: NAME, prompt: TEXT}",
        )
    if "type" not in spec and "mappings" not in spec:
        # Frontdesk's short form: filled from one entity, asked for with a prompt.
        entity = str(spec.get("entity", name))
        return SlotSpec(
            name=name,
            entity=entity,
            prompt=str(spec.get("prompt") or f"Could you tell me your {name}?"),
            mappings=(SlotMapping("from_entity", entity=entity),),
        )
    kind = str(spec.get("type", "text"))
    if kind.startswith("rasa.") or "." in kind:
        kind = "any"  # a custom slot class: stored, never featurized
    if kind not in SLOT_TYPES:
        raise DataFileError(
            path,
            f"slot {name!r} has type {kind!r}",
            field=f"slots.{name}.type",
            fix=f"use one of {', '.join(SLOT_TYPES)}",
        )
    mappings = tuple(
        _slot_mapping(path, name, i, m) for i, m in enumerate(spec.get("mappings") or ())
    )
    entity = next((m.entity for m in mappings if m.entity), name)
    influence = spec.get("influence_conversation", kind != "any")
    return SlotSpec(
        name=name,
        entity=str(entity),
        prompt=str(spec.get("prompt") or f"Could you tell me your {name.replace('_', ' ')}?"),
        type=kind,
        influence_conversation=bool(influence) and kind != "any",
        initial_value=spec.get("initial_value"),
        values=tuple(str(v) for v in spec.get("values") or ()),
        mappings=mappings,
    )


def _slot_mapping(path: Path, slot: str, index: int, raw: Any) -> SlotMapping:
    where = f"slots.{slot}.mappings[{index}]"
    if not isinstance(raw, dict) or raw.get("type") not in MAPPING_TYPES:
        raise DataFileError(
            path,
            f"slot {slot!r}: mapping {raw!r} has no known type",
            field=where,
            fix=f"set type: to one of {', '.join(MAPPING_TYPES)}",
        )
    conditions: list[tuple[str | None, str | None]] = []
    for condition in raw.get("conditions") or ():
        if not isinstance(condition, dict):
            raise DataFileError(
                path,
                f"slot {slot!r}: a mapping condition must be a mapping",
                field=f"{where}.conditions",
                fix="write '- active_loop: FORM' with an optional 'requested_slot: SLOT'",
            )
        loop = condition.get("active_loop")
        requested = condition.get("requested_slot")
        conditions.append(
            (None if loop is None else str(loop), None if requested is None else str(requested))
        )
    return SlotMapping(
        type=str(raw["type"]),
        entity=None if raw.get("entity") is None else str(raw["entity"]),
        value=raw.get("value"),
        intent=_str_list(raw.get("intent")),
        not_intent=_str_list(raw.get("not_intent")),
        role=None if raw.get("role") is None else str(raw["role"]),
        group=None if raw.get("group") is None else str(raw["group"]),
        action=None if raw.get("action") is None else str(raw["action"]),
        conditions=tuple(conditions),
    )


def _mapping_as_rasa(mapping: SlotMapping) -> dict[str, Any]:
    out: dict[str, Any] = {"type": mapping.type}
    for key in ("entity", "value", "role", "group", "action"):
        value = getattr(mapping, key)
        if value is not None:
            out[key] = value
    if mapping.intent:
        out["intent"] = list(mapping.intent)
    if mapping.not_intent:
        out["not_intent"] = list(mapping.not_intent)
    if mapping.conditions:
        out["conditions"] = [
            {k: v for k, v in (("active_loop", loop), ("requested_slot", slot)) if v}
            for loop, slot in mapping.conditions
        ]
    return out


def _str_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def _forms(
    path: Path, data: Mapping[str, Any], slots: Mapping[str, SlotSpec]
) -> dict[str, FormSpec]:
    forms: dict[str, FormSpec] = {}
    for name, spec in _mapping(path, data, "forms").items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise DataFileError(
                path,
                f"form {name!r} must be a mapping",
                field=f"forms.{name}",
                fix="write required_slots: [slot_a, slot_b]",
            )
        required = spec.get("required_slots") or []
        if isinstance(required, dict):  # Rasa 2's form of slot mappings per form
            required = list(required)
        unknown = [s for s in required if s not in slots]
        if unknown:
            raise DataFileError(
                path,
                f"form {name!r} requires undeclared slots {unknown}",
                field=f"forms.{name}.required_slots",
                fix="declare them under slots:",
            )
        forms[str(name)] = FormSpec(
            str(name), tuple(str(s) for s in required), _str_list(spec.get("ignored_intents"))
        )
    return forms


def _required(
    path: Path, data: Mapping[str, Any], slots: Mapping[str, SlotSpec]
) -> dict[str, tuple[str, ...]]:
    required: dict[str, tuple[str, ...]] = {}
    for action, names in _mapping(path, data, "required_slots").items():
        if not isinstance(names, list):
            raise DataFileError(
                path,
                f"required_slots.{action} must be a list",
                field="required_slots",
                fix="write [slot_a, slot_b]",
            )
        unknown = [n for n in names if n not in slots]
        if unknown:
            raise DataFileError(
                path,
                f"required_slots.{action} names undeclared slots {unknown}",
                field="required_slots",
                fix="declare them under slots:",
            )
        required[str(action)] = tuple(str(n) for n in names)
    return required


def _session(path: Path, data: Mapping[str, Any]) -> SessionConfig:
    raw = _mapping(path, data, "session_config")
    minutes = raw.get("session_expiration_time", 60)
    if not isinstance(minutes, int | float) or minutes < 0:
        raise DataFileError(
            path,
            f"session_expiration_time is {minutes!r}",
            field="session_config.session_expiration_time",
            fix="give minutes as a number (0 keeps one session forever)",
        )
    return SessionConfig(float(minutes), bool(raw.get("carry_over_slots_to_new_session", True)))


def _mapping(path: Path, data: Mapping[str, Any], key: str) -> dict[Any, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise DataFileError(path, f"{key} must be a mapping", field=key, fix=DOMAIN_FIX)
    return value


def _general_topics(
    path: Path, data: Mapping[str, Any], categories: Mapping[str, str]
) -> frozenset[str]:
    value = data.get("general_topics")
    if value is None:
        return frozenset()
    fix = "write general_topics: [feedback, conversation], topics named in categories"
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DataFileError(
            path,
            f"general_topics must be a list of topic names, got {value!r}",
            field="general_topics",
            fix=fix,
        )
    known = set(categories.values())
    unknown = sorted(set(value) - known)
    if unknown:
        raise DataFileError(
            path,
            f"general_topics names {', '.join(map(repr, unknown))}, which no intent has in "
            f"categories (topics there: {', '.join(sorted(known)) or 'none'})",
            field="general_topics",
            fix=fix,
        )
    return frozenset(value)


def _str_map(path: Path, data: Mapping[str, Any], key: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(path, data, key).items()}
