"""Reads and writes for the people's side: staff accounts, sessions, API tokens, widget
conversation tokens, and the escalation workflow (claim, agent replies, notes, resolve, hand
back, intent corrections, saved answers, ratings).

Works on the same engine as :class:`bot.storage.Store` (``StaffStore(store.engine)``), so the
conversation tables and these share one database and one transaction model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.records import Conversation, Escalation, Turn
from bot.storage.rows import aware, first, record_from_row
from bot.storage.schema import conversations, escalations, turns
from bot.storage.staff_schema import (
    api_tokens,
    conversation_tokens,
    corrections,
    notes,
    ratings,
    saved_answers,
    staff_sessions,
    staff_users,
)
from bot.storage.store import conversation_from_row, escalation_from_row, turn_from_row, utcnow

ROLES = ("agent", "ops", "admin")
ACTIVE_ESCALATION = ("open", "claimed")


class StaffStoreError(ValueError):
    """A write that conflicts with what is stored (a taken username, a closed escalation)."""


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: int
    username: str
    role: str
    active: bool
    created_at: datetime
    password_hash: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    conversation_id: str
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    turn_id: int
    text: str
    predicted_intent: str | None
    intent: str
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SavedAnswer:
    id: int
    qa_id: str
    turn_id: int | None
    question: str
    answer: str
    intent: str | None
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class QueueItem:
    escalation: Escalation
    conversation: Conversation
    last_message: Turn | None
    last_customer_message: Turn | None
    sentiment: str | None


def _user(row: Any) -> StaffUser:
    return record_from_row(StaffUser, row, active=bool(row.active))


class StaffStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # Users -----------------------------------------------------------------------------

    async def create_user(self, username: str, password_hash: str, role: str) -> StaffUser:
        if role not in ROLES:
            raise StaffStoreError(f"role {role!r} is not one of {', '.join(ROLES)}")
        try:
            async with self.engine.begin() as conn:
                row = (
                    await conn.execute(
                        insert(staff_users)
                        .values(
                            username=username,
                            password_hash=password_hash,
                            role=role,
                            active=True,
                            created_at=utcnow(),
                        )
                        .returning(staff_users)
                    )
                ).one()
        except IntegrityError:
            raise StaffStoreError(f"a user named {username!r} already exists") from None
        return _user(row)

    async def user_by_name(self, username: str) -> StaffUser | None:
        return await first(
            self.engine, select(staff_users).where(staff_users.c.username == username), _user
        )

    async def get_user(self, user_id: int) -> StaffUser | None:
        return await first(
            self.engine, select(staff_users).where(staff_users.c.id == user_id), _user
        )

    async def users(self) -> list[StaffUser]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(staff_users).order_by(staff_users.c.username))
            return [_user(row) for row in rows]

    async def update_user(
        self,
        user_id: int,
        *,
        role: str | None = None,
        active: bool | None = None,
        password_hash: str | None = None,
    ) -> StaffUser | None:
        changes: dict[str, Any] = {}
        if role is not None:
            if role not in ROLES:
                raise StaffStoreError(f"role {role!r} is not one of {', '.join(ROLES)}")
            changes["role"] = role
        if active is not None:
            changes["active"] = active
        if password_hash is not None:
            changes["password_hash"] = password_hash
        async with self.engine.begin() as conn:
            if changes:
                await conn.execute(
                    update(staff_users).where(staff_users.c.id == user_id).values(**changes)
                )
            if active is False:
                # A disabled account is signed out everywhere at once.
                await conn.execute(
                    delete(staff_sessions).where(staff_sessions.c.user_id == user_id)
                )
        return await self.get_user(user_id)

    # Sessions and tokens ---------------------------------------------------------------

    async def create_session(
        self, user_id: int, token_hash: str, csrf_token: str, ttl: timedelta
    ) -> None:
        now = utcnow()
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(staff_sessions).values(
                    token_hash=token_hash,
                    user_id=user_id,
                    csrf_token=csrf_token,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )

    async def session(self, token_hash: str) -> tuple[StaffUser, str] | None:
        """The active user behind a session and the session's CSRF token."""
        query = (
            select(staff_users, staff_sessions.c.csrf_token, staff_sessions.c.expires_at)
            .join(staff_sessions, staff_sessions.c.user_id == staff_users.c.id)
            .where(staff_sessions.c.token_hash == token_hash)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or not row.active or aware(row.expires_at) <= utcnow():
            return None
        return _user(row), row.csrf_token

    async def delete_session(self, token_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash)
            )

    async def create_api_token(self, user_id: int, token_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(api_tokens).values(
                    token_hash=token_hash, user_id=user_id, created_at=utcnow()
                )
            )

    async def token_user(self, token_hash: str) -> StaffUser | None:
        query = (
            select(staff_users)
            .join(api_tokens, api_tokens.c.user_id == staff_users.c.id)
            .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or not row.active:
            return None
        return _user(row)

    async def add_conversation_token(self, token_hash: str, conversation_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(conversation_tokens).values(
                    token_hash=token_hash, conversation_id=conversation_id, created_at=utcnow()
                )
            )

    async def conversation_for_token(self, token_hash: str) -> Conversation | None:
        query = (
            select(conversations)
            .join(conversation_tokens, conversation_tokens.c.conversation_id == conversations.c.id)
            .where(conversation_tokens.c.token_hash == token_hash)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return conversation_from_row(row) if row else None

    # Conversations and turns -----------------------------------------------------------

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

    async def add_turn(
        self,
        conversation_id: str,
        role: str,
        text: str,
        *,
        route: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Turn:
        """A turn written by a person or by the staff workflow (role agent or system)."""
        now = utcnow()
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    insert(turns)
                    .values(
                        conversation_id=conversation_id,
                        role=role,
                        text=text,
                        route=route,
                        payload=payload,
                        created_at=now,
                    )
                    .returning(turns)
                )
            ).one()
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(updated_at=now)
            )
        return turn_from_row(row)

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

    async def claim(self, escalation_id: int, assignee: str) -> Escalation:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(escalations)
                .where(
                    escalations.c.id == escalation_id,
                    escalations.c.status.in_(ACTIVE_ESCALATION),
                )
                .values(status="claimed", assignee=assignee, updated_at=utcnow())
            )
            if result.rowcount == 0:
                raise StaffStoreError(f"escalation {escalation_id} is not open")
        found = await self.escalation(escalation_id)
        assert found is not None
        return found

    async def close_conversation(
        self, conversation_id: str, *, escalation_status: str, conversation_status: str
    ) -> Escalation | None:
        """Resolve or hand back: closes the active escalations and sets the conversation's
        status, in one transaction. Returns the latest escalation it closed."""
        now = utcnow()
        values: dict[str, Any] = {"status": escalation_status, "updated_at": now}
        if escalation_status == "resolved":
            values["resolved_at"] = now
        async with self.engine.begin() as conn:
            active = [
                row.id
                for row in await conn.execute(
                    select(escalations.c.id).where(
                        escalations.c.conversation_id == conversation_id,
                        escalations.c.status.in_(ACTIVE_ESCALATION),
                    )
                )
            ]
            if active:
                await conn.execute(
                    update(escalations).where(escalations.c.id.in_(active)).values(**values)
                )
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(status=conversation_status, updated_at=now)
            )
        return await self.escalation(max(active)) if active else None

    # Notes, corrections, saved answers, ratings ----------------------------------------

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

    async def correct(self, turn: Turn, intent: str, author: str) -> Correction:
        """Store the right intent for a customer turn (replacing an earlier correction)."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(corrections).where(corrections.c.turn_id == turn.id))
            row = (
                await conn.execute(
                    insert(corrections)
                    .values(
                        turn_id=turn.id,
                        text=turn.text,
                        predicted_intent=turn.intent,
                        intent=intent,
                        author=author,
                        created_at=utcnow(),
                    )
                    .returning(corrections)
                )
            ).one()
        return _correction(row)

    async def corrections(self, conversation_id: str | None = None) -> list[Correction]:
        query = select(corrections).order_by(corrections.c.id)
        if conversation_id is not None:
            query = query.join(turns, turns.c.id == corrections.c.turn_id).where(
                turns.c.conversation_id == conversation_id
            )
        async with self.engine.connect() as conn:
            return [_correction(r) for r in await conn.execute(query)]

    async def save_answer(
        self,
        qa_id: str,
        question: str,
        answer: str,
        intent: str | None,
        author: str,
        turn_id: int | None,
    ) -> SavedAnswer:
        async with self.engine.begin() as conn:
            await conn.execute(delete(saved_answers).where(saved_answers.c.qa_id == qa_id))
            row = (
                await conn.execute(
                    insert(saved_answers)
                    .values(
                        qa_id=qa_id,
                        turn_id=turn_id,
                        question=question,
                        answer=answer,
                        intent=intent,
                        author=author,
                        created_at=utcnow(),
                    )
                    .returning(saved_answers)
                )
            ).one()
        return _saved(row)

    async def saved_answers(self) -> list[SavedAnswer]:
        async with self.engine.connect() as conn:
            return [
                _saved(r)
                for r in await conn.execute(select(saved_answers).order_by(saved_answers.c.id))
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

    async def count_users(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(staff_users))).scalar_one()
            )


def _correction(row: Any) -> Correction:
    return record_from_row(Correction, row)


def _saved(row: Any) -> SavedAnswer:
    return record_from_row(SavedAnswer, row)
