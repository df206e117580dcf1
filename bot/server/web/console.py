"""The staff console: login/logout, the queue and conversation pages, and their JSON APIs.

JSON APIs (session cookie + X-CSRF-Token, or Authorization: Bearer):

    GET  /api/me                                   who am I (any staff role)
    GET  /api/escalations[?status=open,claimed]    the queue (agent, ops, admin)
    POST /api/escalations/{id}/claim               claim, or {"assignee": NAME} to assign
    GET  /api/conversations/{id}                   transcript with decisions, notes, escalation
    POST /api/conversations/{id}/reply             {"text"}: an agent turn, pushed to the widget
    POST /api/conversations/{id}/notes             {"text"}: an internal note
    POST /api/conversations/{id}/resolve           close it; the widget asks for a rating
    POST /api/conversations/{id}/handback          the bot answers again
    POST /api/turns/{id}/correction                {"intent"}: right intent for a customer turn
    POST /api/turns/{id}/save-answer               {"question"?, "intent"?}: reply → Q&A index
    GET  /api/feedback/corrections.csv             (ops, admin)
    GET  /api/feedback/answers.csv                 (ops, admin)
    GET  /console/ws                               live "something changed" events for consoles
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from bot.server.appkeys import CONFIG, HUB, RUNTIME
from bot.server.events import STAFF_TOPIC
from bot.server.http.errors import ApiError
from bot.server.http.validation import json_object, text_field
from bot.server.runtime import NotReadyError
from bot.server.web import pages
from bot.server.web.auth import (
    AGENT_ROLES,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    STAFF_ROLES,
    Principal,
    api,
    authenticate,
    check_form_csrf,
    check_login,
    end_session,
    new_secret,
    page,
    require_role,
    set_cookie,
    staff_store,
    start_session,
)
from bot.server.web.feedback import answers_csv, corrections_csv
from bot.server.web.live import conversation_changed, staff_turn
from bot.storage.staff import ACTIVE_ESCALATION, QueueItem, StaffStore, StaffStoreError
from bot.storage.store import utcnow

log = logging.getLogger(__name__)

NOTE_MAX_CHARS = 5000
ESCALATION_STATUSES = ("open", "claimed", "resolved", "handed_back")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _int_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    try:
        return int(raw)
    except ValueError:
        raise ApiError(404, f"no {name.replace('_', ' ')} {raw!r}") from None


async def _conversation(store: StaffStore, conversation_id: str) -> Any:
    conversation = await store.conversation(conversation_id)
    if conversation is None:
        raise ApiError(404, f"no conversation {conversation_id!r}")
    return conversation


# Pages ---------------------------------------------------------------------------------


def _safe_next(value: object) -> str:
    text = value if isinstance(value, str) else ""
    parts = urlsplit(text)
    if not text.startswith("/") or text.startswith("//") or parts.scheme or parts.netloc:
        return "/console/"
    return text


async def login_form(request: web.Request) -> web.StreamResponse:
    principal = await authenticate(request)
    next_url = _safe_next(request.query.get("next"))
    if principal is not None and principal.via == "session":
        raise web.HTTPFound(next_url)
    csrf = new_secret()
    response = pages.layout("Sign in", pages.login_page(csrf=csrf, next_url=next_url), page="login")
    set_cookie(request, response, LOGIN_CSRF_COOKIE, csrf, path="/console/login")
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    next_url = _safe_next(form.get("next"))
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    sent = form.get(CSRF_FIELD)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)

    def again(message: str, status: int) -> web.Response:
        csrf = new_secret()
        response = pages.layout(
            "Sign in",
            pages.login_page(csrf=csrf, next_url=next_url, error=message, username=username),
            page="login",
            status=status,
        )
        set_cookie(request, response, LOGIN_CSRF_COOKIE, csrf, path="/console/login")
        return response

    if not expected or not isinstance(sent, str) or sent != expected:
        return again("The sign-in form expired; please try again.", 403)
    user = await check_login(request.app, username, password)
    if user is None:
        return again("Wrong username or password.", 401)
    response = web.HTTPFound(next_url)
    await start_session(request, response, user)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    raise response


async def api_login(request: web.Request) -> web.Response:
    """JSON sign-in for scripts and tests: sets the session cookie, returns the CSRF token."""
    body = await json_object(request)
    username = text_field(body, "username", max_chars=64) or ""
    password = text_field(body, "password", max_chars=1024) or ""
    user = await check_login(request.app, username.strip(), password)
    if user is None:
        raise ApiError(401, "wrong username or password")
    response = web.json_response({})
    csrf = await start_session(request, response, user)
    response.text = json.dumps({"user": user.public(), "csrf_token": csrf})
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    principal = await authenticate(request)
    if principal is not None and principal.via == "session":
        await check_form_csrf(request, principal, await request.post())
    response = web.HTTPFound("/console/login")
    await end_session(request, response, principal)
    raise response


async def console_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


@page(*STAFF_ROLES)
async def queue_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    return pages.layout("Queue", pages.QUEUE_BODY, principal=principal, page="queue")


@page(*STAFF_ROLES)
async def conversation_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    conversation_id = request.match_info["conversation_id"]
    await _conversation(staff_store(request.app), conversation_id)
    return pages.layout(
        "Conversation",
        pages.conversation_body(conversation_id),
        principal=principal,
        page="conversation",
        data={"conversation": conversation_id, "role": principal.role},
    )


# JSON APIs -----------------------------------------------------------------------------


@api(*STAFF_ROLES)
async def me(request: web.Request, principal: Principal) -> web.Response:
    return web.json_response({"user": principal.user.public(), "via": principal.via})


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
    items = await staff_store(request.app).queue(statuses)
    now = utcnow()
    return web.json_response({"escalations": [_queue_item(i, now) for i in items]})


@api(*AGENT_ROLES)
async def claim(request: web.Request, principal: Principal) -> web.Response:
    store = staff_store(request.app)
    escalation_id = _int_param(request, "escalation_id")
    assignee = principal.username
    if request.can_read_body:
        body = await json_object(request)
        named = text_field(body, "assignee", max_chars=64, required=False)
        if named is not None:
            user = await store.user_by_name(named.strip())
            if user is None or not user.active or user.role not in AGENT_ROLES:
                raise ApiError(400, f"field 'assignee': no active agent named {named!r}")
            assignee = user.username
    if await store.escalation(escalation_id) is None:
        raise ApiError(404, f"no escalation {escalation_id}")
    try:
        escalation = await store.claim(escalation_id, assignee)
    except StaffStoreError as exc:
        raise ApiError(409, f"{exc}; reload the queue") from None
    await conversation_changed(request.app, escalation.conversation_id)
    return web.json_response(
        {"id": escalation.id, "status": escalation.status, "assignee": escalation.assignee}
    )


def _intent_labels(request: web.Request) -> list[str]:
    try:
        runtime = request.app[RUNTIME].get()
    except NotReadyError:
        return []
    labels = runtime.nlu.models.intent.labels
    return sorted(str(label) for label in labels)


@api(*STAFF_ROLES)
async def conversation_detail(request: web.Request, principal: Principal) -> web.Response:
    store = staff_store(request.app)
    conversation = await _conversation(store, request.match_info["conversation_id"])
    turns = await store.turns_after(conversation.id, 0)
    escalation = await store.latest_escalation(conversation.id)
    corrections = {c.turn_id: c.intent for c in await store.corrections(conversation.id)}
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
            "intents": _intent_labels(request),
        }
    )


@api(*AGENT_ROLES)
async def reply(request: web.Request, principal: Principal) -> web.Response:
    store = staff_store(request.app)
    conversation = await _conversation(store, request.match_info["conversation_id"])
    body = await json_object(request)
    text = text_field(body, "text", max_chars=request.app[CONFIG].max_message_chars)
    assert text is not None
    escalation = await store.latest_escalation(conversation.id)
    if escalation is not None and escalation.status == "open":
        # Answering an unclaimed escalation claims it, so two agents do not both answer.
        with contextlib.suppress(StaffStoreError):
            await store.claim(escalation.id, principal.username)
    turn = await store.add_turn(
        conversation.id, "agent", text, payload={"custom": {"author": principal.username}}
    )
    await conversation_changed(request.app, conversation.id)
    return web.json_response({"turn": staff_turn(turn)}, status=201)


@api(*AGENT_ROLES)
async def add_note(request: web.Request, principal: Principal) -> web.Response:
    store = staff_store(request.app)
    conversation = await _conversation(store, request.match_info["conversation_id"])
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
    store = staff_store(request.app)
    conversation = await _conversation(store, request.match_info["conversation_id"])
    escalation = await store.close_conversation(
        conversation.id,
        escalation_status="resolved" if resolve else "handed_back",
        conversation_status="resolved" if resolve else "bot",
    )
    text = (
        "This conversation has been resolved by our team."
        if resolve
        else "You're chatting with the Northwind Goods assistant again."
    )
    await store.add_turn(
        conversation.id,
        "system",
        text,
        route="resolved" if resolve else "handed_back",
        payload={
            "custom": {"event": "resolved" if resolve else "handed_back", "by": principal.username}
        },
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


@api(*AGENT_ROLES)
async def correct_intent(request: web.Request, principal: Principal) -> web.Response:
    store = staff_store(request.app)
    turn = await store.get_turn(_int_param(request, "turn_id"))
    if turn is None:
        raise ApiError(404, f"no turn {request.match_info['turn_id']}")
    if turn.role != "user":
        raise ApiError(400, "only a customer's turn has an intent to correct")
    body = await json_object(request)
    intent = (text_field(body, "intent", max_chars=128) or "").strip()
    known = _intent_labels(request)
    if known and intent not in known:
        raise ApiError(400, f"field 'intent': {intent!r} is not one of the model's intents")
    correction = await store.correct(turn, intent, principal.username)
    await request.app[HUB].publish(
        STAFF_TOPIC, {"type": "changed", "conversation_id": turn.conversation_id}
    )
    return web.json_response(
        {
            "correction": {
                "id": correction.id,
                "turn_id": correction.turn_id,
                "text": correction.text,
                "predicted_intent": correction.predicted_intent,
                "intent": correction.intent,
            }
        },
        status=201,
    )


@api(*AGENT_ROLES)
async def save_answer(request: web.Request, principal: Principal) -> web.Response:
    from retrieval.base.qa import QAPair, stable_id

    store = staff_store(request.app)
    turn = await store.get_turn(_int_param(request, "turn_id"))
    if turn is None:
        raise ApiError(404, f"no turn {request.match_info['turn_id']}")
    if turn.role != "agent":
        raise ApiError(400, "only a staff reply can be saved as an answer")
    body = await json_object(request) if request.can_read_body else {}
    question = text_field(body, "question", max_chars=2000, required=False)
    intent = text_field(body, "intent", max_chars=128, required=False)
    if question is None:
        previous = await store.previous_user_turn(turn)
        if previous is None:
            raise ApiError(400, "no customer question precedes this reply; send 'question'")
        question = previous.text
        intent = intent or previous.intent
    runtime = request.app[RUNTIME].get()
    index = runtime.index
    if index is None:
        raise ApiError(
            409, "the bot has no answer index; build one with 'frontdesk index build' first"
        )
    pair = QAPair(
        id=stable_id(question), question=question.strip(), answer=turn.text, intent=intent
    )
    config = request.app[CONFIG]
    loop = asyncio.get_running_loop()

    def add_and_save() -> None:
        index.add([pair])
        index.save(config.index_path)

    # The model thread encodes the question; the index is searched by the same thread.
    await loop.run_in_executor(runtime.executor, add_and_save)
    saved = await store.save_answer(
        pair.id, pair.question, pair.answer, pair.intent, principal.username, turn.id
    )
    return web.json_response(
        {
            "answer": {
                "id": saved.qa_id,
                "question": saved.question,
                "answer": saved.answer,
                "intent": saved.intent,
            }
        },
        status=201,
    )


def _csv(text: str, filename: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@api("ops", "admin")
async def export_corrections(request: web.Request, principal: Principal) -> web.Response:
    return _csv(corrections_csv(await staff_store(request.app).corrections()), "corrections.csv")


@api("ops", "admin")
async def export_answers(request: web.Request, principal: Principal) -> web.Response:
    return _csv(answers_csv(await staff_store(request.app).saved_answers()), "answers.csv")


async def console_events(request: web.Request) -> web.StreamResponse:
    """Live notifications for consoles: ``{"type": "changed", "conversation_id"}``."""
    await require_role(request, *STAFF_ROLES)
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise ApiError(403, "cross-site WebSocket connections are refused")
    ws = web.WebSocketResponse(heartbeat=25)
    await ws.prepare(request)
    hub = request.app[HUB]
    with hub.subscribe(STAFF_TOPIC) as queue:

        async def pump() -> None:
            while True:
                event = await queue.get()
                await ws.send_json(
                    {"type": "changed", "conversation_id": event.get("conversation_id")}
                )

        task = asyncio.get_running_loop().create_task(pump())
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
    return ws
