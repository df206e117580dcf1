"""The customer widget: its script, the demo shop page, conversation tokens and the WebSocket.

    GET  /widget.js, /widget.css   the embeddable widget (CORS-open, no build step)
    GET  /                         a demo shop page with the widget on it
    POST /widget/session           {"token"?} → {"token"}: a new (or the same, still valid)
                                   unguessable conversation token; only its SHA-256 is stored
    GET  /widget/ws?token=T&after=N  the live chat

WebSocket protocol (JSON text frames):

    client → {"type": "message", "text", "client_id"}   stored once per client_id, so a resend
                                                         after a reconnect is not duplicated
             {"type": "rating", "score": 1..5}           after a resolved hand-off
    server → {"type": "turn", "id", "role", "text", "buttons"?, "client_id"?, "created_at"}
             {"type": "status", "status", "rating_requested"}
             {"type": "typing", "on"}
             {"type": "error", "error", "client_id"?, "retry"}
             {"type": "rated", "score"}

On connect the server sends every visible turn with an id above ``after`` (the last one the
client has), then keeps pushing new ones: nothing is lost across a reconnect, nothing repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from bot.server.appkeys import CONFIG, HUB, LIMITS, RUNTIME
from bot.server.events import conversation_topic
from bot.server.http.errors import ApiError
from bot.server.http.validation import decode_json
from bot.server.ratelimit import retry_after_header
from bot.server.runtime import NotReadyError
from bot.server.web.auth import SECURITY_HEADERS, digest, new_secret
from bot.server.web.live import conversation_changed, widget_turn
from bot.server.web.stores import account_store, escalation_store
from bot.storage import Conversation
from bot.storage.accounts import AccountStore

log = logging.getLogger(__name__)

CHANNEL = "widget"
STATIC = Path(__file__).resolve().parent / "static"
VISIBLE_ROLES = ("user", "bot", "agent", "system")
CLIENT_ID_MAX = 128
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}


def _static(name: str, content_type: str) -> web.FileResponse:
    response = web.FileResponse(STATIC / name, headers={"Access-Control-Allow-Origin": "*"})
    response.content_type = content_type
    response.headers["Cache-Control"] = "no-cache"
    return response


async def widget_js(request: web.Request) -> web.StreamResponse:
    return _static("widget.js", "text/javascript")


async def widget_css(request: web.Request) -> web.StreamResponse:
    return _static("widget.css", "text/css")


DEMO_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Northwind Goods · Kitchenware and home</title>
<link rel="stylesheet" href="/static/shop.css">
</head><body>
<header class="shop-header"><p class="logo">Northwind Goods</p>
<nav aria-label="Shop"><a href="/">Kettles</a> <a href="/">Pans</a>
<a href="/">Gifts</a></nav></header>
<main class="shop">
<h1>Everything for a kitchen you love</h1>
<p>Free delivery over 50 EUR · 30-day returns · Help 24/7 in the chat below.</p>
<ul class="products">
<li><h2>Stainless kettle</h2><p>1.7 l, 220-240 V</p><p class="price">39 EUR</p></li>
<li><h2>Cast-iron pan</h2><p>28 cm, oven safe</p><p class="price">54 EUR</p></li>
<li><h2>Gift box</h2><p>Wrapped for you</p><p class="price">3 EUR</p></li>
</ul></main>
<script src="/widget.js" defer data-open="true" data-title="{title}" data-colour="#1f6f5c"
 data-greeting="Hi! Ask me about orders, deliveries and returns."></script>
</body></html>
"""


async def demo_page(request: web.Request) -> web.Response:
    return web.Response(
        text=DEMO_PAGE.replace("{title}", html.escape("Northwind Goods help")),
        content_type="text/html",
        headers=SECURITY_HEADERS,
    )


async def session_preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=CORS)


