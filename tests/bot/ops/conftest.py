"""Helpers for the ops tests: a bare app (no models) and customer turns fed to the monitor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.ops.service import TurnItem
from bot.server.appkeys import OPS, STORE
from bot.storage.ops_store import epoch

NOW = datetime.now(UTC)

# Loose rules so a handful of messages raise an alert.
QUICK_ALERTS: dict[str, Any] = {
    "negative_share": {"threshold": 0.5, "window": "10m", "min_volume": 4},
    "surge": {"enabled": False},
    "overall": False,
}


async def customer_turns(
    app: web.Application,
    rows: list[tuple[str, str]],
    *,
    start: datetime | None = None,
    step: timedelta = timedelta(seconds=30),
    sender: str = "cust",
) -> list[str]:
    """Store a customer turn per (intent, sentiment) row and hand each to the monitor;
    returns the conversation ids. Waits until the monitor has recorded them all."""
    store = app[STORE]
    when = start or NOW - step * len(rows)
    ids = []
    for i, (intent, sentiment) in enumerate(rows):
        conversation = await store.conversation_for("rest", f"{sender}-{i}")
        turn, _ = await store.add_user_turn(conversation.id, f"message {i} about {intent}")
        app[OPS].submit(
            TurnItem(
                conversation_id=conversation.id,
                turn_id=turn.id,
                ts=epoch(when + step * i),
                intent=intent,
                sentiment=sentiment,
                score=0.9,
            )
        )
        ids.append(conversation.id)
    await app[OPS].settle()
    return ids
