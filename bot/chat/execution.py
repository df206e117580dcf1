"""Running what the dialogue decided: responses, custom actions and hand-offs, each
recorded on the tracker as the event Rasa would record, and collected into an
:class:`Outcome` for the channel and the store."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from rasa_sdk.types import ActionCall, DomainDict

from bot.chat.actions import ActionError, ActionRunner
from bot.chat.responses import Responder
from bot.chat.tracker import Event, Tracker
from bot.core.messages import BotMessage
from retrieval.base.domain import Domain

log = logging.getLogger(__name__)

STAFF_OFFLINE = "utter_staff_offline"
DEFAULT_STAFF_OFFLINE = (
    "Our team isn't online right now. Your messages are saved, and a person will reply here "
    "as soon as someone is back."
)

Route = Literal[
    "action",
    "template",
    "retrieval",
    "fallback",
    "handoff",
    "ask_slot",
    "rule",
    "story",
    "form",
    "human",
    "none",
]


@dataclass
class Outcome:
    """What one customer message led to."""

    events: list[Event] = field(default_factory=list)
    messages: list[BotMessage] = field(default_factory=list)
    route: Route = "none"
    answer_source: str | None = None
    retrieval_score: float | None = None
    escalation_reason: str | None = None
    actions: list[str] = field(default_factory=list)


class ActionExecution:
    """Says things and runs actions for the engine, keeping tracker and outcome in step."""

    def __init__(self, domain: Domain, responder: Responder, actions: ActionRunner | None) -> None:
        self.domain = domain
        self.responder = responder
        self.actions = actions

    def known(self, name: str) -> bool:
        return self.actions is not None and self.actions.known(name)

    def utter(
        self, key: str, tracker: Tracker, outcome: Outcome, values: Mapping[str, Any]
    ) -> bool:
        message, event = self.responder.render(key, tracker, values)
        if message is None or event is None:
            return False
        outcome.messages.append(message)
        self.add(tracker, outcome, event)
        return True

    async def custom(
        self,
        name: str,
        tracker: Tracker,
        outcome: Outcome,
        metadata: Mapping[str, Any],
        extra_events: Sequence[Event] = (),
    ) -> list[Event] | None:
        """Run a custom action; None when it failed (the failure is handled here)."""
        if self.actions is None or not self.actions.known(name):
            log.warning("action %s is not defined; skipping it", name)
            return None
        call = self.call(name, tracker, extra_events)
        try:
            result = await self.actions.run(call)
        except ActionError as exc:
            log.warning("custom action failed: %s", exc)
            if not outcome.messages:
                self.handoff(tracker, outcome, "action_failed")
            return None
        for response in result.responses:
            message, event = self.responder.from_action(response, tracker)
            if message is not None and event is not None:
                outcome.messages.append(message)
                self.add(tracker, outcome, event)
        events = [dict(e) for e in result.events if isinstance(e, Mapping) and e.get("event")]
        for event in events:
            event.setdefault("timestamp", None)
            if event.get("event") == "pause":
                outcome.escalation_reason = "action_requested"
            self.add(tracker, outcome, event)
        if outcome.escalation_reason:
            self.handoff(tracker, outcome, outcome.escalation_reason)
        return events

    def call(self, name: str, tracker: Tracker, extra: Sequence[Event]) -> ActionCall:
        """Rasa's action-server request body for ``name`` (rasa_sdk's ``ActionCall``);
        ``extra`` events ride at the end, as slot candidates do for ``validate_<form>``."""
        state = tracker.as_rasa(domain_slots=self.domain.slots)
        state["events"].extend(dict(e) for e in extra)
        for event in extra:
            if event.get("event") == "slot":
                state["slots"][str(event["name"])] = event.get("value")
        return {
            "next_action": name,
            "sender_id": tracker.sender_id,
            "tracker": state,
            "domain": cast(DomainDict, self.domain.as_rasa()),
            "version": "3.6.0",
        }

    def handoff(self, tracker: Tracker, outcome: Outcome, reason: str) -> None:
        """A person takes over: said with the project's own words where it has them."""
        for key in ("utter_human_handoff", "utter_handoff", "handoff"):
            if self.responder.has(key) and self.utter(key, tracker, outcome, {}):
                break
        else:
            self.say(self.responder.default_handoff, tracker, outcome, None)
        outcome.route = "handoff"
        outcome.answer_source = f"handoff:{reason}"
        outcome.escalation_reason = reason

    def tell_staff_offline(self, tracker: Tracker, outcome: Outcome) -> None:
        """After a hand-off with nobody in the console: say so, never leave silence."""
        if not (
            self.responder.has(STAFF_OFFLINE) and self.utter(STAFF_OFFLINE, tracker, outcome, {})
        ):
            self.say(DEFAULT_STAFF_OFFLINE, tracker, outcome, STAFF_OFFLINE)

    def say(self, text: str, tracker: Tracker, outcome: Outcome, utter: str | None) -> None:
        message, event = self.responder.text(text, utter)
        outcome.messages.append(message)
        self.add(tracker, outcome, event)

    def add(self, tracker: Tracker, outcome: Outcome, event: Event) -> None:
        tracker.add(event)
        outcome.events.append(event)
