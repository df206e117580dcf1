"""The dialogue state before each bot action, read the same way from a live tracker and from a
story, so that rules and memoized stories can be matched against what is happening now.

A state holds the previous action, the customer's intent and entities (only in the state
right after they spoke: a bot action's context is what the customer said last, not what they
said three actions ago), the active form, and the slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.chat.tracker import ACTION_LISTEN, Event
from retrieval.base.domain import Domain, SlotSpec
from retrieval.base.stories import (
    ANY_VALUE,
    ActionStep,
    BotStep,
    LoopStep,
    PlainStep,
    SlotStep,
    UserStep,
)

SET = "set"


@dataclass(frozen=True, slots=True)
class State:
    prev_action: str | None
    intent: str | None = None
    entities: frozenset[str] = frozenset()
    active_loop: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    loop_rejected: bool = False


def featurize_slot(spec: SlotSpec | None, value: Any) -> Any:
    """The value a policy compares, as Rasa's slot features: whether a text or list slot is
    set, a bool's truth, a categorical's (lower-cased) category, a float's place in [0, 1]."""
    if value is None:
        return None
    kind = spec.type if spec is not None else "text"
    if value is ANY_VALUE:
        # A story's slot listed without a value: "filled" for text, true for a bool.
        return True if kind == "bool" else SET
    if kind == "bool":
        if isinstance(value, str):
            return value.strip().lower() in ("true", "yes", "1")
        return bool(value)
    if kind == "categorical":
        text = str(value).lower()
        known = {v.lower() for v in spec.values} if spec is not None else set()
        return text if not known or text in known else "__other__"
    if kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return SET
        return round(min(max(number, 0.0), 1.0), 4)
    if kind == "list":
        return SET if value else None
    return SET


def entity_key(entity: Mapping[str, Any]) -> str:
    name = str(entity.get("entity"))
    role = entity.get("role")
    return f"{name}#{role}" if role else name


class StateReader:
    """Turns trackers and stories into :class:`State` lists for one domain."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    def influencing(self, slots: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in slots.items():
            spec = self.domain.slots.get(name)
            if spec is None or not spec.influence_conversation:
                continue
            featurized = featurize_slot(spec, value)
            if featurized is not None:
                out[name] = featurized
        return out

    def from_events(self, events: Sequence[Event], initial_slots: Mapping[str, Any]) -> list[State]:
        """The state before each action since the session's first user message, plus the
        state now (last), from applied events."""
        events = collapse_loop_turns(events)
        states: list[State] = []
        slots = dict(initial_slots)
        prev: str | None = None
        intent: str | None = None
        entities: frozenset[str] = frozenset()
        loop: str | None = None
        rejected = False
        started = False
        for event in events:
            kind = event.get("event")
            if kind == "user":
                started = True
                parse = event.get("parse_data") or {}
                raw_intent = parse.get("intent") or {}
                intent = raw_intent.get("name") if isinstance(raw_intent, dict) else None
                entities = frozenset(entity_key(e) for e in parse.get("entities") or ())
                prev = ACTION_LISTEN
                rejected = False
            elif kind == "action":
                name = event.get("name")
                if started:
                    states.append(self._state(prev, intent, entities, loop, slots, rejected))
                prev = str(name) if name else None
                if name == loop:
                    rejected = False
            elif kind == "slot":
                slots[str(event.get("name"))] = event.get("value")
            elif kind == "active_loop":
                loop = event.get("name") or None
                rejected = False
            elif kind == "action_execution_rejected" and event.get("name") == loop:
                rejected = True
            elif kind == "reset_slots":
                slots = dict(initial_slots)
        states.append(self._state(prev, intent, entities, loop, slots, rejected))
        return states

    def _state(
        self,
        prev: str | None,
        intent: str | None,
        entities: frozenset[str],
        loop: str | None,
        slots: Mapping[str, Any],
        rejected: bool,
    ) -> State:
        listening = prev == ACTION_LISTEN
        return State(
            prev_action=prev,
            intent=intent if listening else None,
            entities=entities if listening else frozenset(),
            active_loop=loop,
            slots=dict(slots),
            loop_rejected=rejected,
        )

    def from_steps(
        self, steps: Iterable[PlainStep], *, start: Mapping[str, Any] | None = None
    ) -> list[tuple[State, str]]:
        """The (state, action) pairs a story teaches, with the implied ``action_listen``
        before every customer turn and at the end."""
        pairs: list[tuple[State, str]] = []
        slots: dict[str, Any] = dict(start or {})
        prev: str | None = ACTION_LISTEN
        intent: str | None = None
        entities: frozenset[str] = frozenset()
        loop: str | None = None
        steps = list(steps)
        if steps and isinstance(steps[0], ActionStep):
            # A story that opens with an action continues from it: context, not a prediction.
            prev = steps[0].name
            steps = steps[1:]
        for step in steps:
            if isinstance(step, UserStep):
                if prev != ACTION_LISTEN and (pairs or prev is not None):
                    pairs.append(
                        (self._state(prev, None, frozenset(), loop, slots, False), ACTION_LISTEN)
                    )
                intent = step.intent
                entities = frozenset(
                    f"{e.entity}#{e.role}" if e.role else e.entity for e in step.entities
                )
                prev = ACTION_LISTEN
            elif isinstance(step, ActionStep):
                pairs.append((self._state(prev, intent, entities, loop, slots, False), step.name))
                prev = step.name
            elif isinstance(step, SlotStep):
                slots.update(dict(step.slots))
            elif isinstance(step, LoopStep):
                loop = step.name
            elif isinstance(step, BotStep):
                continue
        if prev != ACTION_LISTEN:
            pairs.append((self._state(prev, None, frozenset(), loop, slots, False), ACTION_LISTEN))
        return pairs


def collapse_loop_turns(events: Sequence[Event]) -> list[Event]:
    """Rasa's view of a form's happy path: the turns in which the form asked and the customer
    answered collapse into the form's first run, so that a story written as
    ``action: form`` / ``active_loop: null`` matches however many questions the form asked."""
    loops = {e.get("name") for e in events if e.get("event") == "active_loop" and e.get("name")}
    out: list[Event] = []
    for event in events:
        name = event.get("name")
        if event.get("event") == "action" and name in loops and not _first_run(str(name), out):
            _undo_to_previous_run(str(name), out)
        else:
            out.append(event)
    return out


def _first_run(loop: str, out: Sequence[Event]) -> bool:
    """Whether this run of ``loop`` starts it (or resumes it after an interruption)."""
    following: str | None = None
    for event in reversed(out):
        kind = event.get("event")
        if kind == "active_loop" and not event.get("name"):
            return True
        if kind == "action_execution_rejected" and event.get("name") == loop:
            return True
        if kind == "user" and following is not None and following != loop:
            return True
        if kind == "action":
            if event.get("name") == loop:
                return False
            following = str(event.get("name"))
    return True


def _undo_to_previous_run(loop: str, out: list[Event]) -> None:
    keep: list[Event] = []
    while out:
        event = out.pop()
        if event.get("event") == "action" and event.get("name") == loop:
            out.append(event)
            break
        if event.get("event") not in ("action", "user", "user_featurization"):
            keep.append(event)
    out.extend(reversed(keep))
