"""Who is behind a request: staff accounts, their login sessions and API tokens, and the
widget's conversation tokens.

Works on the conversation store's async engine (``AccountStore(store.engine)``), so these
tables share one database with the conversations the widget's tokens open. Changes made on a
person's behalf (``by``: who, from where) write their audit event in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.storage.audit import Actor, record
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


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    user_id: int
    created_at: datetime
    revoked_at: datetime | None


def _token(row: Any) -> ApiToken:
    return ApiToken(
        row.id,
        row.user_id,
        aware(row.created_at),
        aware(row.revoked_at) if row.revoked_at is not None else None,
    )


def _user(row: Any) -> StaffUser:
    return record_from_row(StaffUser, row, active=bool(row.active))


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


async def _username(conn: AsyncConnection, user_id: int) -> str | None:
    return (
        await conn.execute(select(staff_users.c.username).where(staff_users.c.id == user_id))
    ).scalar_one_or_none()


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # Users -----------------------------------------------------------------------------

    async def create_user(
        self, username: str, password_hash: str, role: str, *, by: Actor | None = None
    ) -> StaffUser:
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
                await record(conn, "user_created", by=by, target=username, details={"role": role})
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
        by: Actor | None = None,
    ) -> StaffUser | None:
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = _check_role(role)
        if active is not None:
            changes["active"] = active
        if password_hash is not None:
            changes["password_hash"] = password_hash
        async with self.engine.begin() as conn:
            before = (
                await conn.execute(
                    select(staff_users.c.username, staff_users.c.role, staff_users.c.active).where(
                        staff_users.c.id == user_id
                    )
                )
            ).first()
            if before is None:
                return None
            if changes:
                await conn.execute(
                    update(staff_users).where(staff_users.c.id == user_id).values(**changes)
                )
            new_role = role is not None and before.role != role
            ended: dict[str, int] = {}
            if password_hash is not None or new_role:
                # A new password or role ends every session and token issued under the old
                # one: whoever held them must sign in again and get new ones.
                sessions = await conn.execute(
                    delete(staff_sessions).where(staff_sessions.c.user_id == user_id)
                )
                tokens = await conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                )
                ended = {
                    "sessions_ended": int(sessions.rowcount or 0),
                    "tokens_revoked": int(tokens.rowcount or 0),
                }
            elif active is False:
                # A disabled account is signed out everywhere at once.
                sessions = await conn.execute(
                    delete(staff_sessions).where(staff_sessions.c.user_id == user_id)
                )
                ended = {"sessions_ended": int(sessions.rowcount or 0)}
            target = before.username
            if new_role:
                details = {"from": before.role, "to": role, **ended}
                await record(conn, "role_change", by=by, target=target, details=details)
            if password_hash is not None:
                await record(conn, "password_change", by=by, target=target, details=ended)
            if active is not None and active != bool(before.active):
                action = "user_enabled" if active else "user_disabled"
                await record(conn, action, by=by, target=target, details=ended)
        return await self.get_user(user_id)

    # Sessions and API tokens -----------------------------------------------------------

    async def create_session(
        self,
        user_id: int,
        token_hash: str,
        csrf_token: str,
        ttl: timedelta,
        idle: timedelta | None = None,
    ) -> None:
        """A session that lasts ``ttl`` at most, and ends sooner after ``idle`` unused."""
        now = utcnow()
        if idle is not None:
            ttl = min(ttl, idle)
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

    async def session(
        self,
        token_hash: str,
        *,
        idle: timedelta | None = None,
        lifetime: timedelta | None = None,
    ) -> tuple[StaffUser, str] | None:
        """The active user behind a session and the session's CSRF token.

        With ``idle`` and ``lifetime``, each use moves the end of the session to ``idle`` from
        now, never past ``lifetime`` after it began: ``expires_at`` is the idle deadline (written
        at most once a minute, so a busy console costs no write per request).
        """
        query = (
            select(
                staff_users,
                staff_sessions.c.csrf_token,
                staff_sessions.c.expires_at,
                staff_sessions.c.created_at.label("session_created_at"),
            )
            .join(staff_sessions, staff_sessions.c.user_id == staff_users.c.id)
            .where(staff_sessions.c.token_hash == token_hash)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        now = utcnow()
        if row is None or not row.active or aware(row.expires_at) <= now:
            return None
        if idle is not None and lifetime is not None:
            deadline = min(aware(row.session_created_at) + lifetime, now + idle)
            if deadline - aware(row.expires_at) > timedelta(minutes=1):
                async with self.engine.begin() as conn:
                    await conn.execute(
                        update(staff_sessions)
                        .where(staff_sessions.c.token_hash == token_hash)
                        .values(expires_at=deadline)
                    )
        return _user(row), row.csrf_token

    async def delete_session(self, token_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash)
            )

    async def create_api_token(
        self, user_id: int, token_hash: str, *, by: Actor | None = None
    ) -> int:
        """Store a token's digest; returns the token's id (for ``frontdesk token revoke``)."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    insert(api_tokens)
                    .values(token_hash=token_hash, user_id=user_id, created_at=utcnow())
                    .returning(api_tokens.c.id)
                )
            ).one()
            owner = await _username(conn, user_id)
            await record(conn, "token_create", by=by, target=str(row.id), details={"user": owner})
        return int(row.id)

    async def token_user(
        self, token_hash: str, *, max_age: timedelta | None = None
    ) -> StaffUser | None:
        """The active user behind a token that is neither revoked nor older than ``max_age``."""
        query = (
            select(staff_users)
            .join(api_tokens, api_tokens.c.user_id == staff_users.c.id)
            .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))
        )
        if max_age is not None:
            query = query.where(api_tokens.c.created_at > utcnow() - max_age)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or not row.active:
            return None
        return _user(row)

    async def api_tokens(self, user_id: int) -> list[ApiToken]:
        query = select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id)
        async with self.engine.connect() as conn:
            return [_token(row) for row in await conn.execute(query)]

    async def revoke_tokens(
        self,
        *,
        user_id: int | None = None,
        token_id: int | None = None,
        by: Actor | None = None,
    ) -> int:
        """Revoke a user's tokens, or one token by id; returns how many were still live."""
        if (user_id is None) == (token_id is None):
            raise ValueError("give exactly one of user_id and token_id")
        where = api_tokens.c.user_id == user_id if token_id is None else api_tokens.c.id == token_id
        async with self.engine.begin() as conn:
            revoked = (
                await conn.execute(
                    update(api_tokens)
                    .where(where, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                    .returning(api_tokens.c.id, api_tokens.c.user_id)
                )
            ).all()
            # Revoking nothing changed nothing, so there is nothing to record.
            for token in revoked:
                owner = await _username(conn, token.user_id)
                await record(
                    conn, "token_revoke", by=by, target=str(token.id), details={"user": owner}
                )
        return len(revoked)

    async def purge_expired(self, token_max_age: timedelta | None = None) -> tuple[int, int]:
        """Delete ended sessions, and revoked tokens and those older than ``token_max_age``;
        returns (sessions, tokens) deleted."""
        now = utcnow()
        dead: ColumnElement[bool] = api_tokens.c.revoked_at.is_not(None)
        if token_max_age is not None:
            dead = or_(dead, api_tokens.c.created_at <= now - token_max_age)
        async with self.engine.begin() as conn:
            sessions = await conn.execute(
                delete(staff_sessions).where(staff_sessions.c.expires_at <= now)
            )
            tokens = await conn.execute(delete(api_tokens).where(dead))
        return int(sessions.rowcount or 0), int(tokens.rowcount or 0)

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
