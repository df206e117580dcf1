"""E-mail addresses and phone numbers, with Duckling's values.

Duckling keeps an address as written and writes a phone number as ``(+CC) digits ext N``; an
action that looks a customer up by either gets what a Rasa bot would have given it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(
    r"(?=[(+\d])(?<![\w+(.,-])"
    r"(?:(?:\(\+(?P<cc1>\d{1,3})\)|\+(?P<cc2>\d{1,3}(?=[\s.)-])|\d{1,2}))[\s.-]*)?"
    r"(?P<nums>\(?\d+\)?(?:(?:[\s.-]|\)\s?)\(?\d+\)?)*)"
    r"(?:\s*(?:ext|x)\.?\s*(?P<ext>\d{1,6}))?"
    r"(?![\w.,-]?\d)",
    re.IGNORECASE,
)
_GROUP = re.compile(r"\d+")


class Contact(NamedTuple):
    start: int
    end: int
    value: str


def emails(text: str) -> list[Contact]:
    return [Contact(m.start(), m.end(), m.group(0)) for m in _EMAIL.finditer(text)]


def phones(text: str, *, expecting: str | None = None) -> list[Contact]:
    """Phone numbers, told apart from other numbers by their shape.

    A run of separated digit groups ("555-123-4567", "+1 650 253 0000") is a phone number;
    plain digits only from ten on, or from six on when the bot asked for a phone number,
    so that "I paid 1000000" stays a number. Single-digit groups after the first and dotted
    pairs (a decimal) are something else.
    """
    asked = expecting is not None and "phone" in expecting.lower()
    found = []
    for match in _PHONE.finditer(text):
        nums = match.group("nums")
        code = match.group("cc1") or match.group("cc2")
        groups = _GROUP.findall(nums)
        digits = "".join(groups)
        if not 6 <= len(digits) <= 15 or any(len(g) < 2 for g in groups[1:]):
            continue
        if "." in nums and len(groups) < 3:
            continue
        if code is None and len(groups) == 1 and len(digits) < (6 if asked else 10):
            continue
        if code is None and len(digits) < 7 and not asked:
            continue
        value = f"(+{code}) {digits}" if code else digits
        if match.group("ext"):
            value += f" ext {int(match.group('ext'))}"
        found.append(Contact(match.start(), match.end(), value))
    return found
