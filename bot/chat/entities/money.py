"""Amounts of money, as Duckling's ``amount-of-money``: a number next to a currency.

Units are Duckling's own spellings (``$`` for "dollars", ``£`` for "pounds", ``unknown`` for
"bucks", ``EUR`` for "€"), because financial-demo style actions print and compare them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from bot.chat.entities.numbers import Num, json_number

_UNITS = {
    "$": "$",
    "dollar": "$",
    "dollars": "$",
    "us$": "USD",
    "€": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "eurs": "EUR",
    "£": "£",
    "pound": "£",
    "pounds": "£",
    "¥": "JPY",
    "yen": "JPY",
    "rupee": "INR",
    "rupees": "INR",
    "buck": "unknown",
    "bucks": "unknown",
    "cent": "cent",
    "cents": "cent",
    "penny": "cent",
    "pennies": "cent",
    "pence": "cent",
}
_CODES = [
    "usd",
    "eur",
    "gbp",
    "jpy",
    "inr",
    "aud",
    "cad",
    "nzd",
    "nok",
    "sek",
    "sgd",
    "hrk",
    "idr",
    "krw",
    "kwd",
    "lbp",
    "myr",
    "egp",
    "qar",
    "aed",
    "brl",
    "cny",
    "rub",
    "ils",
    "bgn",
]
_WORDS = sorted((u for u in _UNITS if u[0].isalpha() and u != "us$"), key=len, reverse=True)
# Symbols and ISO codes may also come first ("$5", "EUR 30"); words only follow ("5 euros").
_BEFORE = re.compile(r"(?P<unit>us\$|[$€£¥]|\b(?:" + "|".join(_CODES) + r")\b)\s?$", re.IGNORECASE)
_AFTER = re.compile(
    r"^\s?(?P<unit>[$€£¥]|(?:" + "|".join([*_CODES, *_WORDS]) + r")\b)", re.IGNORECASE
)
# European shops write 12,50 €: a decimal comma, read only next to a currency.
_COMMA_DECIMAL = re.compile(r"(?=\d)(?<![\w.,])(\d+),(\d{1,2})(?![\d,]|\.\d)")
_PRECISION = re.compile(
    r"\b(?:exactly|precisely|about|approx(?:\.|imately)?|close to|near(?: to)?|around|almost)"
    r"\s+$",
    re.IGNORECASE,
)
_MAX = re.compile(
    r"\b(?:under|at most|less than|lower than|no more than|not more than)\s+$", re.IGNORECASE
)
_MIN = re.compile(
    r"\b(?:over|above|at least|more than|no less than|not less than)\s+$", re.IGNORECASE
)
_BETWEEN = re.compile(r"\b(?:between|from)\s+$", re.IGNORECASE)
_TO = re.compile(r"\s*(?:to|and|-|–)\s*", re.IGNORECASE)
_DASH = re.compile(r"\s*[-–]\s*")


class Money(NamedTuple):
    start: int
    end: int
    value: Any
    info: dict[str, Any]


def _unit(token: str) -> str:
    lowered = token.lower()
    return _UNITS.get(lowered) or lowered.upper()


def _simple(text: str, nums: Iterable[Num]) -> list[Money]:
    found = []
    for num in nums:
        before = _BEFORE.search(text, max(0, num.start - 5), num.start)
        after = _AFTER.search(text[num.end : num.end + 12])
        if before is not None:
            start, end, unit = before.start(), num.end, _unit(before.group("unit"))
        elif after is not None:
            start, end, unit = num.start, num.end + after.end(), _unit(after.group("unit"))
        else:
            continue
        precision = _PRECISION.search(text, max(0, start - 20), start)
        if precision is not None:
            start = precision.start()
        info = {"value": num.value, "type": "value", "unit": unit}
        found.append(Money(start, end, num.value, info))
    return found


def amounts(text: str, nums: list[Num]) -> list[Money]:
    """Every amount in ``text``; amounts may overlap (the caller keeps the longest)."""
    comma = [
        Num(m.start(), m.end(), json_number(Decimal(f"{m.group(1)}.{m.group(2)}")))
        for m in _COMMA_DECIMAL.finditer(text)
    ]
    simple = _simple(text, [*nums, *comma])
    found = list(simple)
    for money in simple:
        head = text[max(0, money.start - 20) : money.start]
        single = {"value": money.value, "unit": money.info["unit"]}
        if (cap := _MAX.search(head)) is not None:
            start = money.start - len(head) + cap.start()
            info = {"type": "interval", "to": single}
            found.append(Money(start, money.end, {"to": money.value, "from": None}, info))
        elif (floor := _MIN.search(head)) is not None:
            start = money.start - len(head) + floor.start()
            info = {"type": "interval", "from": single}
            found.append(Money(start, money.end, {"to": None, "from": money.value}, info))
    lows: list[Money | Num] = [*simple, *nums]
    for low in lows:
        for high in simple:
            found.extend(_range(text, low, high))
    return found


def _range(text: str, low: Money | Num, high: Money) -> list[Money]:
    """``between 10 and 20 dollars``, ``$10-$20``: Duckling's amount interval."""
    if high.start <= low.end:
        return []
    joiner = text[low.end : high.start]
    low_unit = low.info["unit"] if isinstance(low, Money) else high.info["unit"]
    if low_unit != high.info["unit"] or not isinstance(low.value, int | float):
        return []
    if not low.value < high.value:
        return []
    start = low.start
    opener = _BETWEEN.search(text, max(0, low.start - 10), low.start)
    if opener is not None and _TO.fullmatch(joiner):
        start = opener.start()
    elif not _DASH.fullmatch(joiner):
        return []
    unit = high.info["unit"]
    info = {
        "type": "interval",
        "from": {"value": low.value, "unit": unit},
        "to": {"value": high.value, "unit": unit},
    }
    return [Money(start, high.end, {"to": high.value, "from": low.value}, info)]
