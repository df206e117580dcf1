"""A conversation as Rasa keeps it: an ordered list of events, and the state they add up to.

The events are Rasa's own JSON (``{"event": "slot", "name": ..., "value": ...}``), stored
durably with the turn that produced them, so a custom action receives exactly the tracker a
Rasa server would send it, and a conversation can be replayed or inspected event by event.
Everything else (slots, the active form, the latest message, whether the bot is paused) is
derived by applying the events in order, with Rasa's rules for restarts, new sessions and
reverted turns.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from rasa_sdk.types import TrackerState

ACTION_LISTEN = "action_listen"
ACTION_SESSION_START = "action_session_start"
ACTION_RESTART = "action_restart"
REQUESTED_SLOT = "requested_slot"

Event = dict[str, Any]

EventName = Literal[
    "user",
    "bot",
    "action",
    "slot",
    "active_loop",
    "session_started",
    "restart",
    "pause",
    "resume",
    "followup",
    "reset_slots",
    "reminder",
    "cancel_reminder",
    "rewind",
    "undo",
    "action_execution_rejected",
    "loop_interrupted",
    "user_featurization",
    "entities",
    "export",
    "agent",
]


class ActiveLoop(TypedDict, total=False):
    name: str
    validate: bool
    rejected: bool
    is_interrupted: bool
    trigger_message: dict[str, Any]


def now() -> float:
    return time.time()


def user_uttered(
    text: str, parse_data: Mapping[str, Any], *, message_id: str | None, channel: str
) -> Event:
    return {
        "event": "user",
        "timestamp": now(),
        "text": text,
        "parse_data": dict(parse_data),
        "input_channel": channel,
        "message_id": message_id,
        "metadata": dict(parse_data.get("metadata") or {}),
    }


def action_executed(name: str, policy: str | None = None, confidence: float = 1.0) -> Event:
    return {
        "event": "action",
        "timestamp": now(),
        "name": name,
        "policy": policy,
        "confidence": confidence,
    }


def followup(name: str) -> Event:
    return {"event": "followup", "timestamp": now(), "name": name}


def slot_set(name: str, value: Any) -> Event:
    return {"event": "slot", "timestamp": now(), "name": name, "value": value}


def active_loop(name: str | None) -> Event:
    return {"event": "active_loop", "timestamp": now(), "name": name}


def bot_uttered(text: str | None, data: Mapping[str, Any], utter_action: str | None) -> Event:
    return {
        "event": "bot",
        "timestamp": now(),
        "text": text,
        "data": dict(data),
        "metadata": {"utter_action": utter_action} if utter_action else {},
    }


def simple(kind: EventName, *, name_of: str | None = None) -> Event:
    """An event with no fields of its own; ``name_of`` names the action or loop it is about."""
    event: Event = {"event": kind, "timestamp": now()}
    if name_of is not None:
        event["name"] = name_of
    return event


@dataclass
class DialogueState:
    """What the events add up to; rebuilt by :meth:`Tracker.state`."""

    slots: dict[str, Any]
    active_loop: ActiveLoop | None = None
    latest_message: dict[str, Any] = field(default_factory=dict)
    latest_action_name: str | None = None
    followup_action: str | None = None
    paused: bool = False
    latest_event_time: float | None = None


class Tracker:
    """The events of one conversation, with the slots' initial values from the domain."""

    def __init__(
        self,
        sender_id: str,
        events: Iterable[Event] = (),
        *,
        initial_slots: Mapping[str, Any] | None = None,
    ) -> None:
        self.sender_id = sender_id
        self.events: list[Event] = list(events)
        self.initial_slots = dict(initial_slots or {})
        self._state: DialogueState | None = None

    # Changing ------------------------------------------------------------------------------

    def add(self, event: Event) -> None:
        self.events.append(event)
        if self._state is not None and event.get("event") not in _REBUILDS:
            _apply(self._state, event, self.initial_slots)
        else:
            self._state = None

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    # Reading -------------------------------------------------------------------------------

    @property
    def state(self) -> DialogueState:
        if self._state is None:
            state = DialogueState(slots=dict(self.initial_slots))
            for event in self.applied_events():
                _apply(state, event, self.initial_slots)
            self._state = state
        return self._state

    @property
    def slots(self) -> dict[str, Any]:
        return self.state.slots

    @property
    def active_loop_name(self) -> str | None:
        loop = self.state.active_loop
        return loop.get("name") if loop else None

    @property
    def latest_intent(self) -> str | None:
        intent = self.state.latest_message.get("intent") or {}
        name = intent.get("name") if isinstance(intent, dict) else None
        return str(name) if name else None

    def applied_events(self) -> list[Event]:
        """The events that count now: those after the last restart or session start (whose
        carried-over slots follow it), without reverted user turns and actions."""
        applied: list[Event] = []
        for event in self.events:
            kind = event.get("event")
            if kind in ("restart", "session_started"):
                applied = []
            elif kind == "rewind":
                # The reverted message and the listen before it, as Rasa reverts a turn.
                _drop_back_to(applied, "user")
                _drop_back_to(applied, "action")
            elif kind == "undo":
                _drop_back_to(applied, "action")
            else:
                applied.append(event)
        return applied

    def since_last_user(self) -> Iterator[Event]:
        """The applied events after the latest user message (all of them if there is none)."""
        applied = self.applied_events()
        start = 0
        for i, event in enumerate(applied):
            if event.get("event") == "user":
                start = i + 1
        yield from applied[start:]

    def user_turns(self) -> int:
        return sum(1 for e in self.applied_events() if e.get("event") == "user")

    def as_rasa(self, *, domain_slots: Iterable[str] = ()) -> TrackerState:
        """The tracker in the shape rasa_sdk actions receive (``TrackerState``)."""
        state = self.state
        slots = {name: None for name in domain_slots}
        slots.update(state.slots)
        loop: dict[str, Any] = dict(state.active_loop) if state.active_loop else {}
        return {
            "sender_id": self.sender_id,
            "slots": slots,
            "latest_message": dict(state.latest_message),
            "events": [dict(e) for e in self.events],
            "paused": state.paused,
            "followup_action": state.followup_action,
            "active_loop": loop,
            "active_form": loop,
            "latest_action_name": state.latest_action_name,
            "stack": [],
            "user_id": None,
        }


