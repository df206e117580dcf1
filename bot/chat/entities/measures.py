"""Durations ("3 days", "half an hour") and distances ("5 km"), as Duckling gives them.

Durations are also the heart of relative times ("in 3 days", "2 weeks ago"), which the time
rules build from the ones found here.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from bot.chat.entities.clues import Clues
from bot.chat.entities.numbers import Num

SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "quarter": 90 * 86400,
    "year": 365 * 86400,
}
_UNIT_WORDS = {
    "second": r"sec(?:ond)?s?",
    "minute": r"min(?:ute)?s?",
    "hour": r"h(?:ou)?rs?|hours?",
    "day": r"days?",
    "week": r"weeks?|wks?",
    "month": r"months?",
    "quarter": r"quarters?",
    "year": r"years?|yrs?",
}
# "a couple of days": the number may take an "of".
_UNIT = re.compile(
    r"(?:\s+of)?\s*(?:" + "|".join(f"(?P<{g}>{w})" for g, w in _UNIT_WORDS.items()) + r")\b",
    re.IGNORECASE,
)
_ONE = re.compile(
    r"\b(?:an?|one)\s+(?:" + "|".join(f"(?P<{g}>{w})" for g, w in _UNIT_WORDS.items()) + r")\b",
    re.IGNORECASE,
)
_UNIT_VOCABULARY = frozenset(
    {
        *("sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes"),
        *("hr", "hrs", "hour", "hours", "day", "days", "week", "weeks", "wk", "wks"),
        *("month", "months", "quarter", "quarters", "year", "years", "yr", "yrs"),
    }
)
_HALF_HOUR = re.compile(r"\bhalf\s+an?\s+hour\b", re.IGNORECASE)

_DISTANCE_UNITS = {
    "kilometre": r"km|kilomet(?:er|re)s?",
    "mile": r"miles?|mi",
    "metre": r"met(?:er|re)s?",
    "centimetre": r"cm|centimet(?:er|re)s?",
    "millimetre": r"mm|millimet(?:er|re)s?",
    "foot": r"ft|feet|foot",
    "inch": r"inch(?:es)?",
    "yard": r"yards?|yds?",
}
_DISTANCE = re.compile(
    r"\s*(?:" + "|".join(f"(?P<{u}>{w})" for u, w in _DISTANCE_UNITS.items()) + r")\b",
    re.IGNORECASE,
)


class Duration(NamedTuple):
    start: int
    end: int
    amount: int
    grain: str

    def info(self) -> dict[str, Any]:
        return {
            "type": "value",
            "value": self.amount,
            "unit": self.grain,
            self.grain: self.amount,
            "normalized": {"unit": "second", "value": self.amount * SECONDS[self.grain]},
        }


class Distance(NamedTuple):
    start: int
    end: int
    value: int | float
    unit: str


def _group(match: re.Match[str]) -> str:
    return next(name for name, text in match.groupdict().items() if text)


def durations(text: str, nums: list[Num], clues: Clues) -> list[Duration]:
    """Whole numbers of a unit: Duckling's durations are integers of their grain."""
    found: list[Duration] = []
    if not (nums or clues.any(_UNIT_VOCABULARY)):
        return found
    for num in nums:
        if not isinstance(num.value, int) or num.value < 0:
            continue
        unit = _UNIT.match(text, num.end)
        if unit is not None:
            found.append(Duration(num.start, unit.end(), num.value, _group(unit)))
    if clues.any(_UNIT_VOCABULARY):
        for match in _ONE.finditer(text):
            found.append(Duration(match.start(), match.end(), 1, _group(match)))
        for match in _HALF_HOUR.finditer(text):
            found.append(Duration(match.start(), match.end(), 30, "minute"))
    return found


def distances(text: str, nums: list[Num]) -> list[Distance]:
    found = []
    for num in nums:
        unit = _DISTANCE.match(text, num.end)
        if unit is not None:
            found.append(Distance(num.start, unit.end(), num.value, _group(unit)))
    return found
