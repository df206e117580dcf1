"""One customer message, end to end: store it, understand it, answer it, store the answer.

The order matters and is the product's promise: the customer's words are committed before any
model runs, the reply is committed before it is sent, and the turns of one conversation are
processed one at a time in arrival order. With ``sentiment_events`` on, the message's sentiment
event for the ops monitor is committed with the reply; the listeners hear of the turn after.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.chat.engine import DialogueEngine
from bot.chat.execution import Outcome
from bot.chat.handoff import HandoffPolicy
from bot.chat.locks import ConversationLocks
from bot.chat.nlu import ParseResult
from bot.chat.pii import mask_entities, mask_pii, mask_strings
from bot.chat.tracker import REQUESTED_SLOT, Tracker, user_uttered
from bot.core.messages import BotMessage, Reply
from bot.storage import Conversation, Store, Turn, Understanding
from bot.storage.ops_store import SentimentEvent, epoch

log = logging.getLogger(__name__)

ID_CACHE_SIZE = 50_000


class Parser(Protocol):
    async def parse(self, text: str, *, expecting: str | None = None) -> ParseResult: ...


class SubjectReading(Protocol):
    """Which subject topic a message of a general topic is about (bot/ops/topics.py)."""

    async def subject(self, text: str) -> str | None: ...


# The longest a message's reply waits for its subject to be read; after that it keeps its
# intent's topic. The topic is for the ops dashboard and must not hold up an answer.
SUBJECT_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class Handled:
    conversation_id: str
    user_turn_id: int
    messages: tuple[BotMessage, ...]
    route: str
    duplicate: bool = False
    parse: ParseResult | None = None


TurnListener = Callable[[str, Turn, ParseResult | None, Reply | None], Awaitable[None]]


class ConversationProcessor:
    def __init__(
        self,
        store: Store,
        parser: Parser,
        engine: DialogueEngine,
        *,
        mask_pii_in_storage: bool = False,
        listeners: tuple[TurnListener, ...] = (),
        handoff: HandoffPolicy | None = None,
        locks: ConversationLocks | None = None,
        staff_online: Callable[[], bool] | None = None,
        sentiment_events: bool = False,
        subjects: SubjectReading | None = None,
    ) -> None:
        self.store = store
        self.parser = parser
        self.engine = engine
        self.mask_pii_in_storage = mask_pii_in_storage
        self.listeners = listeners
        self.handoff = handoff or HandoffPolicy()
        # Whether anyone is in the staff console; None when there is no console (the CLI).
        self.staff_online = staff_online
        # Store each answered message's sentiment event with its reply (the ops monitor's).
        self.sentiment_events = sentiment_events
        # Files messages of a general topic ("complaint") under their subject ("shipping").
        self.subjects = subjects
        self._locks = locks or ConversationLocks()
        # Messages inside handle() that have not reached the models yet (see upcoming()).
        self._before_parse = 0
        self._ids: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def _conversation_id(self, channel: str, sender_id: str) -> str:
        # Ids never change, so remembering them saves a query on every message.
        key = (channel, sender_id)
        cached = self._ids.get(key)
        if cached is not None:
            self._ids.move_to_end(key)
            return cached
        conversation = await self.store.conversation_for(channel, sender_id)
        self._ids[key] = conversation.id
        if len(self._ids) > ID_CACHE_SIZE:
            self._ids.popitem(last=False)
        return conversation.id

    async def handle(
        self,
        channel: str,
        sender_id: str,
        text: str,
        *,
        message_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Handled:
        self._before_parse += 1
        pending = [True]

        def reached_models() -> None:
            if pending:
                pending.clear()
                self._before_parse -= 1

        try:
            return await self._handle(
                channel, sender_id, text, message_id, metadata, reached_models
            )
        finally:
            reached_models()

    def upcoming(self) -> int:
        """How many messages are being handled but have not been given to the models yet:
        the micro-batchers wait for these and no others."""
        return self._before_parse

    async def _handle(
        self,
        channel: str,
        sender_id: str,
        text: str,
        message_id: str | None,
        metadata: Mapping[str, Any] | None,
        reached_models: Callable[[], None],
    ) -> Handled:
        conversation_id = await self._conversation_id(channel, sender_id)
        async with self._locks.hold(conversation_id):
            stored_text = mask_pii(text) if self.mask_pii_in_storage else text
            turn, new, conversation = await self.store.take_message(
                conversation_id, stored_text, message_id=message_id
            )
            if not new:
                if turn.text != stored_text:
                    # The id was used for another message: its reply is not this one's answer.
                    # The REST channel answers 409 on this route; nothing is stored or sent.
                    return Handled(
                        conversation_id, turn.id, (), "message_id_conflict", duplicate=True
                    )
                replies = await self.store.replies_to(turn.id)
                if replies or turn.route is not None:
                    return Handled(
                        conversation_id,
                        turn.id,
                        tuple(BotMessage.from_stored(r.text, r.payload) for r in replies),
                        turn.route or "duplicate",
                        duplicate=True,
                    )
                # The first attempt stored the message but died before answering: answer now.
            return await self._answer(
                conversation, channel, sender_id, text, turn, metadata or {}, reached_models
            )

    async def _answer(
        self,
        conversation: Conversation,
        channel: str,
        sender_id: str,
        text: str,
        turn: Turn,
        metadata: Mapping[str, Any],
        reached_models: Callable[[], None],
    ) -> Handled:
        conversation_id = conversation.id
        parse: ParseResult | None
        reached_models()
        tracker = Tracker(
            sender_id,
            await self.store.events(conversation_id),
            initial_slots=self.engine.domain.initial_slots(),
        )
        try:
            parse = await self.parser.parse(text, expecting=tracker.slots.get(REQUESTED_SLOT))
        except Exception:
            log.exception("understanding the message failed; answering without the models")
            parse = None
        understanding = self._understanding(parse, text)
        sentiment = self._sentiment_event(conversation, turn, parse)
        if sentiment is not None:
            sentiment = await self._with_subject(sentiment, text)
        user_event = user_uttered(
            text,
            {**(parse.to_rasa() if parse else {"text": text}), "metadata": dict(metadata)},
            message_id=message_id_of(turn),
            channel=channel,
        )

        if conversation.status == "handoff":
            # A person owns the conversation: the bot stays quiet, unless nobody is there.
            waiting = Outcome(events=[user_event])
            if not self._staff_there() and not await self._told_offline(conversation_id):
                self.engine.act.tell_staff_offline(tracker, waiting)
            await self.store.record_reply(
                conversation_id,
                turn.id,
                self._stored_messages(waiting.messages),
                route="human",
                understanding=understanding,
                events=self._stored_events(text, waiting.events),
                sentiment=sentiment,
            )
            await self._notify(conversation_id, turn, parse, None)
            return Handled(conversation_id, turn.id, tuple(waiting.messages), "human", parse=parse)

        # The tracker holds everything the hand-off policy reads: no extra trip to the store.
        reason = self.handoff.before_answer(parse, tracker)
        if reason is not None:
            outcome = Outcome()
            self.engine.escalate(tracker, outcome, user_event, reason)
        else:
            outcome = await self.engine.handle(
                tracker,
                user_event,
                parse,
                metadata=metadata,
                recent_misunderstandings=self.handoff.misunderstood_in_a_row(tracker),
            )
        if outcome.escalation_reason and not self._staff_there():
            self.engine.act.tell_staff_offline(tracker, outcome)
        reply = Reply(
            tuple(outcome.messages),
            outcome.route,
            outcome.answer_source,
            retrieval_score=outcome.retrieval_score,
            slots={k: v for k, v in tracker.slots.items() if v is not None},
            escalation_reason=outcome.escalation_reason,
        )
        await self.store.record_reply(
            conversation_id,
            turn.id,
            self._stored_messages(reply.messages),
            route=reply.route,
            answer_source=reply.answer_source,
            retrieval_score=reply.retrieval_score,
            slots=reply.slots,
            escalation_reason=reply.escalation_reason,
            understanding=understanding,
            events=self._stored_events(text, outcome.events),
            sentiment=sentiment,
        )
        await self._notify(conversation_id, turn, parse, reply)
        return Handled(conversation_id, turn.id, reply.messages, reply.route, parse=parse)

    async def _told_offline(self, conversation_id: str) -> bool:
        """Whether the customer was already told nobody is there, since anyone last spoke."""
        for turn in reversed(await self.store.turns(conversation_id, limit=6)):
            if turn.role in ("bot", "agent"):
                return turn.role == "bot" and turn.route in ("human", "handoff")
        return False

    def _staff_there(self) -> bool:
        return self.staff_online is None or self.staff_online()

    def _understanding(self, parse: ParseResult | None, text: str) -> Understanding | None:
        if parse is None:
            return None
        entities = parse.entities
        if self.mask_pii_in_storage:
            entities = mask_entities(text, entities)
        return Understanding(
            intent=parse.intent.label,
            confidence=parse.intent.confidence,
            sentiment=parse.sentiment.label if parse.sentiment else None,
            sentiment_score=parse.sentiment.confidence if parse.sentiment else None,
            entities=entities or None,
        )

    def _stored_events(
        self, text: str, events: Sequence[Mapping[str, Any]]
    ) -> Sequence[Mapping[str, Any]]:
        """The tracker events as stored: the customer's words masked like the turn's text,
        and the bot's too (a template may echo an address: "the link goes to {email}").

        Slot events are kept as they are: a form that collected an address reads it back on
        the next turn, from the stored tracker.
        """
        if not self.mask_pii_in_storage:
            return events
        stored: list[Mapping[str, Any]] = []
        for event in events:
            if event.get("event") == "user":
                event = _masked_user_event(text, event)
            elif event.get("event") == "bot" and isinstance(event.get("text"), str):
                event = {**event, "text": mask_pii(event["text"])}
            stored.append(event)
        return stored

    def _stored_messages(self, messages: Sequence[BotMessage]) -> tuple[BotMessage, ...]:
        """The bot's messages as stored; the customer is sent them as they are."""
        if not self.mask_pii_in_storage:
            return tuple(messages)
        return tuple(dataclasses.replace(m, text=mask_pii(m.text)) for m in messages)

    def _sentiment_event(
        self, conversation: Conversation, turn: Turn, parse: ParseResult | None
    ) -> SentimentEvent | None:
        if not self.sentiment_events or parse is None or parse.sentiment is None:
            return None
        intent = parse.intent.label
        return SentimentEvent(
            turn_id=turn.id,
            conversation_id=conversation.id,
            channel=conversation.channel,
            intent=intent,
            topic=self.engine.domain.category(intent),
            sentiment=parse.sentiment.label,
            score=parse.sentiment.confidence,
            ts=epoch(turn.created_at),
        )

    async def _with_subject(self, event: SentimentEvent, text: str) -> SentimentEvent:
        """``event`` filed under the subject of ``text`` where its topic is a general one."""
        if self.subjects is None or event.topic not in self.engine.domain.general_topics:
            return event
        try:
            subject = await asyncio.wait_for(self.subjects.subject(text), SUBJECT_TIMEOUT_S)
        except Exception:
            log.warning("reading the subject of a message failed; it keeps its intent's topic")
            return event
        return event if subject is None else dataclasses.replace(event, topic=subject)

    async def _notify(
        self, conversation_id: str, turn: Turn, parse: ParseResult | None, reply: Reply | None
    ) -> None:
        for listener in self.listeners:
            try:
                await listener(conversation_id, turn, parse, reply)
            except Exception:
                # Monitoring and live updates must never cost the customer an answer.
                log.exception("turn listener %r failed", listener)


def message_id_of(turn: Turn) -> str | None:
    return turn.message_id


def _masked_user_event(text: str, event: Mapping[str, Any]) -> dict[str, Any]:
    parse_data = dict(event.get("parse_data") or {})
    entities = parse_data.pop("entities", None)
    masked = mask_strings(parse_data)
    if entities is not None:
        masked["entities"] = mask_entities(text, entities)
    return {
        **event,
        "text": mask_pii(str(event.get("text") or "")),
        "parse_data": masked,
        "metadata": mask_strings(event.get("metadata") or {}),
    }