_REBUILDS = frozenset({"restart", "session_started", "rewind", "undo"})


def _drop_back_to(applied: list[Event], kind: str) -> None:
    while applied:
        if applied.pop().get("event") == kind:
            return


def _apply(state: DialogueState, event: Event, initial_slots: Mapping[str, Any]) -> None:
    kind = event.get("event")
    stamp = event.get("timestamp")
    if isinstance(stamp, int | float):
        state.latest_event_time = float(stamp)
    if kind == "user":
        parse = dict(event.get("parse_data") or {})
        parse.setdefault("text", event.get("text"))
        if event.get("message_id") is not None:
            parse.setdefault("message_id", event.get("message_id"))
        parse.setdefault("metadata", event.get("metadata") or {})
        state.latest_message = parse
        state.followup_action = None
        if state.active_loop is not None:
            # A new message is a new chance for the form: its last rejection is spent.
            state.active_loop["rejected"] = False
    elif kind == "action":
        name = event.get("name")
        state.latest_action_name = str(name) if name else None
        state.followup_action = None
        if state.active_loop is not None and name == state.active_loop.get("name"):
            # The loop ran: a rejection or interruption belongs to its previous run.
            state.active_loop["rejected"] = False
            state.active_loop["is_interrupted"] = False
    elif kind == "slot":
        state.slots[str(event.get("name"))] = event.get("value")
    elif kind == "active_loop":
        name = event.get("name")
        if name:
            state.active_loop = {
                "name": str(name),
                "validate": True,
                "rejected": False,
                "is_interrupted": False,
                "trigger_message": dict(state.latest_message),
            }
        else:
            state.active_loop = None
    elif kind == "action_execution_rejected":
        if state.active_loop is not None and event.get("name") == state.active_loop.get("name"):
            state.active_loop["rejected"] = True
    elif kind == "loop_interrupted":
        if state.active_loop is not None:
            state.active_loop["is_interrupted"] = bool(event.get("is_interrupted"))
            state.active_loop["validate"] = not bool(event.get("is_interrupted"))
    elif kind == "followup":
        name = event.get("name")
        state.followup_action = str(name) if name else None
    elif kind == "pause":
        state.paused = True
    elif kind == "resume":
        state.paused = False
    elif kind == "reset_slots":
        state.slots = dict(initial_slots)
