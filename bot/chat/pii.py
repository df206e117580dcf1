"""Masking card numbers, IBANs, card security codes, e-mail addresses and phone numbers in
text bound for logs or storage.

What stays: dates, times, amounts, order numbers (``NW-10001``, ``10001``), return
references (``RT-10004-02``) and the carriers' tracking numbers, which are long digit runs
too but neither grouped like a card nor valid under Luhn.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Digits as a card is written: runs of 13 to 19 digits, optionally grouped by spaces, dots or
# hyphens. Not part of a longer run, a word (a tracking number such as JD0146000038271) or a
# phone number's "+".
_CARD = re.compile(r"(?<![\w+])(?<!\d[ .-])\d(?:[ .-]?\d){12,18}(?![ .-]?\d)(?!\w)")
# A card as printed on it or typed by people: one kind of separator between groups of four
# (the last group shorter), or Amex's and Diners' 4-6-5 and 4-6-4.
_CARD_GROUPS = re.compile(
    r"\d{4}(?P<sep>[ .-])(?:\d{4}(?P=sep)){1,3}\d{1,4}"
    r"|\d{4}(?P<amex>[ .-])\d{6}(?P=amex)\d{4,5}"
)

# Country code, check digits, then up to 30 letters and digits, run together or in groups of
# four (the last group shorter).
_IBAN = re.compile(
    r"(?<![\w-])(?P<country>[A-Z]{2})\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![\w-])",
    re.IGNORECASE,
)
# IBAN lengths by country (the SWIFT registry). A known country with its length makes an IBAN
# even when the check digits fail (a customer's typo is still their account number), and so
# does a known country with valid check digits but another length.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# The code on the back of a card, when the customer names it: "cvv 123", "security code: 1234",
# "my CVC is 123".
_CVV = re.compile(
    r"(?P<label>\b(?:cvv2?|cvc2?|cvn|cid|csc|card verification (?:code|value|number)"
    r"|security code)\b(?:\s*(?:is|was|number|no\.?|code|[:=#-]))*\s*)\d{3,4}(?!\d)",
    re.IGNORECASE,
)

# The last label of a domain is letters (no IP address), and the local part of a URL's
# user@host (after "//") is not an address someone wrote to be mailed at.
_EMAIL = re.compile(r"(?<![/\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
# Digits with the punctuation phone numbers are written with. ":" is not among it, so a time
# ends a candidate; "/" before it means a URL's path.
_PHONE = re.compile(r"(?<![\w(+/-])(?:\+|\(\+?)?\d[\d ()./-]{7,}\d(?![\w-])(?![.,:]\d)")
# A date on its own, not three groups inside a longer run ("06.12.34.56.78" is a French
# phone number).
_DATE = re.compile(
    r"(?<!\d)(?<!\d[-/.])"
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2}))"
    r"(?!\d)(?![-/.]\d)"
)
# 1234.56, 1 234 567,89: an amount, not a number to call.
_AMOUNT = re.compile(r"\d{1,3}(?:[ ,.]\d{3})*[.,]\d{2}|\d+[.,]\d{2}")
# Several five-digit order numbers in a row ("10001 10002").
_ORDER_NUMBERS = re.compile(r"\d{5}(?:[ ,]+\d{5})+")


def mask_pii(text: str) -> str:
    """Replace what identifies a person, an account or a card with a placeholder that keeps
    the meaning."""
    text = _IBAN.sub(_iban, text)
    text = _CARD.sub(_card, text)
    text = _CVV.sub(r"\g<label>[cvv]", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub(_phone, text)


def pii_spans(text: str) -> list[tuple[int, int]]:
    """Where :func:`mask_pii` would mask ``text``: (start, end) offsets into ``text`` itself,
    so that what else points into the text (an entity's span) can be masked with it."""
    spans: list[tuple[int, int]] = []
    steps: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
        (_IBAN, _iban),
        (_CARD, _card),
        (_CVV, lambda m: "[cvv]"),
        (_EMAIL, lambda m: "[email]"),
        (_PHONE, _phone),
    )
    for pattern, replace in steps:
        for match in pattern.finditer(text):
            if replace(match) == match.group(0):
                continue
            start = match.end("label") if pattern is _CVV else match.start()
            if not _overlaps(start, match.end(), spans):
                spans.append((start, match.end()))
    return sorted(spans)


def mask_entities(text: str, entities: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``entities`` found in ``text`` as they may be stored once ``text`` is masked: one that
    overlaps masked personal data is left out (a card number's groups read as numbers), and
    every string in the others is masked too."""
    spans = pii_spans(text)
    kept = []
    for entity in entities:
        start, end = entity.get("start"), entity.get("end")
        if isinstance(start, int) and isinstance(end, int) and _overlaps(start, end, spans):
            continue
        kept.append({key: mask_strings(value) for key, value in entity.items()})
    return kept


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < stop and begin < end for begin, stop in spans)


def mask_strings(value: Any) -> Any:
    """``value`` with every string in it masked, however deeply nested."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, Mapping):
        return {key: mask_strings(v) for key, v in value.items()}
    if isinstance(value, list):
        return [mask_strings(v) for v in value]
    return value


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = re.sub(r"\D", "", found)
    # A run without separators that fails Luhn is more often a reference or a tracking
    # number than a mistyped card; one grouped like a card is a card, typo or not.
    if _luhn_ok(digits) or _CARD_GROUPS.fullmatch(found):
        return f"[card ****{digits[-4:]}]"
    return found


def _iban(match: re.Match[str]) -> str:
    found = match.group(0)
    compact = found.replace(" ", "").upper()
    length = _IBAN_LENGTHS.get(match.group("country").upper())
    # Check digits alone would also pass one tracking number in 97.
    if length is not None and (length == len(compact) or _mod97_ok(compact)):
        return f"[iban ****{compact[-4:]}]"
    return found


def _mod97_ok(iban: str) -> bool:
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    if _DATE.search(found) or _AMOUNT.fullmatch(found) or _ORDER_NUMBERS.fullmatch(found):
        return found
    digits = len(re.sub(r"\D", "", found))
    # E.164 numbers have at most 15 digits after the "+" (or the "00" that stands for it);
    # written nationally they have at most 12. Longer runs are references or tracking numbers.
    if found.startswith(("+", "(+")):
        longest = 15
    elif found.startswith("00"):
        longest = 17
    else:
        longest = 12
    return "[phone]" if 9 <= digits <= longest else found


class PiiFilter(logging.Filter):
    """Masks the formatted message of every record that passes through a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_pii(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