async def _check_rate(
    request: web.Request, key: str, what: str, *, per_sender: bool = False
) -> None:
    limits = request.app[LIMITS]
    limiter = limits.per_sender if per_sender else limits.per_ip
    wait = await limiter.check(key)
    if wait:
        raise ApiError(
            429,
            f"too many requests from {what}: the limit is {limiter.per_minute} a minute",
            headers={"Retry-After": retry_after_header(wait), **CORS},
        )


async def create_conversation(store: AccountStore, app: web.Application) -> tuple[str, str]:
    """A new widget conversation and its token (returned once, stored hashed)."""
    from bot.server.appkeys import STORE

    sender_id = "w-" + new_secret()[:22]
    conversation = await app[STORE].conversation_for(CHANNEL, sender_id)
    token = new_secret()
    await store.add_conversation_token(digest(token), conversation.id)
    return token, conversation.id


async def widget_session(request: web.Request) -> web.Response:
    store = account_store(request.app)
    body: dict[str, Any] = {}
    if request.can_read_body:
        raw = await request.read()
        if raw.strip():
            decoded = decode_json(raw, headers=CORS)
            if isinstance(decoded, dict):
                body = decoded
    token = body.get("token")
    if isinstance(token, str) and token:
        conversation = await store.conversation_for_token(digest(token))
        if conversation is not None:
            return web.json_response({"token": token, "resumed": True}, headers=CORS)
    await _check_rate(request, f"widget-session:{request.remote or '-'}", "this address")
    token, _ = await create_conversation(store, request.app)
    return web.json_response({"token": token, "resumed": False}, status=201, headers=CORS)


async def conversation_of(request: web.Request, token: str | None) -> Conversation:
    if not token:
        raise ApiError(401, "a conversation token is required: POST /widget/session first")
    conversation = await account_store(request.app).conversation_for_token(digest(token))
    if conversation is None:
        raise ApiError(401, "unknown conversation token: POST /widget/session for a new one")
    return conversation


async def widget_turns(request: web.Request) -> web.Response:
    """The conversation's visible turns for a token (``X-Conversation-Token``), after ``after``."""
    conversation = await conversation_of(request, request.headers.get("X-Conversation-Token"))
    after = _after(request.query.get("after"))
    turns = await escalation_store(request.app).turns_after(conversation.id, after, VISIBLE_ROLES)
    return web.json_response({"turns": [widget_turn(t) for t in turns]})


