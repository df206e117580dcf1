"""The hand-off as people see it: the escalation queue, claims, a conversation's transcript,
internal notes and the customer's rating afterwards.

Reads and the staff-only writes (claims, notes, ratings) run on the conversation store's
async engine (``EscalationStore(store.engine)``), so consoles and widgets reading a
transcript do not queue behind the chat's writes. What changes the conversation itself (an
agent's reply, a resolve or hand back) goes through :class:`bot.storage.Store`, with the
chat's own writes. A claim writes its audit event in its own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.audit import Actor, record
from bot.storage.handoff import ACTIVE_ESCALATION
from bot.storage.records import Conversation, Escalation, Turn
from bot.storage.rows import aware, first
from bot.storage.schema import conversations, escalations, turns
from bot.storage.staff_schema import notes, ratings
from bot.storage.store import conversation_from_row, escalation_from_row, turn_from_row, utcnow


class EscalationError(ValueError):
    """A claim on an escalation that is no longer open."""


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    conversation_id: str
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class QueueItem:
    escalation: Escalation
    conversation: Conversation
    last_message: Turn | None
    last_customer_message: Turn | None
    sentiment: str | None


class EscalationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # Transcripts -----------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation | None:
        return await first(
            self.engine,
            select(conversations).where(conversations.c.id == conversation_id),
            conversation_from_row,
        )

    async def turns_after(
        self, conversation_id: str, after_id: int, roles: Sequence[str] | None = None
    ) -> list[Turn]:
        query = (
            select(turns)
            .where(turns.c.conversation_id == conversation_id, turns.c.id > after_id)
            .order_by(turns.c.id)
        )
        if roles is not None:
            query = query.where(turns.c.role.in_(list(roles)))
        async with self.engine.connect() as conn:
            return [turn_from_row(row) for row in await conn.execute(query)]

    async def get_turn(self, turn_id: int) -> Turn | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(turns).where(turns.c.id == turn_id))).first()
        return turn_from_row(row) if row else None

    async def previous_user_turn(self, turn: Turn) -> Turn | None:
        query = (
            select(turns)
            .where(
                turns.c.conversation_id == turn.conversation_id,
                turns.c.id < turn.id,
                turns.c.role == "user",
            )
            .order_by(turns.c.id.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return turn_from_row(row) if row else None

    # Escalations -----------------------------------------------------------------------

    async def escalation(self, escalation_id: int) -> Escalation | None:
        return await first(
            self.engine,
            select(escalations).where(escalations.c.id == escalation_id),
            escalation_from_row,
        )

    async def latest_escalation(self, conversation_id: str) -> Escalation | None:
        query = (
            select(escalations)
            .where(escalations.c.conversation_id == conversation_id)
            .order_by(escalations.c.id.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return escalation_from_row(row) if row else None

    async def queue(self, statuses: Sequence[str] = ACTIVE_ESCALATION) -> list[QueueItem]:
        """Escalations with the given statuses, oldest first, with what staff need to triage."""
        query = (
            select(escalations)
            .where(escalations.c.status.in_(list(statuses)))
            .order_by(escalations.c.created_at, escalations.c.id)
        )
        items: list[QueueItem] = []
        async with self.engine.connect() as conn:
            found = [escalation_from_row(row) for row in await conn.execute(query)]
            for escalation in found:
                conversation = conversation_from_row(
                    (
                        await conn.execute(
                            select(conversations).where(
                                conversations.c.id == escalation.conversation_id
                            )
                        )
                    ).one()
                )
                last = (
                    await conn.execute(
                        select(turns)
                        .where(
                            turns.c.conversation_id == conversation.id,
                            turns.c.role.in_(("user", "bot", "agent")),
                        )
                        .order_by(turns.c.id.desc())
                        .limit(1)
                    )
                ).first()
                last_user = (
                    await conn.execute(
                        select(turns)
                        .where(turns.c.conversation_id == conversation.id, turns.c.role == "user")
                        .order_by(turns.c.id.desc())
                        .limit(1)
                    )
                ).first()
                sentiment_row = (
                    await conn.execute(
                        select(turns.c.sentiment)
                        .where(
                            turns.c.conversation_id == conversation.id,
                            turns.c.role == "user",
                            turns.c.sentiment.is_not(None),
                        )
                        .order_by(turns.c.id.desc())
                        .limit(1)
                    )
                ).first()
                items.append(
                    QueueItem(
                        escalation=escalation,
                        conversation=conversation,
                        last_message=turn_from_row(last) if last else None,
                        last_customer_message=turn_from_row(last_user) if last_user else None,
                        sentiment=sentiment_row[0] if sentiment_row else None,
                    )
                )
        return items

    async def claim(
        self, escalation_id: int, assignee: str, *, by: Actor | None = None
    ) -> Escalation:
        """Claim for ``assignee``; ``by`` is who asked (the assignee when not given)."""
        async with self.engine.begin() as conn:
            claimed = (
                await conn.execute(
                    update(escalations)
                    .where(
                        escalations.c.id == escalation_id,
                        escalations.c.status.in_(ACTIVE_ESCALATION),
                    )
                    .values(status="claimed", assignee=assignee, updated_at=utcnow())
                    .returning(escalations.c.conversation_id)
                )
            ).first()
            if claimed is None:
                raise EscalationError(f"escalation {escalation_id} is not open")
            await record(
                conn,
                "claim",
                by=by or Actor(assignee),
                target=claimed.conversation_id,
                details={"escalation": escalation_id, "assignee": assignee},
            )
        found = await self.escalation(escalation_id)
        assert found is not None
        return found

    # Notes and ratings -----------------------------------------------------------------

    async def add_note(self, conversation_id: str, author: str, text: str) -> Note:
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    insert(notes)
                    .values(
                        conversation_id=conversation_id,
                        author=author,
                        text=text,
                        created_at=utcnow(),
                    )
                    .returning(notes)
                )
            ).one()
        return Note(row.id, row.conversation_id, row.author, row.text, aware(row.created_at))

    async def notes(self, conversation_id: str) -> list[Note]:
        query = select(notes).where(notes.c.conversation_id == conversation_id).order_by(notes.c.id)
        async with self.engine.connect() as conn:
            return [
                Note(r.id, r.conversation_id, r.author, r.text, aware(r.created_at))
                for r in await conn.execute(query)
            ]

    async def rate(self, escalation_id: int, conversation_id: str, score: int) -> bool:
        """Store a customer's rating of a hand-off; False when it was already rated."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(ratings).values(
                        escalation_id=escalation_id,
                        conversation_id=conversation_id,
                        score=score,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            return False
        return True

    async def rating(self, escalation_id: int) -> int | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ratings.c.score).where(ratings.c.escalation_id == escalation_id)
                )
            ).first()
        return int(row[0]) if row else None
