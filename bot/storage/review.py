"""The review queue: customer messages the bot misunderstood, and what staff decided.

A customer turn is in the queue while nobody has labelled or corrected it and at least one
of these holds:

- ``fallback``: the bot fell back (no intent above the threshold, nothing in the index);
- ``handoff``: the message was handed to a person because the bot kept misunderstanding;
- ``rated_badly``: the customer rated the conversation's hand-off at or below a score;
- ``low_confidence``: the intent model's confidence was below a threshold.

Staff decide with :meth:`ReviewStore.label`: an intent or ``out_of_scope`` (written to the
corrections too, which ``frontdesk feedback export`` and ``frontdesk retrain`` read), an
answer from the index, or ``dismissed`` (the bot was right). Works on the conversation
store's engine, like the other staff stores; each decision records its audit event in its
transaction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from bot.storage.audit import Actor, record
from bot.storage.records import Turn
from bot.storage.rows import aware
from bot.storage.schema import escalations, review_labels, turns
from bot.storage.staff_schema import corrections, ratings
from bot.storage.store import utcnow
from retrieval.base.labels import FALLBACK_INTENT

OUT_OF_SCOPE = "out_of_scope"
KINDS = ("intent", OUT_OF_SCOPE, "answer", "dismissed")
REASONS = ("handoff", "fallback", "rated_badly", "low_confidence")
# Enough for a day of a busy shop's misunderstood messages; older ones wait for the next page.
DEFAULT_LIMIT = 500


@dataclass(frozen=True, slots=True)
class QueueCriteria:
    """What counts as misunderstood (the ``[learning]`` settings the queue reads)."""

    low_confidence: float = 0.5
    bad_rating: int = 2
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A misunderstood customer message, with the bot's decision about it."""

    turn_id: int
    conversation_id: str
    text: str
    created_at: datetime
    intent: str | None
    confidence: float | None
    route: str | None
    answer_source: str | None
    reason: str
    reply: str | None


@dataclass(frozen=True, slots=True)
class ReviewLabel:
    id: int
    turn_id: int
    kind: str
    intent: str | None
    qa_id: str | None
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    misunderstood: int
    reviewed: int


class ReviewStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def queue(
        self, criteria: QueueCriteria, *, limit: int = DEFAULT_LIMIT
    ) -> list[ReviewItem]:
        """Unreviewed misunderstood messages, newest first, each with the bot's first reply."""
        flags = _flags(criteria)
        query = (
            select(turns, *flags.values())
            .where(_misunderstood(criteria, flags), _unreviewed())
            .order_by(turns.c.id.desc())
            .limit(limit)
        )
        replies = turns.alias("replies")
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(query))
            first_reply: dict[int, str] = {}
            ids = [row.id for row in rows]
            if ids:
                found = await conn.execute(
                    select(replies.c.reply_to, replies.c.text)
                    .where(replies.c.reply_to.in_(ids), replies.c.role == "bot")
                    .order_by(replies.c.id)
                )
                for reply_to, text in found:
                    first_reply.setdefault(reply_to, text)
        return [_item(row, criteria, first_reply.get(row.id)) for row in rows]

    async def queue_length(self, criteria: QueueCriteria) -> int:
        flags = _flags(criteria)
        query = (
            select(func.count())
            .select_from(turns)
            .where(_misunderstood(criteria, flags), _unreviewed())
        )
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def counts_per_day(self, criteria: QueueCriteria, days: int) -> list[DayCount]:
        """Misunderstood messages per day (UTC) over the last ``days`` days, and how many of
        them staff have reviewed; oldest day first, days without any included."""
        today = utcnow().date()
        first = today - timedelta(days=days - 1)
        start = datetime(first.year, first.month, first.day, tzinfo=utcnow().tzinfo)
        flags = _flags(criteria)
        reviewed = or_(
            exists().where(review_labels.c.turn_id == turns.c.id),
            exists().where(corrections.c.turn_id == turns.c.id),
        )
        query = select(turns.c.created_at, reviewed.label("reviewed")).where(
            _misunderstood(criteria, flags, since=start)
        )
        seen: Counter[date] = Counter()
        done: Counter[date] = Counter()
        # Grouped here rather than in SQL: date arithmetic differs between SQLite and
        # PostgreSQL, and a day's misunderstood messages are few enough to read.
        async with self.engine.connect() as conn:
            for created_at, was_reviewed in await conn.execute(query):
                day = aware(created_at).date()
                seen[day] += 1
                done[day] += int(bool(was_reviewed))
        return [
            DayCount(day, seen[day], done[day])
            for day in (first + timedelta(days=n) for n in range(days))
        ]

    async def label(
        self,
        turn: Turn,
        kind: str,
        author: str,
        *,
        intent: str | None = None,
        qa_id: str | None = None,
        by: Actor | None = None,
    ) -> ReviewLabel:
        """Record staff's decision about ``turn`` (replacing an earlier one). An intent or
        out_of_scope is also stored as the turn's correction, for the training exports."""
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "intent" and not intent:
            raise ValueError("intent: a label of kind 'intent' needs the intent")
        if kind == "answer" and not qa_id:
            raise ValueError("qa_id: a label of kind 'answer' needs the answer's id")
        if turn.role != "user":
            raise ValueError("only a customer's turn can be reviewed")
        label_intent = {OUT_OF_SCOPE: OUT_OF_SCOPE, "intent": intent}.get(kind)
        now = utcnow()
        actor = by or Actor(author)
        async with self.engine.begin() as conn:
            await conn.execute(delete(review_labels).where(review_labels.c.turn_id == turn.id))
            await conn.execute(delete(corrections).where(corrections.c.turn_id == turn.id))
            row = (
                await conn.execute(
                    insert(review_labels)
                    .values(
                        turn_id=turn.id,
                        kind=kind,
                        intent=label_intent,
                        qa_id=qa_id if kind == "answer" else None,
                        author=author,
                        created_at=now,
                    )
                    .returning(review_labels)
                )
            ).one()
            if label_intent is not None:
                await conn.execute(
                    insert(corrections).values(
                        turn_id=turn.id,
                        text=turn.text,
                        predicted_intent=turn.intent,
                        intent=label_intent,
                        author=author,
                        created_at=now,
                    )
                )
                await record(
                    conn,
                    "intent_correction",
                    by=actor,
                    target=turn.conversation_id,
                    details={"turn": turn.id, "from": turn.intent, "to": label_intent},
                )
            else:
                await record(
                    conn,
                    REVIEW_ACTION,
                    by=actor,
                    target=turn.conversation_id,
                    details={"turn": turn.id, "kind": kind, "qa_id": qa_id},
                )
        return _label(row)

    async def labels(self) -> list[ReviewLabel]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(review_labels).order_by(review_labels.c.id))
            return [_label(row) for row in rows]


