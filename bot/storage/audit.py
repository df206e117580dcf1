"""The audit log: what staff did, when, from where.

Stores that change something on a person's behalf write the event with the change, in the
same transaction (:func:`record` on their connection), so no action is stored without its
record and no record survives an action that was rolled back. Events that change nothing
else (a sign-in, a failed one, a sign-out) go through :meth:`AuditLog.record`.

This module imports no other store, so any of them (and the hand-off SQL) can import it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Insert, Select, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.storage.rows import aware
from bot.storage.staff_schema import audit_events

ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "claim",
    "reply",
    "resolve",
    "handback",
    "user_created",
    "role_change",
    "password_change",
    "user_disabled",
    "user_enabled",
    "token_create",
    "token_revoke",
    "answer_saved",
    "answer_approved",
    "answer_rejected",
    "answer_reopened",
    "intent_correction",
    "review_label",
    "model_promote",
    "model_rollback",
)

# What the command line writes as the client: it has no address, and no signed-in actor.
CLI_CLIENT = "cli"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change, and from where: stores put both in the event they write."""

    username: str | None
    client: str | None = None


CLI = Actor(None, CLI_CLIENT)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str | None
    action: str
    target: str | None
    client: str | None
    details: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "client": self.client,
            "details": self.details,
        }


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        row.id,
        aware(row.at),
        row.actor,
        row.action,
        row.target,
        row.client,
        dict(row.details or {}),
    )


def _clip(value: str | None, size: int) -> str | None:
    # Usernames tried at a failed sign-in and forwarded addresses come from outside: a long
    # one is cut to the column rather than failing the action it records.
    return value[:size] if value is not None else None


def event_insert(
    action: str,
    *,
    by: Actor | None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> Insert:
    """The INSERT for one event, for a store to run in the transaction of its change."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; add it to ACTIONS")
    return insert(audit_events).values(
        at=datetime.now(UTC),
        actor=_clip(by.username if by else None, 64),
        action=action,
        target=_clip(target, 128),
        client=_clip(by.client if by else None, 64),
        details=details or None,
    )


async def record(
    conn: AsyncConnection,
    action: str,
    *,
    by: Actor | None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(event_insert(action, by=by, target=target, details=details))


def parse_since(text: str) -> datetime:
    """An ISO 8601 date or time (``2025-01-31``, ``2025-01-31T09:00:00Z``); UTC unless it
    says otherwise. ValueError naming what arrived and what is expected."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 date or time such as 2025-01-31 or 2025-01-31T09:00:00Z, "
            f"got {text!r}"
        ) from None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{text!r} is out of range: expected a time between the years 1 and 9999 in UTC"
        ) from None


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(
        self,
        action: str,
        *,
        by: Actor | None,
        target: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        async with self.engine.begin() as conn:
            await record(conn, action, by=by, target=target, details=details)

    async def events(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """The latest events first, at most ``limit``."""
        query = self._filtered(action, actor, since).order_by(audit_events.c.id.desc())
        async with self.engine.connect() as conn:
            return [_event(row) for row in await conn.execute(query.limit(limit))]

    async def stream(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        batch: int = 500,
    ) -> AsyncIterator[AuditEvent]:
        """Every matching event, oldest first, read a batch at a time so an export of a long
        log holds neither a connection nor the whole log in memory for long."""
        after = 0
        while True:
            query = (
                self._filtered(action, actor, since)
                .where(audit_events.c.id > after)
                .order_by(audit_events.c.id)
                .limit(batch)
            )
            async with self.engine.connect() as conn:
                rows = [_event(row) for row in await conn.execute(query)]
            for event in rows:
                yield event
            if len(rows) < batch:
                return
            after = rows[-1].id

    @staticmethod
    def _filtered(action: str | None, actor: str | None, since: datetime | None) -> Select[Any]:
        query = select(audit_events)
        if action is not None:
            query = query.where(audit_events.c.action == action)
        if actor is not None:
            query = query.where(audit_events.c.actor == actor)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        return query
