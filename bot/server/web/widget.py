"""The customer widget: its script, the demo shop page, conversation tokens and the WebSocket.

    GET  /widget.js, /widget.css   the embeddable widget (CORS-open, no build step)
    GET  /                         a demo shop page with the widget on it
    POST /widget/session           {"token"?} → {"token", "resumed"}: the same token while it
                                   is valid, else a new unguessable one (only its SHA-256 is
                                   stored); a token expires widget_token_minutes after its
                                   session began
    GET  /widget/turns?after=N     the visible turns; the token in X-Conversation-Token
    GET  /widget/ws?after=N        the live chat; the token in the first frame

Tokens stay out of URLs, which proxies and access logs keep. Pages from other origins than
this server's may use the session endpoint and the socket only when listed in
``widget_origins``; any other gets a 403 naming its origin.

WebSocket protocol (JSON text frames):

    client → {"type": "auth", "token"}                  first, within AUTH_TIMEOUT_S
             {"type": "message", "text", "client_id"}   stored once per client_id, so a resend
                                                         after a reconnect is not duplicated
             {"type": "rating", "score": 1..5}           after a resolved hand-off
    server → {"type": "turn", "id", "role", "text", "buttons"?, "client_id"?, "created_at"}
             {"type": "status", "status", "rating_requested"}
             {"type": "typing", "on"}
             {"type": "error", "error", "code"?, "client_id"?, "retry"}
             {"type": "rated", "score"}

A refused socket gets an error frame with a ``code`` and is closed with a matching close
code: auth_required 4400, token_unknown and token_expired 4401 (start a new session),
auth_timeout 4408, too_many_sockets 4429 (widget_sockets_per_token, widget_sockets_per_ip).
A socket open when its token expires is closed the same way.

Once authenticated the server sends every visible turn with an id above ``after`` (the last
one the client has), then keeps pushing new ones: nothing is lost across a reconnect, nothing
repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import weakref
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from yarl import URL

from bot.server.appkeys import CONFIG, HUB, LIMITS, REDIS, RUNTIME
from bot.server.events import conversation_topic
from bot.server.fleet import fleet_id
from bot.server.http.errors import ApiError
from bot.server.http.validation import decode_json
from bot.server.ratelimit import (
    OpenCounts,
    address_key,
    client_address,
    retry_after_header,
)
from bot.server.runtime import NotReadyError
from bot.server.web.auth import SECURITY_HEADERS, digest, new_secret
from bot.server.web.live import conversation_changed, widget_turn
from bot.server.web.stores import account_store, escalation_store
from bot.storage import Conversation
from bot.storage.accounts import AccountStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

CHANNEL = "widget"
STATIC = Path(__file__).resolve().parent / "static"
VISIBLE_ROLES = ("user", "bot", "agent", "system")
CLIENT_ID_MAX = 128
TOKEN_HEADER = "X-Conversation-Token"
# With Access-Control-Allow-Origin set to the one origin allowed (see cors_headers).
CORS = {
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


# Origins ---------------------------------------------------------------------------------


def _normal_origin(text: str) -> str | None:
    """``scheme://host[:port]`` in one spelling (lower case, no default port); None for an
    Origin that is not one (browsers send "null" from sandboxed frames and file: pages)."""
    try:
        url = URL(text.strip())
        if url.scheme not in {"http", "https"} or not url.host:
            return None
        return str(url.origin()).lower()
    except ValueError:
        return None


def _own_origin(request: web.Request, origin: str) -> bool:
    # Host and port only, as the console does: behind a proxy that ends TLS the app sees
    # http while the page is https, and both name this server.
    netloc = urlsplit(origin).netloc.lower()
    return bool(netloc) and netloc == request.host.lower()


def allowed_origin(request: web.Request) -> str | None:
    """The request's Origin when it may use the widget, None when it sent none (not a
    browser, so there is no page to protect); ApiError 403 for any other origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    listed = request.app[CONFIG].widget_origins
    if _own_origin(request, origin) or "*" in listed:
        return origin
    normal = _normal_origin(origin)
    if normal is not None and normal in {_normal_origin(o) for o in listed}:
        return origin
    raise ApiError(
        403,
        f"the page at origin {origin!r} may not use this chat widget: only this server's own "
        "pages and those listed in the setting widget_origins may; add it there, e.g. "
        f"widget_origins = [{origin!r}] in frontdesk.toml or FRONTDESK_WIDGET_ORIGINS={origin}",
        headers={"Vary": "Origin"},
    )


