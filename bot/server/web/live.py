"""Turning store changes into live events, and JSON shapes shared by widget and console."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.chat.nlu import ParseResult
from bot.core.messages import Reply
from bot.server.appkeys import HUB
from bot.server.events import STAFF_TOPIC, conversation_topic
from bot.storage import Turn


async def conversation_changed(
    app: web.Application, conversation_id: str, *, staff: bool = True, kind: str = "changed"
) -> None:
    """Tell the conversation's widgets (and, with ``staff``, every console) to re-read it."""
    hub = app[HUB]
    await hub.publish(conversation_topic(conversation_id), {"type": kind})
    if staff:
        await hub.publish(STAFF_TOPIC, {"type": kind, "conversation_id": conversation_id})


def turn_listener(app: web.Application) -> Any:
    """The TurnListener the conversation processor calls after each customer turn."""

    async def on_turn(
        conversation_id: str, turn: Turn, parse: ParseResult | None, reply: Reply | None
    ) -> None:
        # Consoles care about conversations a person owns or is about to own.
        staff = reply is None or bool(reply.escalation_reason)
        await conversation_changed(app, conversation_id, staff=staff)

    return on_turn


def widget_turn(turn: Turn) -> dict[str, Any]:
    """What a customer sees of a turn: no model decisions, no internal data."""
    payload = turn.payload or {}
    item: dict[str, Any] = {
        "type": "turn",
        "id": turn.id,
        "role": turn.role,
        "text": turn.text,
        "created_at": turn.created_at.isoformat(),
    }
    if turn.role == "user" and turn.message_id:
        item["client_id"] = turn.message_id
    buttons = payload.get("buttons")
    if buttons:
        item["buttons"] = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in buttons
            if isinstance(b, dict)
        ]
    if payload.get("image"):
        item["image"] = str(payload["image"])
    return item


def staff_turn(turn: Turn) -> dict[str, Any]:
    """A turn with the bot's decision on it, for the console."""
    item = widget_turn(turn)
    item.pop("type")
    item.update(
        intent=turn.intent,
        confidence=turn.confidence,
        sentiment=turn.sentiment,
        sentiment_score=turn.sentiment_score,
        route=turn.route,
        answer_source=turn.answer_source,
        retrieval_score=turn.retrieval_score,
        reply_to=turn.reply_to,
        entities=turn.entities,
    )
    return item
