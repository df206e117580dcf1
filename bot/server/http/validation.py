"""Strict request validation: each check names the field, what arrived and what is expected.

Every malformed body ends here as a 4xx in the one error shape, never as a 500: JSON that is
not JSON, nested deeper than :data:`MAX_DEPTH`, numbers Python refuses to read (thousands of
digits, ``NaN``, ``1e999``), and strings a database cannot store (NUL, lone surrogates).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.server.http.errors import ApiError

# Rasa clients nest a few levels in ``metadata``; nothing legitimate comes close to this.
MAX_DEPTH = 32
MAX_MESSAGE_ID_CHARS = 128
MAX_SENDER_CHARS = 255
# Row ids are 64-bit integers in every store; a larger one names no row (and SQLite raises).
MAX_ROW_ID = 2**63 - 1
_ROW_ID = re.compile(r"[0-9]{1,19}")
# NUL and UTF-16 surrogates: no database text column or UTF-8 encoder accepts them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range; send a finite number")
    return value


def decode_json(raw: bytes, *, headers: Mapping[str, str] | None = None) -> Any:
    """Parse a JSON document, or raise a 400 that says what is wrong with it."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        value = None
        too_deep = True
    except (ValueError, UnicodeDecodeError) as exc:
        # ValueError covers JSONDecodeError and Python's 4300-digit limit on integers.
        message = str(exc)
        if "integer string conversion" in message:
            message = "a number has more than 4300 digits; send it as a string"
        raise ApiError(400, f"request body is not valid JSON: {message}", headers=headers) from None
    else:
        too_deep = False
    if too_deep:
        raise ApiError(
            400,
            f"request body nests deeper than {MAX_DEPTH} levels; flatten it",
            headers=headers,
        )
    check_value(value, headers=headers)
    return value


def check_value(value: Any, *, headers: Mapping[str, str] | None = None) -> None:
    """Depth and storable strings, checked without recursion (so any depth is safe)."""
    stack: list[tuple[Any, str, int]] = [(value, "body", 1)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(
                400,
                f"request body nests deeper than {MAX_DEPTH} levels; flatten it",
                headers=headers,
            )
        if isinstance(item, str):
            check_storable(item, where, headers=headers)
        elif isinstance(item, dict):
            for key, child in item.items():
                check_storable(key, f"a key in {where}", headers=headers)
                stack.append((child, f"{where}.{key}" if where != "body" else key, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))


def check_storable(text: str, where: str, *, headers: Mapping[str, str] | None = None) -> str:
    """``text`` unless it holds a NUL byte or a lone surrogate, which nothing can store."""
    found = _UNSTORABLE.search(text)
    if found is not None:
        char = found.group()
        what = (
            "a NUL character (\\u0000)"
            if char == "\x00"
            else f"a lone surrogate (\\u{ord(char):04x})"
        )
        raise ApiError(
            400,
            f"{_name(where)} contains {what}; send valid UTF-8 text without NUL characters",
            headers=headers,
        )
    return text


def _name(where: str) -> str:
    return (
        where
        if where.startswith(("a key", "a query", "body", "query", "path", "form"))
        else f"field {where!r}"
    )


def path_id(request: web.Request, name: str) -> int:
    """A numeric id from the URL: plain digits up to :data:`MAX_ROW_ID`. Anything else names
    no row, so it is a 404 like an id that does not exist."""
    raw = request.match_info[name]
    if _ROW_ID.fullmatch(raw) and 1 <= int(raw) <= MAX_ROW_ID:
        return int(raw)
    what = name.removesuffix("_id").replace("_", " ")
    raise ApiError(404, f"no {what} {raw[:80]!r}: ids are whole numbers from 1 to {MAX_ROW_ID}")


async def json_object(request: web.Request, *, json_only: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx saying what is wrong with it.

    Rasa's clients may send JSON as text/plain or with no type; ``json_only`` refuses those
    where a cross-site page could post them (a browser form can send text/plain, never
    application/json without a CORS preflight).
    """
    accepted = ("application/json",) if json_only else ("application/json", "text/plain", "")
    if request.content_type not in accepted:
        raise ApiError(415, f"expected Content-Type application/json, got {request.content_type}")
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "request body is empty; send a JSON object")
    body = decode_json(raw)
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
    check_storable(value, name)
    return value


def sender_field(body: dict[str, Any], name: str = "sender") -> str:
    """Rasa clients send numeric ids too; accept ints, keep them as strings (same limit)."""
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        body = {**body, name: str(value)}
    text = text_field(body, name, max_chars=MAX_SENDER_CHARS)
    assert text is not None
    return text.strip()


def message_id_field(metadata: dict[str, Any]) -> str | None:
    """``metadata.message_id``: a string or an integer of at most 128 characters."""
    value = metadata.get("message_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApiError(
            400, f"field 'metadata.message_id' must be a string or a number, got {_kind(value)}"
        )
    text = str(value)
    if not text.strip():
        raise ApiError(400, "field 'metadata.message_id' must not be empty")
    if len(text) > MAX_MESSAGE_ID_CHARS:
        raise ApiError(
            400,
            f"field 'metadata.message_id' is {len(text)} characters; the limit is "
            f"{MAX_MESSAGE_ID_CHARS}: send a shorter id (a UUID fits)",
        )
    return text


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
