"""Entities in a customer's message: Frontdesk's order numbers and Duckling's built-ins.

Rasa projects read Duckling's entities straight from the parse: formbot fills ``num_people``
from a ``number``, financial-demo's actions read ``additional_info`` of ``time`` and
``amount-of-money``. Running Duckling would put a Haskell server beside every bot, so its
common English rules are redone here as regexes, fast enough for every message, and give
Duckling's names and value shapes so that those projects run unchanged.

Each rule proposes what it reads; where readings overlap, the longest wins ("NW-12345" is an
order number, not a number; "2025-06-10 14:37" one time, not a date, a time and numbers), as
Duckling's own ranking keeps the reading that covers the others.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, tzinfo
from typing import Any, NamedTuple

from bot.chat.entities import contact, measures, money, numbers, timex
from bot.chat.entities.clock import Point, Time
from bot.chat.entities.clues import read as read_clues

EXTRACTOR = "RegexEntityExtractor"
DUCKLING = "DucklingEntityExtractor"
DIMENSIONS = frozenset(
    {
        "number",
        "ordinal",
        "amount-of-money",
        "time",
        "duration",
        "distance",
        "email",
        "phone-number",
    }
)

_ORDER = re.compile(r"(?=[nN])(?<![\w-])(?:NW[-\s]?)(\d{5})(?!\d)", re.IGNORECASE)
# A sentence may end right after the number ("It's 12345."); a decimal may not follow it.
_BARE_ORDER = re.compile(r"(?<![\w-])#?(\d{5})(?![.,]?\d)")
# Which reading wins when two cover the same text.
_RANK = {
    "order_id": 0,
    "email": 1,
    "time": 2,
    "amount-of-money": 3,
    "phone-number": 4,
    "duration": 5,
    "distance": 6,
    "ordinal": 7,
    "number": 8,
}


class _Found(NamedTuple):
    """A reading; its entity dict is built only if it wins (most readings lose)."""

    start: int
    end: int
    value: Any  # for "time": a clock.Time, written out once chosen
    entity: str
    info: Any


def normalise_order_id(digits: str) -> str:
    return f"NW-{digits}"


def extract(
    text: str,
    *,
    expecting: str | None = None,
    now: datetime | None = None,
    dimensions: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Entities found in ``text``, in text order.

    ``expecting`` names the slot the bot just asked for: a bare five-digit number counts as
    an order number only then, so "I bought 12345 screws" is not mistaken for one.
    ``now`` is Duckling's reference time (an aware datetime; a naive one is local time):
    "tomorrow" is relative to it and values carry its UTC offset. ``dimensions`` limits the
    built-ins to those a Rasa pipeline asked Duckling for; order numbers are always read.
    """
    wanted = DIMENSIONS if dimensions is None else DIMENSIONS & frozenset(dimensions)
    reference = _reference(now)
    found = _order_ids(text, expecting)
    if wanted:
        found.extend(_builtins(text, wanted, expecting, reference))
    chosen: list[_Found] = []
    for candidate in sorted(found, key=_precedence):
        if all(candidate.end <= c.start or c.end <= candidate.start for c in chosen):
            chosen.append(candidate)
    chosen.sort(key=lambda c: c.start)
    return [_entity(text, c, reference.tzinfo) for c in chosen]


def _precedence(found: _Found) -> tuple[int, int, int]:
    return found.start - found.end, _RANK[found.entity], found.start


def _reference(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now().astimezone()
    return now if now.tzinfo is not None else now.astimezone()


def _order_ids(text: str, expecting: str | None) -> list[_Found]:
    found = [
        _Found(m.start(), m.end(), normalise_order_id(m.group(1)), "order_id", None)
        for m in _ORDER.finditer(text)
    ]
    if expecting == "order_id" and not found:
        found = [
            _Found(m.start(), m.end(), normalise_order_id(m.group(1)), "order_id", None)
            for m in _BARE_ORDER.finditer(text)
        ]
    return found


def _entity(text: str, found: _Found, tz: tzinfo | None) -> dict[str, Any]:
    if found.entity == "order_id":
        return {
            "entity": "order_id",
            "value": found.value,
            "start": found.start,
            "end": found.end,
            "confidence_entity": 1.0,
            "extractor": EXTRACTOR,
        }
    value, info = found.value, found.info
    if found.entity == "time":
        value, info = _time_value(found.value, tz)
    # The shape of Rasa's ``convert_duckling_format_to_rasa``, key for key.
    return {
        "start": found.start,
        "end": found.end,
        "text": text[found.start : found.end],
        "value": value,
        "confidence": 1.0,
        "additional_info": info,
        "entity": found.entity,
        "extractor": DUCKLING,
    }


def _builtins(
    text: str, wanted: frozenset[str], expecting: str | None, reference: datetime
) -> list[_Found]:
    found: list[_Found] = []
    clues = read_clues(text)
    if "email" in wanted and "@" in text:
        found.extend(_Found(*mail, "email", {"value": mail.value}) for mail in contact.emails(text))
    if "phone-number" in wanted and clues.digits:
        for phone in contact.phones(text, expecting=expecting):
            found.append(_Found(*phone, "phone-number", {"value": phone.value}))
    if "ordinal" in wanted:
        for nth in numbers.ordinals(text, clues):
            found.append(_Found(*nth, "ordinal", {"value": nth.value, "type": "value"}))
    nums = numbers.numbers(text, clues)
    if "number" in wanted:
        for num in nums:
            found.append(_Found(*num, "number", {"value": num.value, "type": "value"}))
    if "amount-of-money" in wanted and (nums or clues.digits):
        for amount in money.amounts(text, nums):
            found.append(_Found(*amount[:3], "amount-of-money", amount.info))
    if "distance" in wanted and nums:
        for far in measures.distances(text, nums):
            info = {"value": far.value, "type": "value", "unit": far.unit}
            found.append(_Found(*far[:3], "distance", info))
    durations = measures.durations(text, nums, clues) if wanted & {"duration", "time"} else []
    if "duration" in wanted:
        for dur in durations:
            found.append(_Found(*dur[:3], "duration", dur.info()))
    if "time" in wanted:
        for time in timex.times(text, clues, durations, reference):
            found.append(_Found(*time, "time", None))
    return found


def _iso(moment: datetime, tz: tzinfo | None) -> str:
    """Duckling's RFC 3339 form: milliseconds and a ±HH:MM offset, never "Z"."""
    offset = moment.replace(tzinfo=tz).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    millis = moment.microsecond // 1000
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}{sign}{hours:02d}:{minutes:02d}"


def _time_value(time: Time, tz: tzinfo | None) -> tuple[Any, dict[str, Any]]:
    """Rasa's ``value`` and Duckling's ``additional_info`` for a moment or an interval."""
    if isinstance(time, Point):
        values = [{"value": _iso(v.at, tz), "grain": v.grain, "type": "value"} for v in time.values]
        return values[0]["value"], {"values": values, **values[0]}
    ends: dict[str, Any] = {}
    if time.start is not None:
        ends["from"] = {"value": _iso(time.start.at, tz), "grain": time.start.grain}
    if time.end is not None:
        ends["to"] = {"value": _iso(time.end.at, tz), "grain": time.end.grain}
    value = {
        "to": ends["to"]["value"] if "to" in ends else None,
        "from": ends["from"]["value"] if "from" in ends else None,
    }
    copies = {side: dict(end) for side, end in ends.items()}
    return value, {"type": "interval", **ends, "values": [{"type": "interval", **copies}]}
