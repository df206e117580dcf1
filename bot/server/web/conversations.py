"""The hand-off workflow's JSON APIs: the queue, claims, and a conversation's transcript,
replies, notes, resolve and hand back.

Session cookie + X-CSRF-Token, or Authorization: Bearer:

    GET  /api/escalations[?status=open,claimed]    the queue (agent, ops, admin)
    POST /api/escalations/{id}/claim               claim, or {"assignee": NAME} to assign
    GET  /api/conversations/{id}                   transcript with decisions, notes, escalation
    POST /api/conversations/{id}/reply             {"text"}: an agent turn, pushed to the widget
    POST /api/conversations/{id}/notes             {"text"}: an internal note
    POST /api/conversations/{id}/resolve           close it; the widget asks for a rating
    POST /api/conversations/{id}/handback          the bot answers again
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, NotRequired

from aiohttp import web
from typing_extensions import TypedDict

from bot.server.appkeys import CONFIG, HUB, RUNTIME, STORE
from bot.server.events import STAFF_TOPIC
from bot.server.http.errors import ApiError
from bot.server.http.rest import Button
from bot.server.http.validation import json_object, path_id, text_field
from bot.server.runtime import NotReadyError
from bot.server.web.auth import AGENT_ROLES, STAFF_ROLES, Principal, api
from bot.server.web.live import conversation_changed, staff_turn
from bot.server.web.stores import account_store, actor, escalation_store, feedback_store
from bot.storage import Conversation
from bot.storage.escalations import EscalationError, EscalationStore, QueueItem
from bot.storage.handoff import ACTIVE_ESCALATION
from bot.storage.store import utcnow

NOTE_MAX_CHARS = 5000
ESCALATION_STATUSES = ("open", "claimed", "resolved", "handed_back")
RESOLVED_NOTICE = "This conversation has been resolved by our team."
HANDED_BACK_NOTICE = "You're chatting with the Northwind Goods assistant again."


# The bodies below, read by /openapi.json ----------------------------------------------


class TextBody(TypedDict):
    text: str


class ClaimBody(TypedDict, total=False):
    """Empty to claim for yourself; an agent's name to assign it (admins and agents)."""

    assignee: str | None


class StaffTurn(TypedDict):
    id: int
    role: str
    text: str
    created_at: str
    client_id: NotRequired[str]
    buttons: NotRequired[list[Button]]
    image: NotRequired[str]
    intent: str | None
    confidence: float | None
    sentiment: str | None
    sentiment_score: float | None
    route: str | None
    answer_source: str | None
    retrieval_score: float | None
    reply_to: int | None
    entities: list[dict[str, Any]] | None
    corrected_intent: NotRequired[str | None]


class LastMessage(TypedDict):
    role: str
    text: str
    created_at: str | None


class QueueEntry(TypedDict):
    id: int
    conversation_id: str
    channel: str
    reason: str
    status: str
    assignee: str | None
    created_at: str | None
    waiting_s: float
    last_message: LastMessage | None
    last_customer_at: str | None
    sentiment: str | None


class EscalationQueue(TypedDict):
    escalations: list[QueueEntry]


class Claimed(TypedDict):
    id: int
    status: str
    assignee: str | None


class ConversationInfo(TypedDict):
    id: str
    channel: str
    sender_id: str
    status: str
    slots: dict[str, Any]
    created_at: str | None
    updated_at: str | None


class EscalationInfo(TypedDict):
    id: int
    reason: str
    status: str
    assignee: str | None
    created_at: str | None
    resolved_at: str | None
    rating: int | None


class Note(TypedDict):
    id: int
    author: str
    text: str
    created_at: str | None


class ConversationDetail(TypedDict):
    conversation: ConversationInfo
    escalation: EscalationInfo | None
    turns: list[StaffTurn]
    notes: list[Note]
    intents: list[str]


class TurnAdded(TypedDict):
    turn: StaffTurn


class NoteAdded(TypedDict):
    note: Note


class Closed(TypedDict):
    conversation_id: str
    status: str
    escalation_id: int | None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def int_param(request: web.Request, name: str) -> int:
    """A numeric id from the URL; anything else names nothing, so 404."""
    return path_id(request, name)


async def conversation_or_404(store: EscalationStore, conversation_id: str) -> Conversation:
    conversation = await store.conversation(conversation_id)
    if conversation is None:
        raise ApiError(404, f"no conversation {conversation_id!r}")
    return conversation


def intent_labels(request: web.Request) -> list[str]:
    """The intent model's labels; none while the models are still loading."""
    try:
        runtime = request.app[RUNTIME].get()
    except NotReadyError:
        return []
    labels = runtime.nlu.models.intent.labels
    return sorted(str(label) for label in labels)


def _queue_item(item: QueueItem, now: datetime) -> dict[str, Any]:
    escalation = item.escalation
    last = item.last_message
    customer = item.last_customer_message
    return {
        "id": escalation.id,
        "conversation_id": escalation.conversation_id,
        "channel": item.conversation.channel,
        "reason": escalation.reason,
        "status": escalation.status,
        "assignee": escalation.assignee,
        "created_at": _iso(escalation.created_at),
        "waiting_s": round((now - escalation.created_at).total_seconds(), 1),
        "last_message": (
            {"role": last.role, "text": last.text, "created_at": _iso(last.created_at)}
            if last
            else None
        ),
        "last_customer_at": _iso(customer.created_at) if customer else None,
        "sentiment": item.sentiment,
    }


