"""The dialogue policy: what the bot says to one understood message, and why.

Routes, in order of preference:

``action``     the intent is mapped to a custom action (after asking for its required slots)
``template``   a confident intent with a response template
``retrieval``  the nearest historical answer, when it is similar enough
``fallback``   "I did not understand", offering a person
``handoff``    a person takes over (asked for, repeated fallbacks, or a failing action)
``ask_slot``   the bot asks for a slot a form needs

A failure of an action or of the index degrades to the next route; it never loses the turn.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.chat.actions import ActionError, ActionRunner, action_call
from bot.chat.nlu import ParseResult
from bot.core.messages import BotMessage, Reply
from retrieval.base.domain import Domain
from retrieval.index import Hit
from retrieval.models.classifier import FALLBACK_INTENT
from retrieval.templates import ResponseTemplates, fill_text

log = logging.getLogger(__name__)

HANDOFF_INTENT = "human_handoff"
REQUESTED_SLOT = "requested_slot"
PENDING_ACTION = "pending_action"
MAX_FOLLOWUPS = 5

DEFAULT_FALLBACK = "Sorry, I didn't quite get that. Could you rephrase it, or shall I get a person?"
DEFAULT_HANDOFF = "I'm connecting you with a member of our team. They'll reply here shortly."


class Retriever(Protocol):
    async def search(self, text: str, k: int = 5) -> list[Hit]: ...


@dataclass(frozen=True, slots=True)
class DialogueSettings:
    retrieval_threshold: float = 0.55
    # A near-verbatim match of a historical question beats a lukewarm intent.
    retrieval_strong_threshold: float = 0.85
    intent_confident: float = 0.8
    fallbacks_before_handoff: int = 2


class Dialogue:
    def __init__(
        self,
        domain: Domain,
        templates: ResponseTemplates,
        *,
        retriever: Retriever | None = None,
        actions: ActionRunner | None = None,
        settings: DialogueSettings | None = None,
    ) -> None:
        self.domain = domain
        self.templates = templates
        self.retriever = retriever
        self.actions = actions
        self.settings = settings or DialogueSettings()

    async def respond(
        self,
        sender_id: str,
        parse: ParseResult | None,
        slots: Mapping[str, Any],
        recent_routes: Callable[[], Awaitable[Sequence[str]]] | None = None,
        text: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> Reply:
        """Decide and produce the reply. ``parse`` is None when the models failed.

        ``metadata`` is the channel's message metadata; custom actions read it as Rasa's do,
        from ``tracker.latest_message["metadata"]``.
        """
        slots = dict(slots)
        metadata = dict(metadata or {})
        if parse is None:
            # Without the classifier, the index may still know the answer; else a person.
            found = await self._retrieve(text, slots)
            return found or self.handoff(slots, "bot_error")
        self._fill_from_entities(parse, slots)
        intent = parse.intent.label

        if intent == HANDOFF_INTENT:
            return self.handoff(slots, "asked_for_human")

        requested = slots.get(REQUESTED_SLOT)
        pending = slots.get(PENDING_ACTION)
        if requested and pending:
            if slots.get(requested):
                slots.pop(REQUESTED_SLOT, None)
                slots.pop(PENDING_ACTION, None)
                return await self._run_action(str(pending), sender_id, parse, slots, metadata)
            if intent == FALLBACK_INTENT or intent == self._intent_for_action(str(pending)):
                return self._ask(str(requested), str(pending), slots)
            # The customer moved on: drop the form and treat the message on its own.
            slots.pop(REQUESTED_SLOT, None)
            slots.pop(PENDING_ACTION, None)

        if intent != FALLBACK_INTENT:
            action = self.domain.intent_actions.get(intent)
            if action and self.actions is not None and self.actions.known(action):
                missing = self.domain.missing_slots(action, slots)
                if missing:
                    return self._ask(missing[0], action, slots)
                return await self._run_action(action, sender_id, parse, slots, metadata)
            if parse.intent.confidence < self.settings.intent_confident:
                strong = await self._retrieve(
                    parse.text, slots, self.settings.retrieval_strong_threshold
                )
                if strong is not None:
                    return strong
            rendered = self._template(intent, slots)
            if rendered is not None:
                return Reply((rendered,), "template", f"template:{intent}", slots=slots)

        found = await self._retrieve(parse.text, slots)
        if found is not None:
            return found
        return self._fallback(slots, await recent_routes() if recent_routes else ())

    def _fill_from_entities(self, parse: ParseResult, slots: dict[str, Any]) -> None:
        by_entity = {spec.entity: name for name, spec in self.domain.slots.items()}
        for entity in parse.entities:
            name = by_entity.get(entity["entity"])
            if name is not None:
                slots[name] = entity["value"]

    # Routes ----------------------------------------------------------------------------

    def _template(self, key: str, slots: Mapping[str, Any]) -> BotMessage | None:
        rendered = self.templates.render(key, slots)
        if rendered is None:
            return None
        return BotMessage.from_rasa(rendered.to_message())

    def _ask(self, slot: str, action: str, slots: dict[str, Any]) -> Reply:
        slots[REQUESTED_SLOT] = slot
        slots[PENDING_ACTION] = action
        spec = self.domain.slots.get(slot)
        prompt = spec.prompt if spec else f"Could you tell me your {slot.replace('_', ' ')}?"
        return Reply((BotMessage(prompt),), "ask_slot", f"slot:{slot}", slots=slots)

    def handoff(self, slots: Mapping[str, Any], reason: str) -> Reply:
        """Hand the conversation to a person, saying so."""
        slots = dict(slots)
        message = self._template("handoff", slots) or BotMessage(DEFAULT_HANDOFF)
        return Reply(
            (message,), "handoff", f"handoff:{reason}", slots=slots, escalation_reason=reason
        )

    def _fallback(self, slots: dict[str, Any], recent_routes: Sequence[str]) -> Reply:
        # Rasa's two-stage idea: one "please rephrase", then a person rather than a loop.
        limit = self.settings.fallbacks_before_handoff
        streak = 0
        for route in reversed(recent_routes):
            if route != "fallback":
                break
            streak += 1
        if limit and streak + 1 >= limit:
            return self.handoff(slots, "low_confidence")
        message = self._template(FALLBACK_INTENT, slots) or BotMessage(DEFAULT_FALLBACK)
        return Reply((message,), "fallback", None, slots=slots)

    async def _retrieve(
        self, text: str, slots: dict[str, Any], threshold: float | None = None
    ) -> Reply | None:
        if self.retriever is None or not text:
            return None
        threshold = self.settings.retrieval_threshold if threshold is None else threshold
        try:
            hits = await self.retriever.search(text, k=5)
        except Exception:
            log.exception("answer index search failed; falling back")
            return None
        for hit in hits:
            if hit.score < threshold:
                break
            answer = fill_text(hit.answer, slots)
            if answer:
                return Reply(
                    (BotMessage(answer),),
                    "retrieval",
                    f"qa:{hit.id}",
                    retrieval_score=hit.score,
                    slots=slots,
                )
        return None

    async def _run_action(
        self,
        action: str,
        sender_id: str,
        parse: ParseResult,
        slots: dict[str, Any],
        metadata: Mapping[str, Any],
    ) -> Reply:
        assert self.actions is not None
        messages: list[BotMessage] = []
        escalate: str | None = None
        name: str | None = action
        ran: list[str] = []
        try:
            while name and len(ran) < MAX_FOLLOWUPS:
                ran.append(name)
                call = action_call(
                    name,
                    sender_id=sender_id,
                    slots=slots,
                    latest_message={**parse.to_rasa(), "metadata": dict(metadata)},
                    domain=self.domain.as_rasa(),
                )
                result = await self.actions.run(call)
                for response in result.responses:
                    message = self._action_message(response, slots)
                    if message is not None:
                        messages.append(message)
                name, escalate = _apply_events(result.events, slots)
        except ActionError as exc:
            log.warning("custom action failed: %s", exc)
            intent = parse.intent.label
            fallback = self._template(intent, slots)
            if fallback is not None and not messages:
                return Reply((fallback,), "template", f"template:{intent}", slots=slots)
            return self.handoff(slots, "action_failed")
        if escalate:
            reply = self.handoff(slots, escalate)
            return Reply(
                (*messages, *reply.messages),
                "handoff",
                f"action:{action}",
                slots=slots,
                escalation_reason=escalate,
            )
        if not messages:
            messages.append(self._template("nlu_fallback", slots) or BotMessage(DEFAULT_FALLBACK))
        return Reply(tuple(messages), "action", f"action:{action}", slots=slots)

    def _action_message(
        self, response: Mapping[str, Any], slots: Mapping[str, Any]
    ) -> BotMessage | None:
        # utter_message(response="utter_x") names a template instead of giving text.
        key = response.get("response") or response.get("template")
        if key and not response.get("text"):
            # The exact name first: an imported Rasa project keeps utter_x beside intent x.
            return self._template(str(key), slots) or self._template(
                str(key).removeprefix("utter_"), slots
            )
        message = BotMessage.from_rasa(response)
        if not (message.text or message.buttons or message.image or message.custom):
            return None
        return message

    def _intent_for_action(self, action: str) -> str | None:
        for intent, name in self.domain.intent_actions.items():
            if name == action:
                return intent
        return None


def _apply_events(
    events: Sequence[Mapping[str, Any]], slots: dict[str, Any]
) -> tuple[str | None, str | None]:
    """Apply rasa_sdk events to the slots; return the follow-up action and any hand-off."""
    followup: str | None = None
    escalate: str | None = None
    for event in events:
        kind = event.get("event")
        if kind == "slot":
            name = str(event.get("name"))
            if event.get("value") is None:
                slots.pop(name, None)
            else:
                slots[name] = event.get("value")
        elif kind in ("reset_slots", "restart"):
            slots.clear()
        elif kind == "followup":
            followup = event.get("name")
        elif kind == "pause":
            escalate = "action_requested"
    return followup, escalate