def cors_headers(origin: str | None) -> dict[str, str]:
    """CORS headers that name ``origin`` (one :func:`allowed_origin` let through) and no other."""
    if origin is None:
        return {"Vary": "Origin"}
    return {"Vary": "Origin", "Access-Control-Allow-Origin": origin, **CORS}


async def session_preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=cors_headers(allowed_origin(request)))


async def _check_rate(request: web.Request, key: str, what: str, headers: dict[str, str]) -> None:
    limiter = request.app[LIMITS].per_ip
    wait = await limiter.check(key)
    if wait:
        raise ApiError(
            429,
            f"too many requests from {what}: the limit is {limiter.per_minute} a minute",
            headers={"Retry-After": retry_after_header(wait), **headers},
        )


# Tokens --------------------------------------------------------------------------------


async def create_conversation(store: AccountStore, app: web.Application) -> tuple[str, str]:
    """A new widget conversation and its token (returned once, stored hashed)."""
    from bot.server.appkeys import STORE

    sender_id = "w-" + new_secret()[:22]
    conversation = await app[STORE].conversation_for(CHANNEL, sender_id)
    token = new_secret()
    await store.add_conversation_token(digest(token), conversation.id)
    return token, conversation.id


class TokenRefused(Exception):
    """A widget token that opens nothing: ``code`` is token_unknown or token_expired."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def expires_at(app: web.Application, conversation: Conversation) -> datetime | None:
    """When the conversation's token stops working: widget_token_minutes after the session
    began (a token and its conversation are made together); None when tokens never expire."""
    minutes = app[CONFIG].widget_token_minutes
    return conversation.created_at + timedelta(minutes=minutes) if minutes > 0 else None


async def token_conversation(app: web.Application, token: str) -> Conversation:
    """The conversation a token opens; TokenRefused when it is unknown or has expired."""
    conversation = await account_store(app).conversation_for_token(digest(token))
    if conversation is None:
        raise TokenRefused(
            "token_unknown", "unknown conversation token: POST /widget/session for a new one"
        )
    ends = expires_at(app, conversation)
    if ends is not None and ends <= datetime.now(UTC):
        minutes = app[CONFIG].widget_token_minutes
        raise TokenRefused(
            "token_expired",
            f"the conversation token expired (tokens last {minutes:g} minutes from the start "
            "of their session, the setting widget_token_minutes): POST /widget/session "
            "for a new one",
        )
    return conversation


async def widget_session(request: web.Request) -> web.Response:
    headers = cors_headers(allowed_origin(request))
    store = account_store(request.app)
    body: dict[str, Any] = {}
    if request.can_read_body:
        raw = await request.read()
        if raw.strip():
            decoded = decode_json(raw, headers=headers)
            if isinstance(decoded, dict):
                body = decoded
    token = body.get("token")
    if isinstance(token, str) and token:
        with contextlib.suppress(TokenRefused):
            await token_conversation(request.app, token)
            return web.json_response({"token": token, "resumed": True}, headers=headers)
    address = address_key(client_address(request))
    await _check_rate(request, f"widget-session:{address}", "this address", headers)
    token, _ = await create_conversation(store, request.app)
    return web.json_response({"token": token, "resumed": False}, status=201, headers=headers)


async def conversation_of(request: web.Request, token: str | None) -> Conversation:
    if not token:
        raise ApiError(
            401,
            f"a conversation token is required in the {TOKEN_HEADER} header: "
            "POST /widget/session first",
        )
    try:
        return await token_conversation(request.app, token)
    except TokenRefused as exc:
        raise ApiError(401, exc.message) from None


async def widget_turns(request: web.Request) -> web.Response:
    """The conversation's visible turns for a token (``X-Conversation-Token``), after ``after``.

    The token travels in a header, never the URL, which proxies and access logs keep."""
    conversation = await conversation_of(request, request.headers.get(TOKEN_HEADER))
    after = _after(request.query.get("after"))
    turns = await escalation_store(request.app).turns_after(conversation.id, after, VISIBLE_ROLES)
    return web.json_response({"turns": [widget_turn(t) for t in turns]})


def _after(raw: str | None) -> int:
    try:
        value = max(0, int(raw or 0))
    except ValueError:
        raise ApiError(400, "'after' must be a turn id (an integer)") from None
    if value > 2**63 - 1:
        raise ApiError(400, "'after' must be a turn id below 2**63")
    return value


class WidgetConnection:
    """One open widget: pushes new turns and status changes, takes messages and ratings."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        conversation: Conversation,
        after: int,
        address: str,
    ) -> None:
        self.app = request.app
        self.address = address
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
            (limits.per_ip, self.address),
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


