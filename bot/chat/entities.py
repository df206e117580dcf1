"""Rule-based entity extraction: order numbers, e-mail addresses, amounts, dates.

Rules first (as Rasa's RegexEntityExtractor): they are exact, explainable and need no
training data. Results use Rasa's entity shape.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

EXTRACTOR = "RegexEntityExtractor"

_ORDER = re.compile(r"(?<![\w-])(?:NW[-\s]?)(\d{5})(?!\d)", re.IGNORECASE)
# A sentence may end right after the number ("It's 12345."); a decimal may not follow it.
_BARE_ORDER = re.compile(r"(?<![\w-])#?(\d{5})(?![.,]?\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 1,234.56 (thousands separators) or 12.50 / 12,50; never a part of a longer number.
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?![.,]?\d)"
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?")
_AMOUNT = re.compile(
    rf"(?:(?P<cur1>[€$£]|\b(?:EUR|USD|GBP))\s?(?P<num1>{_NUMBER})"
    rf"|(?<![\d.,])(?P<num2>{_NUMBER})\s?"
    r"(?P<cur2>[€$£]|(?:euros?|dollars?|pounds?|EUR|USD|GBP)\b))",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_RELATIVE = re.compile(r"\b(today|tomorrow|yesterday)\b", re.IGNORECASE)
_CURRENCIES = {
    "€": "EUR",
    "$": "USD",
    "£": "GBP",
    "euro": "EUR",
    "euros": "EUR",
    "dollar": "USD",
    "dollars": "USD",
    "pound": "GBP",
    "pounds": "GBP",
}


def normalise_order_id(digits: str) -> str:
    return f"NW-{digits}"


def extract(
    text: str, *, expecting: str | None = None, today: date | None = None
) -> list[dict[str, Any]]:
    """Entities found in ``text``.

    ``expecting`` names the slot the bot just asked for: a bare five-digit number counts as
    an order number only then, so "I bought 12345 screws" is not mistaken for one.
    """
    found: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []

    def add(entity: str, value: Any, start: int, end: int) -> None:
        if any(start < e and s < end for s, e in taken):
            return
        taken.append((start, end))
        found.append(
            {
                "entity": entity,
                "value": value,
                "start": start,
                "end": end,
                "confidence_entity": 1.0,
                "extractor": EXTRACTOR,
            }
        )

    for match in _EMAIL.finditer(text):
        add("email", match.group(0).lower(), match.start(), match.end())
    for match in _ORDER.finditer(text):
        add("order_id", normalise_order_id(match.group(1)), match.start(), match.end())
    if expecting == "order_id" and not any(e["entity"] == "order_id" for e in found):
        for match in _BARE_ORDER.finditer(text):
            add("order_id", normalise_order_id(match.group(1)), match.start(), match.end())
    for match in _AMOUNT.finditer(text):
        number = match.group("num1") or match.group("num2")
        if _THOUSANDS.fullmatch(number):
            number = number.replace(",", "")
        else:
            number = number.replace(",", ".")
        currency = (match.group("cur1") or match.group("cur2") or "").lower()
        code = _CURRENCIES.get(currency, currency.upper())
        add("amount", {"value": float(number), "currency": code}, match.start(), match.end())
    for match in _ISO_DATE.finditer(text):
        try:
            value = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
        add("date", value.isoformat(), match.start(), match.end())
    base = today or date.today()
    offsets = {"today": 0, "tomorrow": 1, "yesterday": -1}
    for match in _RELATIVE.finditer(text):
        value = base + timedelta(days=offsets[match.group(1).lower()])
        add("date", value.isoformat(), match.start(), match.end())
    return sorted(found, key=lambda e: e["start"])
