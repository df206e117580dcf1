"""Who is behind a request: staff accounts, their login sessions and API tokens, and the
widget's conversation tokens.

Works on the conversation store's async engine (``AccountStore(store.engine)``), so these
tables share one database with the conversations the widget's tokens open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.records import Conversation
from bot.storage.rows import aware, first, record_from_row
from bot.storage.schema import conversations
from bot.storage.staff_schema import api_tokens, conversation_tokens, staff_sessions, staff_users
from bot.storage.store import conversation_from_row, utcnow

ROLES = ("agent", "ops", "admin")


class AccountError(ValueError):
    """A write that conflicts with what is stored (a taken username) or a role that does not
    exist."""


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


def _user(row: Any) -> StaffUser:
    return record_from_row(StaffUser, row, active=bool(row.active))


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # Users -----------------------------------------------------------------------------

    async def create_user(self, username: str, password_hash: str, role: str) -> StaffUser:
        _check_role(role)
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
            raise AccountError(f"a user named {username!r} already exists") from None
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

    async def count_users(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(staff_users))).scalar_one()
            )

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
            changes["role"] = _check_role(role)
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

    # Sessions and API tokens -----------------------------------------------------------

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

    # Widget conversation tokens --------------------------------------------------------

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
