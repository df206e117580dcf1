"""The conversation store: every read and write of conversation state goes through here.

Writes that belong together (a reply, the slots it set, the escalation it opened, the
sentiment event of the message it answers) happen in one transaction, so a failure or a crash
leaves either all of it or none of it.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, event, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.core.messages import BotMessage
from bot.storage import handoff, ops_schema
from bot.storage.audit import Actor
from bot.storage.ops_store import SentimentEvent, insert_events
from bot.storage.records import Conversation, Escalation, Turn, Understanding
from bot.storage.rows import record_from_row
from bot.storage.schema import conversations, escalations, metadata, tracker_events, turns
from bot.storage.transactions import Transactions, sqlite_file, transactions_for


class StoreError(RuntimeError):
    """The store cannot be reached or refused a write."""


def utcnow() -> datetime:
    return datetime.now(UTC)


# The statements of every message, built once: building one costs more than running it
# (SQLAlchemy coerces each value and derives a cache key on every construction). Values go
# in as execute() parameters; an UPDATE sets the columns named in them.
_INSERT_TURN = insert(turns).returning(turns)
_UPDATE_TURN = update(turns).where(turns.c.id == bindparam("_turn_id"))
_UPDATE_CONVERSATION = update(conversations).where(
    conversations.c.id == bindparam("_conversation_id")
)
_TOUCH_CONVERSATION = _UPDATE_CONVERSATION.returning(conversations)
_INSERT_EVENT = insert(tracker_events)
_SELECT_EVENTS = (
    select(tracker_events.c.id, tracker_events.c.event)
    .where(tracker_events.c.conversation_id == bindparam("_conversation_id"))
    .order_by(tracker_events.c.id.desc())
    .limit(bindparam("_limit"))
)
# A conversation's tracker is read from its latest events: enough for forms, rules and
# stories (which look a few turns back) without reading a year-long chat on every message.
TRACKER_EVENTS_READ = 2_000


class Store:
    """The conversation store.

    ``engine`` is the async engine the staff console and the ops dashboard use;
    ``transactions`` runs the chat's own reads and writes, and the turns staff add, each in
    one trip (see :mod:`bot.storage.transactions`).
    """

    def __init__(self, engine: AsyncEngine, transactions: Transactions) -> None:
        self.engine = engine
        self.transactions = transactions

    @classmethod
    async def open(cls, url: str, *, create: bool = True, pool_timeout_s: float = 30.0) -> Store:
        """Connect, and create the tables when they do not exist yet.

        ``pool_timeout_s``: how long a request waits for a free connection of the async
        engine's pool before the pool raises its TimeoutError (answered as 503, retry).
        """
        options: dict[str, Any] = {}
        if url.startswith("sqlite"):
            path = sqlite_file(url)
            if path is not None:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                # SQLite has one writer at a time. With a pool of connections, concurrent
                # writers collide and SQLite's busy handler sleeps between retries. The chat's
                # and the monitor's writes go through their own thread (Transactions); the
                # staff console queues on one connection here.
                options.update(
                    pool_size=1,
                    max_overflow=0,
                    pool_reset_on_return=None,
                    pool_timeout=pool_timeout_s,
                )
        else:
            options.update(
                pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=pool_timeout_s
            )
        # Parameters stay out of logs and error messages: they carry customers' words, session
        # hashes and CSRF tokens, which a DEBUG log or a traceback must not spill.
        engine = create_async_engine(url, hide_parameters=True, **options)
        if url.startswith("sqlite"):
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        store = cls(engine, transactions_for(url, engine, _sqlite_pragmas))
        try:
            if create:
                await _create_tables(engine)
            else:
                await store.ping()
        except (SQLAlchemyError, OSError) as exc:
            await store.close()
            raise StoreError(f"cannot open the store at {_redact(url)}: {exc}") from exc
        return store

    async def close(self) -> None:
        await self.transactions.close()
        await self.engine.dispose()

    async def ping(self) -> bool:
        await self.transactions.run(lambda conn: conn.execute(text("SELECT 1")).all())
        return True

    # Conversations ---------------------------------------------------------------------

    async def conversation_for(self, channel: str, sender_id: str) -> Conversation:
        """The sender's conversation on the channel, created on first contact."""

        def find_or_create(conn: Connection) -> Conversation:
            found = _find_conversation(conn, channel, sender_id)
            if found:
                return found
            now = utcnow()
            conn.execute(
                insert(conversations).values(
                    id=str(uuid.uuid4()),
                    channel=channel,
                    sender_id=sender_id,
                    status="bot",
                    slots={},
                    created_at=now,
                    updated_at=now,
                )
            )
            created = _find_conversation(conn, channel, sender_id)
            assert created is not None
            return created

        try:
            return await self.transactions.run(find_or_create)
        except IntegrityError:
            # Another request or process created it between our read and write.
            found = await self.transactions.run(
                lambda conn: _find_conversation(conn, channel, sender_id)
            )
            assert found is not None
            return found

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self.transactions.run(lambda conn: _conversation(conn, conversation_id))

    async def set_status(self, conversation_id: str, status: str) -> None:
        await self.transactions.run(
            lambda conn: conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(status=status, updated_at=utcnow())
            )
        )

    # Turns -----------------------------------------------------------------------------

    async def add_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        entities: Sequence[Mapping[str, Any]] | None = None,
    ) -> tuple[Turn, bool]:
        """Store a customer's message before anything else looks at it.

        Returns the turn and whether it was new; a repeated ``message_id`` returns the turn
        stored the first time.
        """
        turn, new, _ = await self.take_message(
            conversation_id, text, message_id=message_id, entities=entities
        )
        return turn, new

    async def take_message(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        entities: Sequence[Mapping[str, Any]] | None = None,
    ) -> tuple[Turn, bool, Conversation]:
        """``add_user_turn``, plus the conversation as it is after the message arrived.

        The bot needs both for every message; one transaction for the two saves a round trip
        to the database on the reply path.
        """

        def already_taken(conn: Connection) -> tuple[Turn, bool, Conversation] | None:
            if message_id is None:
                return None
            existing = _user_turn_by_message_id(conn, conversation_id, message_id)
            if existing is None:
                return None
            conversation = _conversation(conn, conversation_id)
            assert conversation is not None
            return existing, False, conversation

        def take(conn: Connection) -> tuple[Turn, bool, Conversation]:
            seen = already_taken(conn)
            if seen:
                return seen
            now = utcnow()
            row = conn.execute(
                _INSERT_TURN,
                {
                    "conversation_id": conversation_id,
                    "role": "user",
                    "text": text,
                    "message_id": message_id,
                    "entities": list(entities) if entities else None,
                    "created_at": now,
                },
            ).one()
            conversation = conn.execute(
                _TOUCH_CONVERSATION, {"_conversation_id": conversation_id, "updated_at": now}
            ).one()
            return turn_from_row(row), True, conversation_from_row(conversation)

        try:
            return await self.transactions.run(take)
        except IntegrityError:
            # The same message id, stored by a concurrent request (or process) meanwhile.
            if message_id is None:
                raise
            seen = await self.transactions.run(already_taken)
            if seen is None:
                raise
            return seen

    async def user_turn_by_message_id(self, conversation_id: str, message_id: str) -> Turn | None:
        return await self.transactions.run(
            lambda conn: _user_turn_by_message_id(conn, conversation_id, message_id)
        )

    async def record_reply(
        self,
        conversation_id: str,
        user_turn_id: int,
        messages: Sequence[BotMessage],
        *,
        route: str,
        answer_source: str | None = None,
        retrieval_score: float | None = None,
        slots: Mapping[str, Any] | None = None,
        escalation_reason: str | None = None,
        user_route: bool = True,
        understanding: Understanding | None = None,
        events: Sequence[Mapping[str, Any]] = (),
        sentiment: SentimentEvent | None = None,
    ) -> list[Turn]:
        """Store the bot's reply, its slots, the dialogue's events, any escalation, what the
        models made of the customer's message and its sentiment event for the ops monitor, in
        one transaction: an answered message always has its event, even after a crash."""
        now = utcnow()
        bot_rows = [
            {
                "conversation_id": conversation_id,
                "role": "bot",
                "text": message.text,
                "reply_to": user_turn_id,
                "route": route,
                "answer_source": answer_source,
                "retrieval_score": retrieval_score,
                "payload": message.payload(),
                "created_at": now,
            }
            for message in messages
        ]
        user_changes: dict[str, Any] = understanding.columns() if understanding else {}
        if user_route:
            user_changes.update(
                route=route, answer_source=answer_source, retrieval_score=retrieval_score
            )
        changes: dict[str, Any] = {"updated_at": now}
        if slots is not None:
            changes["slots"] = dict(slots)
        if escalation_reason:
            changes["status"] = "handoff"

        event_rows = [
            {"conversation_id": conversation_id, "turn_id": user_turn_id, "event": dict(e)}
            for e in events
        ]

        def record(conn: Connection) -> list[Turn]:
            stored = [turn_from_row(conn.execute(_INSERT_TURN, row).one()) for row in bot_rows]
            if event_rows:
                conn.execute(_INSERT_EVENT, event_rows)
            if user_changes:
                conn.execute(_UPDATE_TURN, {"_turn_id": user_turn_id, **user_changes})
            if sentiment is not None:
                insert_events(conn, [sentiment])
            if escalation_reason:
                conn.execute(
                    insert(escalations),
                    {
                        "conversation_id": conversation_id,
                        "reason": escalation_reason,
                        "status": "open",
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            conn.execute(_UPDATE_CONVERSATION, {"_conversation_id": conversation_id, **changes})
            return stored

        return await self.transactions.run(record)

    async def events(
        self, conversation_id: str, *, limit: int = TRACKER_EVENTS_READ
    ) -> list[dict[str, Any]]:
        """The conversation's tracker events, oldest first (the latest ``limit``)."""
        params = {"_conversation_id": conversation_id, "_limit": limit}
        rows = await self.transactions.run(lambda conn: list(conn.execute(_SELECT_EVENTS, params)))
        return [dict(row.event) for row in reversed(rows)]

    async def replies_to(self, user_turn_id: int) -> list[Turn]:
        query = select(turns).where(turns.c.reply_to == user_turn_id).order_by(turns.c.id)
        return await self.transactions.run(
            lambda conn: [turn_from_row(row) for row in conn.execute(query)]
        )

    async def turns(self, conversation_id: str, *, limit: int | None = None) -> list[Turn]:
        """The conversation's turns, oldest first (the last ``limit`` when given)."""
        query = select(turns).where(turns.c.conversation_id == conversation_id)
        if limit is not None:
            query = query.order_by(turns.c.id.desc()).limit(limit)
        else:
            query = query.order_by(turns.c.id)
        rows = await self.transactions.run(
            lambda conn: [turn_from_row(row) for row in conn.execute(query)]
        )
        return sorted(rows, key=lambda t: t.id)

    async def count_turns(self) -> int:
        return await self.transactions.run(
            lambda conn: int(conn.execute(select(func.count()).select_from(turns)).scalar_one())
        )

    # Escalations -----------------------------------------------------------------------

    async def escalations(
        self, *, status: str | None = None, conversation_id: str | None = None
    ) -> list[Escalation]:
        query = select(escalations).order_by(escalations.c.created_at, escalations.c.id)
        if status is not None:
            query = query.where(escalations.c.status == status)
        if conversation_id is not None:
            query = query.where(escalations.c.conversation_id == conversation_id)
        return await self.transactions.run(
            lambda conn: [escalation_from_row(row) for row in conn.execute(query)]
        )

    # What staff write ------------------------------------------------------------------
    # The SQL is in bot.storage.handoff; running it here queues it with the chat's writes.

    async def add_agent_turn(
        self, conversation_id: str, author: str, text: str, *, by: Actor | None = None
    ) -> Turn:
        """A reply a person on the staff wrote, shown to the customer as it is; audited as
        ``by`` (the author when not given) in the same transaction."""
        now = utcnow()
        return await self.transactions.run(
            lambda conn: handoff.add_agent_turn(conn, conversation_id, author, text, now, by)
        )

    async def close_handoff(
        self,
        conversation_id: str,
        *,
        escalation_status: str,
        conversation_status: str,
        notice: str,
        author: str,
        by: Actor | None = None,
    ) -> Escalation | None:
        """Resolve or hand back, with the customer's notice, in one transaction, so no one
        sees the new status without it (see :func:`bot.storage.handoff.close_handoff`)."""
        now = utcnow()
        return await self.transactions.run(
            lambda conn: handoff.close_handoff(
                conn,
                conversation_id,
                escalation_status=escalation_status,
                conversation_status=conversation_status,
                notice=notice,
                author=author,
                now=now,
                by=by,
            )
        )


def _find_conversation(conn: Connection, channel: str, sender_id: str) -> Conversation | None:
    row = conn.execute(
        select(conversations).where(
            conversations.c.channel == channel, conversations.c.sender_id == sender_id
        )
    ).first()
    return conversation_from_row(row) if row else None


def _conversation(conn: Connection, conversation_id: str) -> Conversation | None:
    row = conn.execute(select(conversations).where(conversations.c.id == conversation_id)).first()
    return conversation_from_row(row) if row else None


def _user_turn_by_message_id(
    conn: Connection, conversation_id: str, message_id: str
) -> Turn | None:
    row = conn.execute(
        select(turns).where(
            turns.c.conversation_id == conversation_id, turns.c.message_id == message_id
        )
    ).first()
    return turn_from_row(row) if row else None


async def _create_tables(engine: AsyncEngine, attempts: int = 3) -> None:
    """Create missing tables. Two processes starting on a fresh database (a server and a
    `frontdesk user add`, or several servers) race between "does it exist" and "create it";
    the loser sees "already exists" and simply looks again."""
    for attempt in range(attempts):
        try:
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Serialise schema creation across processes for this transaction.
                    await conn.execute(text("SELECT pg_advisory_xact_lock(7351003)"))
                elif conn.dialect.name == "sqlite":
                    # The same for SQLite: the write lock, taken before looking, makes the
                    # others wait (busy timeout) instead of creating the same table meanwhile,
                    # which under load could lose every retry.
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                await conn.run_sync(metadata.create_all)
                await conn.run_sync(ops_schema.upgrade)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if "already exists" not in str(exc) or attempt == attempts - 1:
                raise


WAL_ATTEMPTS = 100


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (staff, ops) run while the bot writes; the busy timeout rides out
    # the short write locks of concurrent requests instead of failing them. It comes first,
    # so the statements after it wait for another connection's lock.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    # Turning a fresh file to WAL takes an exclusive lock, and SQLite answers "database is
    # locked" at once, without the busy handler, while another connection (a second
    # process starting on the same new file) is doing the same: try again for a while.
    for attempt in range(WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.02)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def conversation_from_row(row: Any) -> Conversation:
    return record_from_row(Conversation, row, slots=dict(row.slots or {}))


def turn_from_row(row: Any) -> Turn:
    return record_from_row(Turn, row)


def escalation_from_row(row: Any) -> Escalation:
    return record_from_row(Escalation, row)
