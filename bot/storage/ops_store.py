"""Reads and writes of ops monitoring: sentiment events, their time series, and alerts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    case,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import Insert

from bot.storage.ops_schema import ops_alerts, sentiment_events
from bot.storage.rows import aware, first, record_from_row
from bot.storage.schema import conversations, turns
from bot.storage.transactions import Transactions

ACTIVE_STATES = ("open", "acknowledged")


def epoch(value: datetime) -> float:
    return aware(value).timestamp()


def from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True, slots=True)
class SentimentEvent:
    turn_id: int
    conversation_id: str
    channel: str
    intent: str | None
    topic: str
    sentiment: str
    score: float | None
    ts: float

    @property
    def negative(self) -> bool:
        return self.sentiment == "negative"


@dataclass(frozen=True, slots=True)
class Point:
    topic: str
    bucket: int  # epoch seconds at the bucket's start
    volume: int
    negatives: int


@dataclass(frozen=True, slots=True)
class Example:
    conversation_id: str
    turn_id: int
    channel: str
    intent: str | None
    topic: str
    sentiment: str
    score: float | None
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    rule: str
    scope: str
    state: str
    message: str
    share: float
    peak_share: float
    baseline: float | None
    volume: int
    details: dict[str, Any]
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None

    def public(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "rule": self.rule,
            "topic": self.scope,
            "state": self.state,
            "message": self.message,
            "share": self.share,
            "peak_share": self.peak_share,
            "baseline": self.baseline,
            "volume": self.volume,
            "details": self.details,
            "opened_at": iso(self.opened_at),
            "last_seen_at": iso(self.last_seen_at),
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
        }


def event_row(event: SentimentEvent) -> dict[str, Any]:
    return {
        "turn_id": event.turn_id,
        "conversation_id": event.conversation_id,
        "channel": event.channel[:32],
        "intent": event.intent,
        "topic": event.topic[:128],
        "sentiment": event.sentiment,
        "score": event.score,
        "negative": event.negative,
        "ts": int(event.ts),
    }


# Built once, like the store's statements. A turn that has its event already keeps it: the
# reply's transaction and a replayed or repeated submission may both carry it.
_INSERT_EVENTS: dict[str, Insert] = {
    "sqlite": sqlite.insert(sentiment_events).on_conflict_do_nothing(
        index_elements=[sentiment_events.c.turn_id]
    ),
    "postgresql": postgresql.insert(sentiment_events).on_conflict_do_nothing(
        index_elements=[sentiment_events.c.turn_id]
    ),
}


def insert_events(conn: Connection, events: Sequence[SentimentEvent]) -> None:
    """Store events in the caller's transaction, once per turn."""
    if events:
        statement = _INSERT_EVENTS.get(conn.dialect.name, insert(sentiment_events))
        conn.execute(statement, [event_row(e) for e in events])


def alert_from_row(row: Any) -> Alert:
    return record_from_row(Alert, row, details=dict(row.details or {}))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """What the alert engine needs of a stored event, and its id (the order of the feed)."""

    id: int
    ts: float
    topic: str
    negative: bool


def _stored_events() -> Any:
    c = sentiment_events.c
    return select(c.id, c.ts, c.topic, c.negative)


