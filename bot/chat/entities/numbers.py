"""Numbers and ordinals, in digits or English words, as Duckling reads them.

The other built-ins (money, durations, dates) are built on these, so a number is read once
and "fifty bucks", "in two days" and "twenty five" all agree on what a number is.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

from bot.chat.entities.clues import Clues

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
_ALONE_AFTER_A = ("hundred", "thousand", "million", "billion", "dozen", "couple")

# Each pattern opens with a lookahead on its first characters: Python's regex engine then
# skips the positions where no match can start, which makes these scans several times faster.
_WORD = re.compile(
    r"\b(?=[zotfsenmbhdc])(?:"
    + "|".join([*_UNITS, *_TEENS, *_TENS, *_SCALES, "hundred", "dozen", "couple"])
    + r")\b",
    re.IGNORECASE,
)
# What may stand between two words of one number: "twenty-five", "one hundred and five".
_JOINER = re.compile(r"\s+|\s*-\s*|\s+and\s+", re.IGNORECASE)
_A_BEFORE = re.compile(r"\ban?\s+$", re.IGNORECASE)

# 42, -3, 1,234.5, 2.5k, 3 million. Never a piece of a word (NW12345, mp3), of a version or an
# address (1.2.3) or of an order number (NW-12345).
_DIGITS = re.compile(
    r"(?=[-\d])(?:(?<![\w.,-])(?P<sign>-))?(?<![\w.,])(?<![A-Za-z]-)"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?![.,]\d|\d)"
    r"(?:(?P<k>[kK])\b|\s+(?P<scale>hundred|thousand|million|billion|dozen)\b)?",
    re.IGNORECASE,
)

ORDINAL_WORDS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
    "fortieth": 40,
    "fiftieth": 50,
    "sixtieth": 60,
    "seventieth": 70,
    "eightieth": 80,
    "ninetieth": 90,
}
ORDINAL_WORD = (
    r"(?:(?:" + "|".join(_TENS) + r")[\s-]?(?:first|second|third|fourth|fifth|sixth|seventh"
    r"|eighth|ninth)|" + "|".join(sorted(ORDINAL_WORDS, key=len, reverse=True)) + ")"
)
_ORDINAL_DIGITS = re.compile(r"(?=\d)(?<![\w.,])(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_ORDINAL = re.compile(rf"\b(?=[fstne]){ORDINAL_WORD}\b", re.IGNORECASE)


_NUMBER_VOCABULARY = frozenset([*_UNITS, *_TEENS, *_TENS, *_SCALES, "hundred", "dozen", "couple"])
ORDINAL_VOCABULARY = frozenset(ORDINAL_WORDS)


class Num(NamedTuple):
    start: int
    end: int
    value: int | float


def json_number(value: Decimal) -> int | float:
    """Duckling's JSON writes 2.0 as 2: Rasa hands actions an int where the number is whole."""
    return int(value) if value == value.to_integral_value() else float(value)


def ordinal_word(word: str) -> int:
    parts = re.split(r"[\s-]+", word.lower())
    if len(parts) == 2:
        return _TENS[parts[0]] + ORDINAL_WORDS[parts[1]]
    if parts[0] in ORDINAL_WORDS:
        return ORDINAL_WORDS[parts[0]]
    # "twentyfirst": a tens word glued to a unit ordinal.
    for tens, value in _TENS.items():
        if parts[0].startswith(tens):
            return value + ORDINAL_WORDS[parts[0][len(tens) :]]
    raise KeyError(word)


def ordinals(text: str, clues: Clues) -> list[Num]:
    found = []
    if clues.digits:
        for match in _ORDINAL_DIGITS.finditer(text):
            found.append(Num(match.start(), match.end(), int(match.group(1))))
    if clues.any(ORDINAL_VOCABULARY):
        for match in _ORDINAL.finditer(text):
            found.append(Num(match.start(), match.end(), ordinal_word(match.group(0))))
    return found


def numbers(text: str, clues: Clues) -> list[Num]:
    """Every number in ``text``, in text order, digits and words alike."""
    found = _digit_numbers(text) if clues.digits else []
    if clues.any(_NUMBER_VOCABULARY):
        found.extend(_word_numbers(text))
    found.sort(key=lambda n: n.start)
    return found


def _digit_numbers(text: str) -> list[Num]:
    found = []
    for match in _DIGITS.finditer(text):
        value = Decimal(match.group("int").replace(",", "") + (match.group("frac") or ""))
        scale = (match.group("scale") or "").lower()
        if match.group("k"):
            value *= 1000
        elif scale == "hundred":
            value *= 100
        elif scale == "dozen":
            value *= 12
        elif scale:
            value *= _SCALES[scale]
        if match.group("sign"):
            value = -value
        found.append(Num(match.start(), match.end(), json_number(value)))
    return found


class _Word(NamedTuple):
    start: int
    end: int
    word: str
    after_and: bool


def _word_numbers(text: str) -> list[Num]:
    found: list[Num] = []
    run: list[_Word] = []
    for match in _WORD.finditer(text):
        gap = text[run[-1].end : match.start()] if run else ""
        if run and not _JOINER.fullmatch(gap):
            found.extend(_read_run(text, run))
            run = []
        after_and = bool(run) and "and" in gap.lower()
        run.append(_Word(match.start(), match.end(), match.group(0).lower(), after_and))
    if run:
        found.extend(_read_run(text, run))
    return found


def _read_run(text: str, run: list[_Word]) -> list[Num]:
    found = []
    i = 0
    while i < len(run):
        value, j = _read_number(text, run, i)
        if value is not None:
            start = run[i].start
            if run[i].word in _ALONE_AFTER_A:
                a = _A_BEFORE.search(text, max(0, start - 4), start)
                if a is not None:
                    start = a.start()
                elif run[i].word == "couple":
                    value = None
            if value is not None:
                found.append(Num(start, run[j - 1].end, value))
        i = j
    return found


def _read_number(text: str, run: list[_Word], i: int) -> tuple[int | None, int]:
    """The number that starts at ``run[i]`` and the index of the first word after it.

    English puts the words of one number in a fixed order (scale words falling, units after
    tens); where that order breaks, the next number starts: "two three" is two numbers.
    """
    total = current = 0
    last = ""
    last_scale = 10**12
    k = i
    while k < len(run):
        word, after_and = run[k].word, run[k].after_and
        if k > i and after_and and last not in ("hundred", "scale"):
            break
        if word == "zero":
            if k > i:
                break
            current, last = 0, "unit"
            k += 1
            break
        if word in _UNITS:
            if last not in ("", "hundred", "scale", "tens"):
                break
            current += _UNITS[word]
            last = "unit"
        elif word in _TEENS or word in _TENS:
            if last not in ("", "hundred", "scale"):
                break
            current += _TEENS.get(word) or _TENS[word]
            last = "tens" if word in _TENS else "teen"
        elif word == "hundred":
            if last in ("unit", "teen") and current < 100:
                current *= 100
            elif k == i:
                current = 100
            else:
                break
            last = "hundred"
        elif word in _SCALES:
            scale = _SCALES[word]
            if scale >= last_scale or (k > i and last == "scale"):
                break
            total += (current or 1) * scale
            current, last, last_scale = 0, "scale", scale
        elif word == "dozen":
            if last not in ("", "unit", "teen", "tens"):
                break
            current = (current or 1) * 12
            k += 1
            break
        else:  # "couple": only "a couple", read by the caller
            if k > i:
                break
            return 2, k + 1
        k += 1
    if k == i:
        return None, i + 1
    return total + current, k
