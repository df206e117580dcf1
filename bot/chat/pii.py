"""Masking card numbers, e-mail addresses and phone numbers in text bound for logs or storage."""

from __future__ import annotations

import logging
import re

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w(+-])(?:\+|\(\+?)?\d[\d ()./-]{7,}\d(?![\w-])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if 13 <= len(digits) <= 19 and _luhn_ok(digits):
        return f"[card ****{digits[-4:]}]"
    return match.group(0)


def mask_pii(text: str) -> str:
    """Replace what identifies a person or a card with a placeholder that keeps the meaning."""
    text = _CARD.sub(_card, text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub(_phone, text)


def _phone(match: re.Match[str]) -> str:
    # E.164 numbers have at most 15 digits; longer runs (a non-Luhn 16-digit reference) are
    # not phone numbers and stay as they are.
    digits = len(re.sub(r"\D", "", match.group(0)))
    return "[phone]" if 9 <= digits <= 15 else match.group(0)


class PiiFilter(logging.Filter):
    """Masks the formatted message of every record that passes through a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_pii(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
