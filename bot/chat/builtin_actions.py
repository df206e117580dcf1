"""Rasa's default actions (``action_restart``, ``action_default_fallback``, ...), each
returning the events Rasa's would; a project's own action of the same name wins."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.chat.responses import Responder
from bot.chat.tracker import REQUESTED_SLOT, Event, Tracker, active_loop, simple, slot_set
from bot.core.messages import BotMessage

BuiltinAction = Callable[[Tracker, Responder, list[BotMessage]], list[Event]]


def session_start_events(carried: Mapping[str, Any]) -> list[Event]:
    events = [simple("session_started")]
    events.extend(
        slot_set(name, value) for name, value in carried.items() if name != REQUESTED_SLOT
    )
    return events


def _say(key: str, fallback: str | None, tracker: Tracker, responder: Responder) -> list[Event]:
    event = responder.render(key, tracker, {})[1] if responder.has(key) else None
    if event is None and fallback:
        event = responder.text(fallback, key)[1]
    return [event] if event is not None else []


def restart(tracker: Tracker, responder: Responder, said: list[BotMessage]) -> list[Event]:
    return [*_say("utter_restart", None, tracker, responder), simple("restart")]


def session_start(tracker: Tracker, responder: Responder, said: list[BotMessage]) -> list[Event]:
    return session_start_events(dict(tracker.slots))


def default_fallback(tracker: Tracker, responder: Responder, said: list[BotMessage]) -> list[Event]:
    # The project's own words first: Rasa's utter_default, or a response for nlu_fallback.
    key = "utter_default" if responder.has("utter_default") else "nlu_fallback"
    return [*_say(key, responder.default_fallback, tracker, responder), simple("rewind")]


def deactivate_loop(tracker: Tracker, responder: Responder, said: list[BotMessage]) -> list[Event]:
    return [active_loop(None), slot_set(REQUESTED_SLOT, None)]


def back(tracker: Tracker, responder: Responder, said: list[BotMessage]) -> list[Event]:
    return [*_say("utter_back", None, tracker, responder), simple("rewind"), simple("rewind")]


def nothing(tracker: Tracker, responder: Responder, said: list[BotMessage]) -> list[Event]:
    return []


BUILTIN_ACTIONS: dict[str, BuiltinAction] = {
    "action_restart": restart,
    "action_session_start": session_start,
    "action_default_fallback": default_fallback,
    "action_two_stage_fallback": default_fallback,
    "action_default_ask_affirmation": default_fallback,
    "action_default_ask_rephrase": default_fallback,
    "action_deactivate_loop": deactivate_loop,
    "action_back": back,
    "action_unlikely_intent": nothing,
    "action_extract_slots": nothing,
}

# The default intents Rasa answers with these actions, unless a project's rule says otherwise.
DEFAULT_INTENT_ACTIONS = {
    "restart": "action_restart",
    "session_start": "action_session_start",
    "back": "action_back",
}
