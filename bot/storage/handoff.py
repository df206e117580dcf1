"""What the hand-off writes to the conversation tables: an agent's reply, and a resolve or
hand back.

Work for :class:`bot.storage.Store`'s transactions, called through its ``add_agent_turn`` and
``close_handoff``: there they run with the chat's own writes (on SQLite, queued in its one
writer thread) instead of contending for the write lock from a second connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from bot.storage.audit import Actor, event_insert
from bot.storage.records import Escalation, Turn
from bot.storage.rows import record_from_row
from bot.storage.schema import conversations, escalations, turns

# Escalations still waiting for a person: the queue, and what resolve or hand back closes.
ACTIVE_ESCALATION = ("open", "claimed")


def _insert_turn(conn: Connection, values: dict[str, Any]) -> Turn:
    row = conn.execute(insert(turns).values(**values).returning(turns)).one()
    return record_from_row(Turn, row)


def add_agent_turn(
    conn: Connection,
    conversation_id: str,
    author: str,
    text: str,
    now: datetime,
    by: Actor | None = None,
) -> Turn:
    turn = _insert_turn(
        conn,
        {
            "conversation_id": conversation_id,
            "role": "agent",
            "text": text,
            "payload": {"custom": {"author": author}},
            "created_at": now,
        },
    )
    conn.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(updated_at=now)
    )
    conn.execute(
        event_insert(
            "reply", by=by or Actor(author), target=conversation_id, details={"turn": turn.id}
        )
    )
    return turn


def close_handoff(
    conn: Connection,
    conversation_id: str,
    *,
    escalation_status: str,
    conversation_status: str,
    notice: str,
    author: str,
    now: datetime,
    by: Actor | None = None,
) -> Escalation | None:
    """Close the conversation's active escalations, set its status and tell the customer in a
    system turn (route and event ``escalation_status``). Returns the latest escalation it
    closed."""
    closed: dict[str, Any] = {"status": escalation_status, "updated_at": now}
    if escalation_status == "resolved":
        closed["resolved_at"] = now
    active = select(escalations.c.id).where(
        escalations.c.conversation_id == conversation_id,
        escalations.c.status.in_(ACTIVE_ESCALATION),
    )
    ids = [row.id for row in conn.execute(active)]
    if ids:
        conn.execute(update(escalations).where(escalations.c.id.in_(ids)).values(**closed))
    conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(status=conversation_status, updated_at=now)
    )
    _insert_turn(
        conn,
        {
            "conversation_id": conversation_id,
            "role": "system",
            "text": notice,
            "route": escalation_status,
            "payload": {"custom": {"event": escalation_status, "by": author}},
            "created_at": now,
        },
    )
    conn.execute(
        event_insert(
            "resolve" if escalation_status == "resolved" else "handback",
            by=by or Actor(author),
            target=conversation_id,
            details={"escalations": ids},
        )
    )
    if not ids:
        return None
    latest = conn.execute(select(escalations).where(escalations.c.id == max(ids))).one()
    return record_from_row(Escalation, latest)
