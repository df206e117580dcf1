"""Slot mappings and forms, as Rasa 3 runs them.

After every customer message the slot mappings of the domain are applied (Rasa's
``action_extract_slots``): entities, the whole text, or a value for an intent, each only
where its conditions on the active form and the requested slot hold. A form then asks for
its required slots in turn, hands what was filled to its ``validate_<form>`` action when the
project has one, and ends when nothing is missing. A message that fills nothing the form
asked for is rejected by the form, so that a rule or story can answer it (an interruption);
the form asks again afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.chat.tracker import REQUESTED_SLOT, Event, Tracker, active_loop, slot_set
from retrieval.base.domain import Domain, FormSpec, SlotMapping


def _entity_values(mapping: SlotMapping, entities: Sequence[Mapping[str, Any]]) -> list[Any]:
    # Role and group compare for equality, None included: a mapping without a role takes
    # only entities without one (rasa_sdk's get_latest_entity_values does the same).
    def group(entity: Mapping[str, Any]) -> str | None:
        raw = entity.get("group")
        return None if raw is None else str(raw)

    return [
        e.get("value")
        for e in entities
        if e.get("entity") == mapping.entity
        and e.get("role") == mapping.role
        and group(e) == mapping.group
    ]


def _intent_ok(mapping: SlotMapping, intent: str | None) -> bool:
    if mapping.intent and intent not in mapping.intent:
        return False
    return not (mapping.not_intent and intent in mapping.not_intent)


def _conditions_ok(mapping: SlotMapping, loop: str | None, requested: str | None) -> bool:
    if not mapping.conditions:
        return True
    return any(
        (c_loop is None or c_loop == loop) and (c_slot is None or c_slot == requested)
        for c_loop, c_slot in mapping.conditions
    )


def extract_slots(
    domain: Domain,
    tracker: Tracker,
    *,
    trigger_of: str | None = None,
) -> dict[str, Any]:
    """The slot values the latest message gives, by the domain's mappings.

    ``trigger_of`` names a form that this very message activates (``from_trigger_intent``).
    Slots of the active form other than the requested one take only entity mappings:
    "yes" answers the question asked, not every yes/no slot of the form.
    """
    message = tracker.state.latest_message
    intent_data = message.get("intent") or {}
    intent = intent_data.get("name") if isinstance(intent_data, dict) else None
    entities = list(message.get("entities") or ())
    text = message.get("text")
    loop = trigger_of or tracker.active_loop_name
    requested = tracker.slots.get(REQUESTED_SLOT)
    form = domain.forms.get(loop) if loop else None
    ignored = set(form.ignored_intents) if form is not None else set()
    shared = _shared_entities(domain, form)
    values: dict[str, Any] = {}
    for name, spec in domain.slots.items():
        for mapping in spec.mappings:
            if not _conditions_ok(mapping, loop, requested):
                continue
            if not _intent_ok(mapping, intent):
                continue
            for_form = not mapping.conditions or any(c == loop for c, _ in mapping.conditions)
            if intent in ignored and for_form:
                continue  # the active form's ignored intents fill none of its mappings
            in_form = form is not None and name in form.required_slots
            other_form_slot = in_form and name != requested and trigger_of is None
            if mapping.type == "from_entity" and other_form_slot and mapping.entity in shared:
                continue  # an entity several form slots take answers the question asked
            value: Any = None
            if mapping.type == "from_entity":
                found = _entity_values(mapping, entities)
                if found:
                    value = found if spec.type == "list" else found[-1]
            elif other_form_slot and not mapping.conditions:
                continue
            elif mapping.type == "from_text":
                if isinstance(text, str) and not text.startswith("/"):
                    value = text
            elif mapping.type == "from_intent":
                if (mapping.intent and intent in mapping.intent) or (
                    not mapping.intent and intent is not None
                ):
                    value = mapping.value
            elif mapping.type == "from_trigger_intent" and trigger_of and form is not None:
                value = mapping.value
            if value is not None:
                values[name] = value
                break
    return values


def _shared_entities(domain: Domain, form: FormSpec | None) -> set[str]:
    """Entities that more than one required slot of the form is filled from."""
    if form is None:
        return set()
    seen: dict[str, int] = {}
    for name in form.required_slots:
        spec = domain.slots.get(name)
        for entity in {m.entity for m in (spec.mappings if spec else ()) if m.entity}:
            seen[entity] = seen.get(entity, 0) + 1
    return {entity for entity, count in seen.items() if count > 1}


@dataclass
class FormStep:
    """What one run of a form produced."""

    events: list[Event] = field(default_factory=list)
    ask: str | None = None  # the slot to ask for next; None when the form is done
    rejected: bool = False
    validate_with: dict[str, Any] = field(default_factory=dict)


class FormRunner:
    """Runs the loop of one form; the engine calls the validation and ask actions."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    def spec(self, name: str) -> FormSpec | None:
        return self.domain.forms.get(name)

    def next_slot(self, form: FormSpec, slots: Mapping[str, Any]) -> str | None:
        for name in form.required_slots:
            if slots.get(name) is None:
                return name
        return None

    def candidates(self, form: FormSpec, tracker: Tracker, *, activating: bool) -> dict[str, Any]:
        """Slots of this form that the latest turn filled (by the global extraction, which
        already ran) or gives through trigger-intent mappings when it activates the form."""
        filled: dict[str, Any] = {}
        for event in tracker.since_last_user():
            if event.get("event") == "slot" and event.get("name") in form.required_slots:
                filled[str(event["name"])] = event.get("value")
        if activating:
            for name, value in extract_slots(self.domain, tracker, trigger_of=form.name).items():
                if name in form.required_slots and name not in filled:
                    filled[name] = value
            # Slots set before the form started are validated like answers (Rasa does).
            for name in form.required_slots:
                if name not in filled and tracker.slots.get(name) is not None:
                    filled[name] = tracker.slots[name]
        return filled

    def activate(self, name: str) -> list[Event]:
        return [active_loop(name)]

    def deactivate(self) -> list[Event]:
        return [active_loop(None), slot_set(REQUESTED_SLOT, None)]
