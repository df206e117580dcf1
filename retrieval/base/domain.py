"""The dialogue domain (``data/domain.yml``): topics, action intents, slots and forms.

```yaml
categories: {order_status: orders, ...}          # intent -> topic for monitoring
intent_actions: {order_status: action_order_status}
slots: {order_id: {entity: order_id, prompt: "What's your order number?"}}
required_slots: {action_order_status: [order_id]}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.base.datafiles import DataFileError, load_yaml


@dataclass(frozen=True, slots=True)
class SlotSpec:
    name: str
    entity: str
    prompt: str


@dataclass(frozen=True, slots=True)
class Domain:
    categories: Mapping[str, str] = field(default_factory=dict)
    intent_actions: Mapping[str, str] = field(default_factory=dict)
    slots: Mapping[str, SlotSpec] = field(default_factory=dict)
    required_slots: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def category(self, intent: str | None) -> str:
        if not intent:
            return "unknown"
        return self.categories.get(intent, "other")

    def missing_slots(self, action: str, slots: Mapping[str, Any]) -> list[str]:
        return [name for name in self.required_slots.get(action, ()) if not slots.get(name)]

    def as_rasa(self, intents: tuple[str, ...] = ()) -> dict[str, Any]:
        """The minimal domain dict that rasa_sdk actions receive."""
        return {
            "intents": list(intents),
            "entities": sorted({spec.entity for spec in self.slots.values()}),
            "slots": {name: {"type": "any"} for name in self.slots},
            "actions": sorted(set(self.intent_actions.values())),
            "responses": {},
            "forms": {},
        }

    @classmethod
    def load(cls, path: str | Path) -> Domain:
        path = Path(path)
        if not path.exists():
            return cls()
        data = load_yaml(path) or {}
        if not isinstance(data, dict):
            raise DataFileError(path, "expected a mapping at the top level", fix="see DESIGN.md")
        categories = _str_map(path, data, "categories")
        intent_actions = _str_map(path, data, "intent_actions")
        slots: dict[str, SlotSpec] = {}
        for name, spec in _mapping(path, data, "slots").items():
            if not isinstance(spec, dict):
                raise DataFileError(
                    path,
                    f"slot {name!r} must be a mapping",
                    field=f"slots.{name}",
                    fix="write {entity: NAME, prompt: TEXT}",
                )
            slots[str(name)] = SlotSpec(
                name=str(name),
                entity=str(spec.get("entity", name)),
                prompt=str(spec.get("prompt") or f"Could you tell me your {name}?"),
            )
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
        return cls(categories, intent_actions, slots, required)


def _mapping(path: Path, data: Mapping[str, Any], key: str) -> dict[Any, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise DataFileError(
            path, f"{key} must be a mapping", field=key, fix="write name: value pairs"
        )
    return value


def _str_map(path: Path, data: Mapping[str, Any], key: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(path, data, key).items()}
