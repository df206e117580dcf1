"""Rasa's REST channel: ``POST /webhooks/rest/webhook`` and ``GET /webhooks/rest/``."""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.server.appkeys import CONFIG, LIMITS, METRICS, RUNTIME
from bot.server.http.errors import ApiError
from bot.server.http.validation import (
    json_object,
    message_id_field,
    optional_object,
    sender_field,
    text_field,
)
from bot.server.ratelimit import retry_after_header

CHANNEL = "rest"
# What the message processor answers when a message id comes back with another text.
CONFLICT_ROUTE = "message_id_conflict"


async def rest_status(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def check_channel_token(request: web.Request) -> None:
    """Rasa's ``--auth-token``: with ``auth_token`` set, callers send it as ``?token=``."""
    expected = request.app[CONFIG].auth_token
    if not expected:
        return
    sent = request.query.get("token", "")
    if not sent:
        raise ApiError(
            401, "this endpoint needs the channel token: add ?token=<auth_token> to the URL"
        )
    if not hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode()):
        raise ApiError(
            401, "the ?token= sent does not match the server's auth_token; check the client"
        )


async def check_chat_limits(request: web.Request, sender: str | None = None) -> None:
    """The per-address limit, and the per-sender one when there is a sender: 429 past them."""
    limits = request.app[LIMITS]
    checks = [(limits.per_ip, request.remote or "-", "this address")]
    if sender is not None:
        checks.append((limits.per_sender, f"{CHANNEL}:{sender}", f"sender {sender!r}"))
    for limiter, key, what in checks:
        wait = await limiter.check(key)
        if wait:
            raise ApiError(
                429,
                f"too many messages from {what}: the limit is {limiter.per_minute} a minute",
                headers={"Retry-After": retry_after_header(wait)},
            )


async def rest_webhook(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    check_channel_token(request)
    body = await json_object(request)
    sender = sender_field(body)
    message = text_field(body, "message", max_chars=config.max_message_chars)
    assert message is not None
    metadata = optional_object(body, "metadata")
    message_id = message_id_field(metadata)

    await check_chat_limits(request, sender)

    runtime = request.app[RUNTIME].get()
    handled = await runtime.processor.handle(
        CHANNEL, sender, message, message_id=message_id, metadata=metadata
    )
    if handled.duplicate and handled.route == CONFLICT_ROUTE:
        raise ApiError(
            409,
            f"message id {message_id!r} was already used for a different message in this "
            "conversation; resend the same text to get its reply, or use a new message id",
        )
    if not handled.duplicate:
        request.app[METRICS].routes.labels(handled.route).inc()
    return web.json_response([m.to_rasa(sender) for m in handled.messages])
