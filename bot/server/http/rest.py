"""Rasa's REST channel: ``POST /webhooks/rest/webhook`` and ``GET /webhooks/rest/``.

Callers prove themselves the way Rasa's do: ``?token=<auth_token>`` (``--auth-token``) and,
with ``jwt_secret`` set (``--jwt-secret``), ``Authorization: Bearer <JWT>`` signed HS256 with
it. Either one is enough; with neither setting the channel is open.
"""

from __future__ import annotations

import hmac
from typing import Any, NotRequired

import jwt
from aiohttp import web
from typing_extensions import TypedDict

from bot.server.appkeys import CONFIG, LIMITS, METRICS, RUNTIME
from bot.server.http.errors import ApiError
from bot.server.http.validation import (
    json_object,
    message_id_field,
    optional_object,
    sender_field,
    text_field,
)
from bot.server.ratelimit import address_key, client_address, retry_after_header

CHANNEL = "rest"
# What the message processor answers when a message id comes back with another text.
CONFLICT_ROUTE = "message_id_conflict"
JWT_ALGORITHM = "HS256"
_JWT_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="frontdesk", error="invalid_token"'}


class StatusBody(TypedDict):
    status: str


class RestMessageMetadata(TypedDict):
    """Anything the client likes; ``message_id`` makes a resend answer from the store."""

    message_id: NotRequired[str | int]


class RestMessage(TypedDict):
    sender: str | int
    message: str
    metadata: NotRequired[RestMessageMetadata | None]


class Button(TypedDict):
    title: str
    payload: str


class RestReply(TypedDict):
    """One bot message in Rasa's REST shape: absent parts are left out, never null."""

    recipient_id: str
    text: NotRequired[str]
    buttons: NotRequired[list[Button]]
    image: NotRequired[str]
    custom: NotRequired[dict[str, Any]]


async def rest_status(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def check_channel_token(request: web.Request) -> None:
    """``?token=<auth_token>`` or a bearer JWT signed with ``jwt_secret``, whichever the
    server is configured for; 401 saying what is missing or wrong otherwise."""
    config = request.app[CONFIG]
    if not config.auth_token and not config.jwt_secret:
        return
    sent = request.query.get("token", "")
    if config.auth_token and sent and _same(sent, config.auth_token):
        return
    header = request.headers.get("Authorization", "")
    if config.jwt_secret and header:
        _check_jwt(header, config.jwt_secret)
        return
    if sent and config.auth_token:
        raise ApiError(
            401, "the ?token= sent does not match the server's auth_token; check the client"
        )
    raise ApiError(401, f"this endpoint needs {_accepted(config.auth_token, config.jwt_secret)}")


def _same(sent: str, expected: str) -> bool:
    return hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode())


def _accepted(auth_token: str, jwt_secret: str) -> str:
    ways = []
    if auth_token:
        ways.append("the channel token: add ?token=<auth_token> to the URL")
    if jwt_secret:
        ways.append(
            f"a JWT: send Authorization: Bearer <JWT signed {JWT_ALGORITHM} with jwt_secret>"
        )
    return ", or ".join(ways)


def _check_jwt(header: str, secret: str) -> dict[str, Any]:
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            f"the Authorization header must be 'Bearer <JWT>', got scheme {scheme[:20]!r}",
            headers=_JWT_CHALLENGE,
        )
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM])
    except jwt.ExpiredSignatureError:
        raise ApiError(
            401,
            "the bearer JWT has expired (its exp is past); get a new one",
            headers=_JWT_CHALLENGE,
        ) from None
    except jwt.ImmatureSignatureError:
        raise ApiError(
            401,
            "the bearer JWT is not valid yet (its nbf or iat is in the future); check the "
            "issuer's clock",
            headers=_JWT_CHALLENGE,
        ) from None
    except jwt.InvalidSignatureError:
        raise ApiError(
            401,
            "the bearer JWT's signature does not match: sign it HS256 with the server's jwt_secret",
            headers=_JWT_CHALLENGE,
        ) from None
    except jwt.InvalidAlgorithmError:
        raise ApiError(
            401,
            f"the bearer JWT is signed with another algorithm; this server accepts "
            f"{JWT_ALGORITHM} only",
            headers=_JWT_CHALLENGE,
        ) from None
    except jwt.DecodeError as exc:
        raise ApiError(
            401,
            f"the bearer token is not a readable JWT ({exc}): expected header.payload.signature "
            "in base64url, its payload a JSON object",
            headers=_JWT_CHALLENGE,
        ) from None
    except jwt.InvalidTokenError as exc:
        raise ApiError(401, f"the bearer JWT is invalid: {exc}", headers=_JWT_CHALLENGE) from None
    return claims


async def check_chat_limits(request: web.Request, sender: str | None = None) -> None:
    """The per-address limit, and the per-sender one when there is a sender: 429 past them."""
    limits = request.app[LIMITS]
    checks = [(limits.per_ip, address_key(client_address(request)), "this address")]
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
