"""A live conversation written turn by turn, for the policy tests."""

from __future__ import annotations

from typing import Any

from bot.chat.policies.states import State, StateReader
from bot.chat.tracker import ACTION_LISTEN, Event, action_executed, slot_set, user_uttered


class Conversation:
    """Customer turns and the actions the bot took, read into states as the engine reads them."""

    def __init__(self, reader: StateReader) -> None:
        self.reader = reader
        self.events: list[Event] = [action_executed("action_session_start")]

    def user(self, intent: str, *entities: str) -> Conversation:
        if self.events[-1].get("name") != ACTION_LISTEN:
            self.events.append(action_executed(ACTION_LISTEN))
        parse: dict[str, Any] = {
            "intent": {"name": intent, "confidence": 1.0},
            "entities": [{"entity": e, "value": "x"} for e in entities],
        }
        self.events.append(user_uttered(intent, parse, message_id=None, channel="test"))
        return self

    def bot(self, *actions: str, policy: str | None = None) -> Conversation:
        self.events.extend(action_executed(a, policy) for a in actions)
        return self

    def slot(self, name: str, value: Any) -> Conversation:
        self.events.append(slot_set(name, value))
        return self

    def add(self, *events: Event) -> Conversation:
        self.events.extend(events)
        return self

    def states(self) -> list[State]:
        return self.reader.from_events(self.events, {})

    @property
    def user_turns(self) -> int:
        return sum(e["event"] == "user" for e in self.events)
