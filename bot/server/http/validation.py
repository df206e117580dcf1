"""Strict request validation: each check names the field, what arrived and what is expected."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.server.http.errors import ApiError


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx saying what is wrong with it."""
    if request.content_type not in ("application/json", "text/plain", ""):
        raise ApiError(415, f"expected Content-Type application/json, got {request.content_type}")
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "request body is empty; send a JSON object")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"expected a JSON object, got {_kind(body)}")
    return body


def text_field(
    body: dict[str, Any], name: str, *, max_chars: int, required: bool = True
) -> str | None:
    """A non-blank string field no longer than ``max_chars``."""
    if name not in body or body[name] is None:
        if required:
            raise ApiError(400, f"field {name!r} is required (a non-empty string)")
        return None
    value = body[name]
    if not isinstance(value, str):
        raise ApiError(400, f"field {name!r} must be a string, got {_kind(value)}")
    if not value.strip():
        raise ApiError(400, f"field {name!r} must not be empty")
    if len(value) > max_chars:
        raise ApiError(413, f"field {name!r} is {len(value)} characters; the limit is {max_chars}")
    return value


def sender_field(body: dict[str, Any], name: str = "sender") -> str:
    """Rasa clients send numeric ids too; accept ints, keep them as strings."""
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = text_field(body, name, max_chars=255)
    assert text is not None
    return text.strip()


def optional_object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"field {name!r} must be an object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