def _after(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        raise ApiError(400, "'after' must be a turn id (an integer)") from None


class WidgetConnection:
    """One open widget: pushes new turns and status changes, takes messages and ratings."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        conversation: Conversation,
        after: int,
    ) -> None:
        self.app = request.app
        self.request = request
        self.ws = ws
        self.conversation_id = conversation.id
        self.sender_id = conversation.sender_id
        self.store = escalation_store(request.app)
        self.cursor = after
        self.sent_status: tuple[str, bool] | None = None
        self._pull_lock = asyncio.Lock()

    async def pull(self) -> None:
        """Send what the client has not seen yet, read from the store."""
        async with self._pull_lock:
            if self.ws.closed:
                return
            turns = await self.store.turns_after(self.conversation_id, self.cursor, VISIBLE_ROLES)
            for turn in turns:
                await self.ws.send_json(widget_turn(turn))
                self.cursor = turn.id
            status = await self.status()
            if status != self.sent_status:
                await self.ws.send_json(
                    {"type": "status", "status": status[0], "rating_requested": status[1]}
                )
                self.sent_status = status

    async def status(self) -> tuple[str, bool]:
        conversation = await self.store.conversation(self.conversation_id)
        state = conversation.status if conversation else "bot"
        if state != "resolved":
            return state, False
        escalation = await self.store.latest_escalation(self.conversation_id)
        if escalation is None or escalation.status != "resolved":
            return state, False
        return state, await self.store.rating(escalation.id) is None

    async def handle_message(self, data: dict[str, Any]) -> None:
        config = self.app[CONFIG]
        text = data.get("text")
        client_id = data.get("client_id")
        if client_id is not None and (
            not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX
        ):
            await self.error(f"client_id must be a string of at most {CLIENT_ID_MAX} characters")
            return
        if not isinstance(text, str) or not text.strip():
            await self.error("a message needs some text", client_id)
            return
        if len(text) > config.max_message_chars:
            await self.error(
                f"the message is {len(text)} characters; the limit is {config.max_message_chars}",
                client_id,
            )
            return
        limits = self.app[LIMITS]
        for limiter, key in (
            (limits.per_ip, self.request.remote or "-"),
            (limits.per_sender, f"{CHANNEL}:{self.sender_id}"),
        ):
            wait = await limiter.check(key)
            if wait:
                await self.error(
                    f"too many messages: please wait {int(wait) + 1} seconds", client_id, retry=True
                )
                return
        try:
            runtime = self.app[RUNTIME].get()
        except NotReadyError:
            await self.error(
                "the assistant is starting up; retrying shortly", client_id, retry=True
            )
            return
        await self.ws.send_json({"type": "typing", "on": True})
        try:
            # Shielded: a customer who closes the tab mid-answer still gets the answer stored.
            await asyncio.shield(
                runtime.processor.handle(CHANNEL, self.sender_id, text, message_id=client_id)
            )
        except Exception:
            log.exception("answering a widget message failed")
            await self.error("something went wrong; retrying shortly", client_id, retry=True)
        finally:
            if not self.ws.closed:
                await self.ws.send_json({"type": "typing", "on": False})
        await self.pull()

    async def handle_rating(self, data: dict[str, Any]) -> None:
        score = data.get("score")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            await self.error("a rating is a whole number from 1 to 5")
            return
        conversation = await self.store.conversation(self.conversation_id)
        escalation = await self.store.latest_escalation(self.conversation_id)
        if (
            conversation is None
            or conversation.status != "resolved"
            or escalation is None
            or escalation.status != "resolved"
        ):
            await self.error("there is no resolved conversation with our team to rate yet")
            return
        if not await self.store.rate(escalation.id, self.conversation_id, score):
            await self.error("this conversation has already been rated")
            return
        await self.ws.send_json({"type": "rated", "score": score})
        await conversation_changed(self.app, self.conversation_id)

    async def error(self, message: str, client_id: Any = None, *, retry: bool = False) -> None:
        if self.ws.closed:
            return
        event: dict[str, Any] = {"type": "error", "error": message, "retry": retry}
        if isinstance(client_id, str):
            event["client_id"] = client_id
        await self.ws.send_json(event)


async def widget_socket(request: web.Request) -> web.StreamResponse:
    conversation = await conversation_of(request, request.query.get("token"))
    after = _after(request.query.get("after"))
    ws = web.WebSocketResponse(heartbeat=25, max_msg_size=256 * 1024)
    await ws.prepare(request)
    connection = WidgetConnection(request, ws, conversation, after)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
    loop = asyncio.get_running_loop()

    with request.app[HUB].subscribe(conversation_topic(conversation.id)) as events:

        async def pump() -> None:
            while True:
                await events.get()
                while not events.empty():  # one read of the store covers a burst
                    events.get_nowait()
                await connection.pull()

        async def work() -> None:
            # One message at a time, in order, without blocking the socket's reader.
            while True:
                data = await inbox.get()
                if data.get("type") == "message":
                    await connection.handle_message(data)
                elif data.get("type") == "rating":
                    await connection.handle_rating(data)

        tasks = [loop.create_task(pump()), loop.create_task(work())]
        try:
            await connection.pull()
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    if message.type == WSMsgType.ERROR:
                        break
                    continue
                try:
                    data = message.json()
                except ValueError:
                    await connection.error("send JSON objects")
                    continue
                if not isinstance(data, dict) or data.get("type") not in {"message", "rating"}:
                    await connection.error("unknown message; expected type message or rating")
                    continue
                try:
                    inbox.put_nowait(data)
                except asyncio.QueueFull:
                    await connection.error(
                        "too many messages at once", data.get("client_id"), retry=True
                    )
        except ConnectionError:
            pass
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                    await task
    return ws