class OpsStore:
    """``engine`` serves the dashboard's queries; every write goes through ``transactions``
    (the conversation store's), so on SQLite it queues with the chat's writes in one thread
    instead of colliding with them from a second connection."""

    def __init__(self, engine: AsyncEngine, transactions: Transactions) -> None:
        self.engine = engine
        self.transactions = transactions

    # Events --------------------------------------------------------------------------

    async def channels(self, conversation_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(conversation_ids))
        if not ids:
            return {}
        query = select(conversations.c.id, conversations.c.channel).where(
            conversations.c.id.in_(ids)
        )
        return await self.transactions.run(
            lambda conn: {row.id: row.channel for row in conn.execute(query)}
        )

    async def record(self, events: Sequence[SentimentEvent]) -> None:
        """Store events whose turns have none yet (a turn's event is never doubled)."""
        if events:
            await self.transactions.run(lambda conn: insert_events(conn, events))

    async def events_since(self, since: float) -> list[StoredEvent]:
        """Every event at or after ``since``, oldest first."""
        query = _stored_events().where(sentiment_events.c.ts >= int(since))
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.order_by(sentiment_events.c.ts))
            return [StoredEvent(r.id, float(r.ts), r.topic, bool(r.negative)) for r in rows]

    async def last_event_id(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.max(sentiment_events.c.id))) or 0)

    async def events_after(
        self, after: int, also: Sequence[int] = (), *, limit: int = 5000
    ) -> list[StoredEvent]:
        """Events with an id above ``after`` (at most ``limit``, lowest ids first), and those
        of the ids in ``also`` (ids below it seen missing before: see bot/ops/service.py)."""
        newer = _stored_events().where(sentiment_events.c.id > after)
        query = newer.order_by(sentiment_events.c.id).limit(limit)
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(query))
            if also:
                late = _stored_events().where(sentiment_events.c.id.in_(list(also)))
                rows += list(await conn.execute(late))
        return [StoredEvent(r.id, float(r.ts), r.topic, bool(r.negative)) for r in rows]

    async def series(
        self,
        bucket_s: int,
        since: float,
        until: float,
        topics: Sequence[str] = (),
    ) -> list[Point]:
        """Volume and negatives per topic per time bucket (bucket start in epoch seconds)."""
        ts = sentiment_events.c.ts
        # The bucket width is a validated integer, written into the SQL so SELECT and GROUP BY
        # carry the very same expression (PostgreSQL compares them textually).
        width: ColumnElement[int] = literal_column(str(int(bucket_s)), BigInteger)
        bucket = (ts - ts % width).label("bucket")
        negatives = func.sum(case((sentiment_events.c.negative, 1), else_=0))
        query = (
            select(sentiment_events.c.topic, bucket, func.count().label("volume"), negatives)
            .where(ts >= int(since), ts < int(until))
            .group_by(sentiment_events.c.topic, ts - ts % width)
            .order_by(ts - ts % width, sentiment_events.c.topic)
        )
        if topics:
            query = query.where(sentiment_events.c.topic.in_(list(topics)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Point(r[0], int(r[1]), int(r[2]), int(r[3] or 0)) for r in rows]

    async def examples(
        self,
        *,
        topic: str | None,
        since: float,
        negative_only: bool = True,
        limit: int = 20,
    ) -> list[Example]:
        """The latest customer messages of a topic, for drill-down, newest first."""
        e = sentiment_events.c
        query = (
            select(
                e.conversation_id,
                e.turn_id,
                e.channel,
                e.intent,
                e.topic,
                e.sentiment,
                e.score,
                e.ts,
                turns.c.text,
            )
            .join(turns, turns.c.id == e.turn_id)
            .where(e.ts >= int(since))
            .order_by(e.ts.desc(), e.id.desc())
            .limit(limit)
        )
        if topic and topic != "*":
            query = query.where(e.topic == topic)
        if negative_only:
            query = query.where(e.negative.is_(True))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Example(
                conversation_id=r.conversation_id,
                turn_id=r.turn_id,
                channel=r.channel,
                intent=r.intent,
                topic=r.topic,
                sentiment=r.sentiment,
                score=r.score,
                text=r.text,
                at=from_epoch(float(r.ts)),
            )
            for r in rows
        ]

    async def prune(self, before: float) -> int:
        query = delete(sentiment_events).where(sentiment_events.c.ts < int(before))
        return await self.transactions.run(lambda conn: int(conn.execute(query).rowcount or 0))

    # Alerts --------------------------------------------------------------------------

    async def open_alert(
        self,
        *,
        rule: str,
        scope: str,
        message: str,
        share: float,
        baseline: float | None,
        volume: int,
        details: dict[str, Any],
        at: datetime,
    ) -> tuple[Alert, bool]:
        """Store a newly raised alert: returns it and True.

        Server processes sharing a database each evaluate the traffic they serve, so two may
        raise the same rule for the same topic. The second gets the alert already open and
        False, and the alert is stored, and announced, once.
        """
        active = (
            select(ops_alerts)
            .where(
                ops_alerts.c.rule == rule,
                ops_alerts.c.scope == scope,
                ops_alerts.c.state.in_(ACTIVE_STATES),
            )
            .order_by(ops_alerts.c.id)
            .limit(1)
        )
        row = {
            "rule": rule,
            "scope": scope,
            "state": "open",
            "message": message,
            "share": share,
            "peak_share": share,
            "baseline": baseline,
            "volume": volume,
            "details": details,
            "opened_at": at,
            "last_seen_at": at,
        }

        def raise_once(conn: Connection) -> tuple[Alert, bool]:
            if conn.dialect.name == "postgresql":
                # Held to the end of the transaction: a concurrent raise of the same alert
                # waits here, then finds this one's row.
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"frontdesk-alert:{rule}:{scope}"},
                )
            found = conn.execute(active).first()
            if found is not None:
                return alert_from_row(found), False
            stored = conn.execute(insert(ops_alerts).values(**row).returning(ops_alerts)).one()
            return alert_from_row(stored), True

        return await self.transactions.run(raise_once)

    async def touch_alert(
        self,
        alert_id: int,
        *,
        share: float,
        peak_share: float,
        volume: int,
        message: str,
        details: dict[str, Any],
        at: datetime,
    ) -> None:
        query = (
            update(ops_alerts)
            .where(ops_alerts.c.id == alert_id, ops_alerts.c.state != "resolved")
            .values(
                share=share,
                peak_share=peak_share,
                volume=volume,
                message=message,
                details=details,
                last_seen_at=at,
            )
        )
        await self.transactions.run(lambda conn: conn.execute(query))

    async def alert(self, alert_id: int) -> Alert | None:
        return await first(
            self.engine, select(ops_alerts).where(ops_alerts.c.id == alert_id), alert_from_row
        )

    async def alerts(
        self, *, states: Sequence[str] = (), topic: str | None = None, limit: int = 100
    ) -> list[Alert]:
        query = select(ops_alerts).order_by(ops_alerts.c.opened_at.desc(), ops_alerts.c.id.desc())
        if states:
            query = query.where(ops_alerts.c.state.in_(list(states)))
        if topic:
            query = query.where(ops_alerts.c.scope == topic)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.limit(limit))
            return [alert_from_row(row) for row in rows]

    async def last_resolved(self) -> dict[tuple[str, str], datetime]:
        query = (
            select(ops_alerts.c.rule, ops_alerts.c.scope, func.max(ops_alerts.c.resolved_at))
            .where(ops_alerts.c.state == "resolved")
            .group_by(ops_alerts.c.rule, ops_alerts.c.scope)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[tuple[str, str], datetime] = {}
        for rule, scope, at in rows:
            if at is not None:
                found[(rule, scope)] = aware(at)
        return found

    async def acknowledge(self, alert_id: int, by: str, at: datetime) -> Alert | None:
        """Acknowledge an open alert (acknowledging twice is harmless); None: no such alert."""
        query = (
            update(ops_alerts)
            .where(ops_alerts.c.id == alert_id, ops_alerts.c.state == "open")
            .values(state="acknowledged", acknowledged_at=at, acknowledged_by=by)
        )
        await self.transactions.run(lambda conn: conn.execute(query))
        return await self.alert(alert_id)

    async def resolve(self, alert_id: int, by: str, at: datetime) -> tuple[Alert | None, bool]:
        """Resolve an alert; returns it and whether this call resolved it. The update is
        conditional, so of staff and several processes resolving at once exactly one sees
        True, and only that one announces it."""
        query = (
            update(ops_alerts)
            .where(ops_alerts.c.id == alert_id, ops_alerts.c.state != "resolved")
            .values(state="resolved", resolved_at=at, resolved_by=by)
        )
        changed = await self.transactions.run(lambda conn: conn.execute(query).rowcount == 1)
        return await self.alert(alert_id), changed

    async def count_active(self) -> dict[str, int]:
        query = (
            select(ops_alerts.c.state, func.count())
            .where(ops_alerts.c.state != "resolved")
            .group_by(ops_alerts.c.state)
        )
        async with self.engine.connect() as conn:
            return {state: int(n) for state, n in (await conn.execute(query)).all()}