@api(*STAFF_ROLES)
async def escalation_queue(request: web.Request, principal: Principal) -> web.Response:
    raw = request.query.get("status", ",".join(ACTIVE_ESCALATION))
    statuses = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = [s for s in statuses if s not in ESCALATION_STATUSES]
    if unknown or not statuses:
        raise ApiError(
            400, f"status must be a comma-separated list of {', '.join(ESCALATION_STATUSES)}"
        )
    items = await escalation_store(request.app).queue(statuses)
    now = utcnow()
    return web.json_response({"escalations": [_queue_item(i, now) for i in items]})


@api(*AGENT_ROLES)
async def claim(request: web.Request, principal: Principal) -> web.Response:
    store = escalation_store(request.app)
    escalation_id = int_param(request, "escalation_id")
    assignee = principal.username
    if request.can_read_body:
        body = await json_object(request)
        named = text_field(body, "assignee", max_chars=64, required=False)
        if named is not None:
            user = await account_store(request.app).user_by_name(named.strip())
            if user is None or not user.active or user.role not in AGENT_ROLES:
                raise ApiError(400, f"field 'assignee': no active agent named {named!r}")
            assignee = user.username
    if await store.escalation(escalation_id) is None:
        raise ApiError(404, f"no escalation {escalation_id}")
    try:
        escalation = await store.claim(
            escalation_id, assignee, by=actor(request, principal.username)
        )
    except EscalationError as exc:
        raise ApiError(409, f"{exc}; reload the queue") from None
    await conversation_changed(request.app, escalation.conversation_id)
    return web.json_response(
        {"id": escalation.id, "status": escalation.status, "assignee": escalation.assignee}
    )


@api(*STAFF_ROLES)
async def conversation_detail(request: web.Request, principal: Principal) -> web.Response:
    store = escalation_store(request.app)
    conversation = await conversation_or_404(store, request.match_info["conversation_id"])
    turns = await store.turns_after(conversation.id, 0)
    escalation = await store.latest_escalation(conversation.id)
    corrected = await feedback_store(request.app).corrections(conversation.id)
    corrections = {c.turn_id: c.intent for c in corrected}
    items = []
    for turn in turns:
        item = staff_turn(turn)
        item["corrected_intent"] = corrections.get(turn.id)
        items.append(item)
    return web.json_response(
        {
            "conversation": {
                "id": conversation.id,
                "channel": conversation.channel,
                "sender_id": conversation.sender_id,
                "status": conversation.status,
                "slots": dict(conversation.slots),
                "created_at": _iso(conversation.created_at),
                "updated_at": _iso(conversation.updated_at),
            },
            "escalation": (
                {
                    "id": escalation.id,
                    "reason": escalation.reason,
                    "status": escalation.status,
                    "assignee": escalation.assignee,
                    "created_at": _iso(escalation.created_at),
                    "resolved_at": _iso(escalation.resolved_at),
                    "rating": await store.rating(escalation.id),
                }
                if escalation
                else None
            ),
            "turns": items,
            "notes": [
                {"id": n.id, "author": n.author, "text": n.text, "created_at": _iso(n.created_at)}
                for n in await store.notes(conversation.id)
            ],
            "intents": intent_labels(request),
        }
    )


@api(*AGENT_ROLES)
async def reply(request: web.Request, principal: Principal) -> web.Response:
    store = escalation_store(request.app)
    conversation = await conversation_or_404(store, request.match_info["conversation_id"])
    body = await json_object(request)
    text = text_field(body, "text", max_chars=request.app[CONFIG].max_message_chars)
    assert text is not None
    escalation = await store.latest_escalation(conversation.id)
    by = actor(request, principal.username)
    if escalation is not None and escalation.status == "open":
        # Answering an unclaimed escalation claims it, so two agents do not both answer.
        with contextlib.suppress(EscalationError):
            await store.claim(escalation.id, principal.username, by=by)
    turn = await request.app[STORE].add_agent_turn(conversation.id, principal.username, text, by=by)
    await conversation_changed(request.app, conversation.id)
    return web.json_response({"turn": staff_turn(turn)}, status=201)


@api(*AGENT_ROLES)
async def add_note(request: web.Request, principal: Principal) -> web.Response:
    store = escalation_store(request.app)
    conversation = await conversation_or_404(store, request.match_info["conversation_id"])
    body = await json_object(request)
    text = text_field(body, "text", max_chars=NOTE_MAX_CHARS)
    assert text is not None
    note = await store.add_note(conversation.id, principal.username, text)
    # Notes are internal: consoles hear about them, widgets do not.
    await request.app[HUB].publish(
        STAFF_TOPIC, {"type": "changed", "conversation_id": conversation.id}
    )
    return web.json_response(
        {
            "note": {
                "id": note.id,
                "author": note.author,
                "text": note.text,
                "created_at": _iso(note.created_at),
            }
        },
        status=201,
    )


async def _close(request: web.Request, principal: Principal, *, resolve: bool) -> web.Response:
    store = escalation_store(request.app)
    conversation = await conversation_or_404(store, request.match_info["conversation_id"])
    escalation = await request.app[STORE].close_handoff(
        conversation.id,
        escalation_status="resolved" if resolve else "handed_back",
        conversation_status="resolved" if resolve else "bot",
        notice=RESOLVED_NOTICE if resolve else HANDED_BACK_NOTICE,
        author=principal.username,
        by=actor(request, principal.username),
    )
    await conversation_changed(request.app, conversation.id)
    return web.json_response(
        {
            "conversation_id": conversation.id,
            "status": "resolved" if resolve else "bot",
            "escalation_id": escalation.id if escalation else None,
        }
    )


@api(*AGENT_ROLES)
async def resolve(request: web.Request, principal: Principal) -> web.Response:
    return await _close(request, principal, resolve=True)


@api(*AGENT_ROLES)
async def handback(request: web.Request, principal: Principal) -> web.Response:
    return await _close(request, principal, resolve=False)
