"""One customer message, end to end: store it, understand it, answer it, store the answer.

The order matters and is the product's promise: the customer's words are committed before any
model runs, the reply is committed before it is sent, and the turns of one conversation are
processed one at a time in arrival order.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.chat.dialogue import REQUESTED_SLOT, Dialogue
from bot.chat.locks import ConversationLocks
from bot.chat.nlu import ParseResult
from bot.chat.pii import mask_pii
from bot.core.messages import BotMessage, Reply
from bot.storage import Conversation, Store, Turn, Understanding

log = logging.getLogger(__name__)

HISTORY_FOR_POLICY = 10
ID_CACHE_SIZE = 50_000


class Parser(Protocol):
    async def parse(self, text: str, *, expecting: str | None = None) -> ParseResult: ...


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
        dialogue: Dialogue,
        *,
        mask_pii_in_storage: bool = False,
        listeners: tuple[TurnListener, ...] = (),
        negative_handoff: tuple[int, float] = (0, 1.0),
        locks: ConversationLocks | None = None,
    ) -> None:
        self.store = store
        self.parser = parser
        self.dialogue = dialogue
        self.mask_pii_in_storage = mask_pii_in_storage
        self.listeners = listeners
        self.negative_handoff = negative_handoff
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
        arrival = _Arrival(self)
        try:
            return await self._handle(channel, sender_id, text, message_id, metadata, arrival)
        finally:
            arrival.reached_models()

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
        arrival: _Arrival,
    ) -> Handled:
        conversation_id = await self._conversation_id(channel, sender_id)
        async with self._locks.hold(conversation_id):
            stored_text = mask_pii(text) if self.mask_pii_in_storage else text
            turn, new, conversation = await self.store.take_message(
                conversation_id, stored_text, message_id=message_id
            )
            if not new:
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
            return await self._answer(conversation, sender_id, text, turn, metadata or {}, arrival)

    async def _answer(
        self,
        conversation: Conversation,
        sender_id: str,
        text: str,
        turn: Turn,
        metadata: Mapping[str, Any],
        arrival: _Arrival,
    ) -> Handled:
        conversation_id = conversation.id
        parse: ParseResult | None
        arrival.reached_models()
        try:
            parse = await self.parser.parse(text, expecting=conversation.slots.get(REQUESTED_SLOT))
        except Exception:
            log.exception("understanding the message failed; answering without the models")
            parse = None
        understanding = self._understanding(parse)

        if conversation.status == "handoff":
            # A person owns the conversation: the bot listens but stays quiet.
            await self.store.record_reply(
                conversation_id, turn.id, (), route="human", understanding=understanding
            )
            await self._notify(conversation_id, turn, parse, None)
            return Handled(conversation_id, turn.id, (), "human", parse=parse)

        async def recent_routes() -> list[str]:
            history = await self.store.turns(conversation_id, limit=HISTORY_FOR_POLICY)
            return [t.route for t in history if t.role == "bot" and t.route]

        if await self._stays_negative(conversation_id, parse):
            reply = self.dialogue.handoff(conversation.slots, "negative_sentiment")
        else:
            reply = await self.dialogue.respond(
                sender_id, parse, conversation.slots, recent_routes, text=text, metadata=metadata
            )
        await self.store.record_reply(
            conversation_id,
            turn.id,
            reply.messages,
            route=reply.route,
            answer_source=reply.answer_source,
            retrieval_score=reply.retrieval_score,
            slots=reply.slots,
            escalation_reason=reply.escalation_reason,
            understanding=understanding,
        )
        await self._notify(conversation_id, turn, parse, reply)
        return Handled(conversation_id, turn.id, reply.messages, reply.route, parse=parse)

    async def _stays_negative(self, conversation_id: str, parse: ParseResult | None) -> bool:
        """Whether this and the previous turns were all strongly negative."""
        turns, score = self.negative_handoff
        sentiment = parse.sentiment if parse else None
        if not turns or sentiment is None:
            return False
        if sentiment.label != "negative" or sentiment.confidence < score:
            return False
        if turns == 1:
            return True
        history = await self.store.turns(conversation_id, limit=2 * turns + 2)
        # The current turn is stored but not yet annotated: look at the ones before it.
        earlier = [t for t in history if t.role == "user" and t.sentiment is not None][
            -(turns - 1) :
        ]
        return len(earlier) == turns - 1 and all(
            t.sentiment == "negative" and (t.sentiment_score or 0) >= score for t in earlier
        )

    def _understanding(self, parse: ParseResult | None) -> Understanding | None:
        if parse is None:
            return None
        entities = parse.entities
        if self.mask_pii_in_storage:
            entities = [_masked(e) for e in entities]
        return Understanding(
            intent=parse.intent.label,
            confidence=parse.intent.confidence,
            sentiment=parse.sentiment.label if parse.sentiment else None,
            sentiment_score=parse.sentiment.confidence if parse.sentiment else None,
            entities=entities or None,
        )

    async def _notify(
        self, conversation_id: str, turn: Turn, parse: ParseResult | None, reply: Reply | None
    ) -> None:
        for listener in self.listeners:
            try:
                await listener(conversation_id, turn, parse, reply)
            except Exception:
                # Monitoring and live updates must never cost the customer an answer.
                log.exception("turn listener %r failed", listener)


class _Arrival:
    """Counts one message in ``ConversationProcessor.upcoming`` until it reaches the models
    (or leaves without needing them: a duplicate, an error)."""

    def __init__(self, processor: ConversationProcessor) -> None:
        self._processor = processor
        self._pending = True
        processor._before_parse += 1

    def reached_models(self) -> None:
        if self._pending:
            self._pending = False
            self._processor._before_parse -= 1


def _masked(entity: Mapping[str, Any]) -> dict[str, Any]:
    value = entity.get("value")
    return {**entity, "value": mask_pii(value) if isinstance(value, str) else value}
