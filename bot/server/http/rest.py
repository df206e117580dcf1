"""Rasa's REST channel: ``POST /webhooks/rest/webhook`` and ``GET /webhooks/rest/``."""

from __future__ import annotations

from aiohttp import web

from bot.server.appkeys import CONFIG, LIMITS, METRICS, RUNTIME
from bot.server.http.errors import ApiError
from bot.server.http.validation import json_object, optional_object, sender_field, text_field
from bot.server.ratelimit import retry_after_header

CHANNEL = "rest"


async def rest_status(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def rest_webhook(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    body = await json_object(request)
    sender = sender_field(body)
    message = text_field(body, "message", max_chars=config.max_message_chars)
    assert message is not None
    metadata = optional_object(body, "metadata")
    message_id = metadata.get("message_id")
    if message_id is not None and not isinstance(message_id, str | int):
        raise ApiError(400, "field 'metadata.message_id' must be a string or a number")

    limits = request.app[LIMITS]
    for limiter, key, what in (
        (limits.per_ip, request.remote or "-", "this address"),
        (limits.per_sender, f"{CHANNEL}:{sender}", f"sender {sender!r}"),
    ):
        wait = await limiter.check(key)
        if wait:
            raise ApiError(
                429,
                f"too many messages from {what}: the limit is {limiter.per_minute} a minute",
                headers={"Retry-After": retry_after_header(wait)},
            )

    runtime = request.app[RUNTIME].get()
    handled = await runtime.processor.handle(
        CHANNEL,
        sender,
        message,
        message_id=str(message_id) if message_id is not None else None,
        metadata=metadata,
    )
    if not handled.duplicate:
        request.app[METRICS].routes.labels(handled.route).inc()
    return web.json_response([m.to_rasa(sender) for m in handled.messages])