# Sockets -------------------------------------------------------------------------------

# How long a new socket may take to send its auth frame before it is closed.
AUTH_TIMEOUT_S = 5.0

# Close codes (4000-4999 are the application's), each after an error frame with its code.
CLOSE_BAD_AUTH = 4400  # auth_required: the first frame was not {"type": "auth", "token"}
CLOSE_TOKEN = 4401  # token_unknown, token_expired: POST /widget/session, then reconnect
CLOSE_AUTH_TIMEOUT = 4408  # auth_timeout: no first frame in time
CLOSE_TOO_MANY = 4429  # too_many_sockets: per token or per address


class SocketCounts:
    """Open widget sockets per token and per client address, under the caps.

    With Redis they are counted across every process (``fleet``, one per database, keeps
    deployments that share a Redis apart), and each process heartbeats the sockets it holds,
    so a crashed one's stop counting within ``OpenCounts.entry_ttl``; without Redis, in this
    process's memory. ``tokens`` and ``addresses`` are what this process holds either way."""

    def __init__(
        self,
        per_token: int,
        per_ip: int,
        *,
        fleet: str = "local",
        auth_timeout_s: float = AUTH_TIMEOUT_S,
    ) -> None:
        self.per_token = per_token
        self.per_ip = per_ip
        self.auth_timeout_s = auth_timeout_s
        self.by_token = OpenCounts(f"widget-sockets-token:{fleet}")
        self.by_address = OpenCounts(f"widget-sockets-ip:{fleet}")

    def __repr__(self) -> str:
        return f"SocketCounts(tokens={dict(self.tokens)}, addresses={dict(self.addresses)})"

    @property
    def tokens(self) -> Counter[str]:
        return self.by_token.local

    @property
    def addresses(self) -> Counter[str]:
        return self.by_address.local

    def use_redis(self, client: Redis | None) -> None:
        for counts in (self.by_token, self.by_address):
            counts.use_redis(client)


_counts: weakref.WeakKeyDictionary[web.Application, SocketCounts] = weakref.WeakKeyDictionary()


def socket_counts(app: web.Application) -> SocketCounts:
    counts = _counts.get(app)
    if counts is None:
        config = app[CONFIG]
        counts = _counts[app] = SocketCounts(
            config.widget_sockets_per_token,
            config.widget_sockets_per_ip,
            fleet=fleet_id(config.database_url),
        )
    # The client appears when the app starts; counts made before then follow it.
    client = app.get(REDIS)
    if client is not counts.by_address.redis:
        counts.use_redis(client)
    return counts