# Answer links and dismissals change no training data: audited as a review label.
REVIEW_ACTION = "review_label"


def _flags(criteria: QueueCriteria) -> dict[str, Any]:
    """Per turn: was its conversation handed off for misunderstanding, or rated badly."""
    handed_off = exists().where(
        escalations.c.conversation_id == turns.c.conversation_id,
        escalations.c.reason == "low_confidence",
    )
    rated_badly = exists().where(
        ratings.c.conversation_id == turns.c.conversation_id,
        ratings.c.score <= criteria.bad_rating,
    )
    return {"handed_off": handed_off.label("handed_off"), "rated": rated_badly.label("rated")}


def _misunderstood(
    criteria: QueueCriteria, flags: dict[str, Any], since: datetime | None = None
) -> ColumnElement[bool]:
    conditions = [turns.c.role == "user"]
    for start in (since, criteria.since):
        if start is not None:
            conditions.append(turns.c.created_at >= start)
    # A message a person answered was never the bot's to understand.
    bot_answered = or_(turns.c.route.is_(None), turns.c.route != "human")
    return and_(
        *conditions,
        or_(
            turns.c.route == "fallback",
            turns.c.intent == FALLBACK_INTENT,
            and_(turns.c.route == "handoff", flags["handed_off"]),
            and_(bot_answered, turns.c.confidence < criteria.low_confidence),
            and_(bot_answered, turns.c.route.is_not(None), flags["rated"]),
        ),
    )


def _unreviewed() -> ColumnElement[bool]:
    return and_(
        ~exists().where(review_labels.c.turn_id == turns.c.id),
        ~exists().where(corrections.c.turn_id == turns.c.id),
    )


def _item(row: Any, criteria: QueueCriteria, reply: str | None) -> ReviewItem:
    if row.route == "handoff" and row.handed_off:
        reason = "handoff"
    elif row.route == "fallback" or row.intent == FALLBACK_INTENT:
        reason = "fallback"
    elif row.rated and row.route != "human":
        reason = "rated_badly"
    else:
        reason = "low_confidence"
    return ReviewItem(
        turn_id=row.id,
        conversation_id=row.conversation_id,
        text=row.text,
        created_at=aware(row.created_at),
        intent=row.intent,
        confidence=row.confidence,
        route=row.route,
        answer_source=row.answer_source,
        reason=reason,
        reply=reply,
    )


def _label(row: Any) -> ReviewLabel:
    return ReviewLabel(
        id=row.id,
        turn_id=row.turn_id,
        kind=row.kind,
        intent=row.intent,
        qa_id=row.qa_id,
        author=row.author,
        created_at=aware(row.created_at),
    )