async def _refuse(ws: web.WebSocketResponse, close_code: int, code: str, message: str) -> None:
    """Tell the client why in an error frame (a close reason is cut at 123 bytes), then close."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_json({"type": "error", "code": code, "error": message, "retry": False})
        await ws.close(code=close_code, message=code.encode())


async def _authenticate(
    ws: web.WebSocketResponse, app: web.Application, timeout: float
) -> tuple[str, Conversation] | None:
    """Read the auth frame; the token and its conversation, or None once the socket is
    refused (or the client went away)."""
    try:
        message = await ws.receive(timeout=timeout)
    except TimeoutError:
        await _refuse(
            ws,
            CLOSE_AUTH_TIMEOUT,
            "auth_timeout",
            f'no auth frame within {timeout:g} seconds: send {{"type": "auth", "token": ...}} '
            "first, right after the socket opens",
        )
        return None
    if message.type in {WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR}:
        return None
    data: Any = None
    if message.type == WSMsgType.TEXT:
        with contextlib.suppress(ValueError):
            data = message.json()
    token = data.get("token") if isinstance(data, dict) and data.get("type") == "auth" else None
    if not isinstance(token, str) or not token:
        await _refuse(
            ws,
            CLOSE_BAD_AUTH,
            "auth_required",
            'the first frame must be {"type": "auth", "token": "<token from POST '
            '/widget/session>"}; the token does not go in the URL',
        )
        return None
    try:
        return token, await token_conversation(app, token)
    except TokenRefused as exc:
        await _refuse(ws, CLOSE_TOKEN, exc.code, exc.message)
        return None


async def widget_socket(request: web.Request) -> web.StreamResponse:
    allowed_origin(request)
    if "token" in request.query:
        raise ApiError(
            400,
            "the widget token no longer goes in the URL (where logs keep it): open /widget/ws "
            'without it and send {"type": "auth", "token": ...} as the first frame',
        )
    after = _after(request.query.get("after"))
    address = address_key(client_address(request))
    counts = socket_counts(request.app)
    ws = web.WebSocketResponse(heartbeat=25, max_msg_size=256 * 1024)
    await ws.prepare(request)
    # Counted from the upgrade: sockets that never authenticate hold resources too.
    async with counts.by_address.hold(address, counts.per_ip) as from_address:
        if not from_address.taken:
            await _refuse(
                ws,
                CLOSE_TOO_MANY,
                "too_many_sockets",
                f"too many chat connections from this address (the limit is {counts.per_ip}, "
                "the setting widget_sockets_per_ip); close some and try again",
            )
            return ws
        authenticated = await _authenticate(ws, request.app, counts.auth_timeout_s)
        if authenticated is None:
            return ws
        token, conversation = authenticated
        async with counts.by_token.hold(digest(token), counts.per_token) as with_token:
            if not with_token.taken:
                await _refuse(
                    ws,
                    CLOSE_TOO_MANY,
                    "too_many_sockets",
                    f"this conversation is already open in {with_token.open} windows (the limit "
                    f"is {counts.per_token}, the setting widget_sockets_per_token); close one",
                )
                return ws
            await _serve(request, ws, conversation, after, address)
    return ws


async def _serve(
    request: web.Request,
    ws: web.WebSocketResponse,
    conversation: Conversation,
    after: int,
    address: str,
) -> None:
    """The authenticated socket, until either side closes it or the token expires."""
    connection = WidgetConnection(request, ws, conversation, after, address)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
    loop = asyncio.get_running_loop()
    ends = expires_at(request.app, conversation)

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

        async def expire(at: datetime) -> None:
            # An open socket must not outlive its token: the widget then starts a new session.
            await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
            await _refuse(
                ws,
                CLOSE_TOKEN,
                "token_expired",
                "the conversation token expired (the setting widget_token_minutes): "
                "POST /widget/session for a new one",
            )

        tasks = [loop.create_task(pump()), loop.create_task(work())]
        if ends is not None:
            tasks.append(loop.create_task(expire(ends)))
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
