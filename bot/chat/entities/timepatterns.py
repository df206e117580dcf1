"""The words and patterns that times are written with: month and weekday names, and the
regexes the readers in ``timewords`` use (kept apart so the readers fit on a screen)."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.chat.entities.numbers import ORDINAL_WORD

LOWER = {
    "second": "second",
    "minute": "second",
    "hour": "minute",
    "day": "hour",
    "week": "day",
    "month": "day",
    "quarter": "month",
    "year": "month",
}
MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# "wed", "sat" and "sun" are left out: they are words more often than days.
WEEKDAY_ABBR = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "weds": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
}
HOUR_WORDS = (
    *("one", "two", "three", "four", "five", "six"),
    *("seven", "eight", "nine", "ten", "eleven", "twelve"),
)
ON = r"(?:\bon\s+)?"
MONTH_ABBR = ("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sept", "sep", "oct", "nov", "dec")
MONTH_NAMES = "|".join([*MONTHS, *MONTH_ABBR])
WEEKDAY = "|".join([*WEEKDAYS, *sorted(WEEKDAY_ABBR, key=len, reverse=True)])
YEAR = r"(?P<year>(?:19|20)\d{2})\b"
ORD_SUFFIX = r"(?:st|nd|rd|th)"


def month(name: str = "month") -> str:
    return rf"\b(?P<{name}>{MONTH_NAMES})\b\.?"


# A lookahead on the first characters lets Python's regex engine skip the positions where no
# match can start: several times faster for the patterns that open with an alternation.
MONTH_FIRST = "(?=[adfjmnos])"


def day(name: str = "day", *, words: bool = False) -> str:
    digits = rf"(?<![\w.,:])(?P<{name}>\d{{1,2}})(?P<{name}_sfx>{ORD_SUFFIX})?(?![\w:]|[.,]\d)"
    return rf"(?:{digits}|\b(?P<{name}_w>{ORDINAL_WORD})\b)" if words else digits


def with_and_without_words(pattern: Callable[[bool], str]) -> tuple[re.Pattern[str], ...]:
    """Two compilations: day numbers in digits only, and also in words ("June fifth").

    The words make a regex several times slower and are rare; the first is used unless the
    message holds an ordinal word.
    """
    return tuple(re.compile(pattern(words), re.IGNORECASE) for words in (False, True))


# Prefixes that a regex would try at every position are matched backwards from a match.
DAY_PREFIX = re.compile(rf"(?:\bon\s+)?(?:\b(?:{WEEKDAY})\b\.?\s*,?\s*)?$", re.IGNORECASE)
OPENER = re.compile(r"\b(?P<open>from|between)\s+$", re.IGNORECASE)
AT = re.compile(r"(?:\b(?:at|around|about)\s+|@\s*)$", re.IGNORECASE)
ON_BEFORE = re.compile(r"\bon\s+$", re.IGNORECASE)
IN_BEFORE = re.compile(r"\bin\s+$", re.IGNORECASE)
MONTH_DAY = with_and_without_words(
    lambda words: rf"{MONTH_FIRST}{month()}\s+(?:the\s+)?{day(words=words)}(?:\s*,?\s*{YEAR})?"
)
DAY_MONTH = with_and_without_words(
    lambda words: (
        rf"(?=[\dtfsne])(?:\bthe\s+)?{day(words=words)}\s+(?P<of>of\s+)?{month()}"
        rf"(?:\s*,?\s*{YEAR})?"
    )
)
MONTH_YEAR = re.compile(rf"{MONTH_FIRST}{month()}\s*,?\s*{YEAR}", re.IGNORECASE)
IN_MONTH = re.compile(rf"\b(?:in|during)\s+{month()}(?!\s*\d)", re.IGNORECASE)
IN_YEAR = re.compile(rf"\bin\s+{YEAR}", re.IGNORECASE)
# "on the 5th", "by the 15th": a bare "the 5th" is an ordinal (the 5th item).
DAY_OF_MONTH = re.compile(
    r"\b(?P<prep>on|by|until|till|before|after|since|from)\s+(?P<the>the\s+)"
    rf"(?:(?P<day>\d{{1,2}}){ORD_SUFFIX}|(?P<day_w>{ORDINAL_WORD}))\b",
    re.IGNORECASE,
)
ISO = re.compile(
    r"(?=\d)(?<![\w.:/-])(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:(?:T|\s+(?:at\s+)?)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?)?(?![\w/-]|[.:]\d)",
    re.IGNORECASE,
)
NUMERIC = re.compile(
    r"(?=\d)(?<![\w.,:/-])(?:(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?"
    r"|(?P<a2>\d{1,2})(?P<sep>[-.])(?P<b2>\d{1,2})(?P=sep)(?P<y2>\d{4}|\d{2}))"
    r"(?![\w/]|[.,:-]?\d)",
    re.IGNORECASE,
)
RELATIVE_DAY = re.compile(
    rf"{ON}\b(?P<rel>(?:the\s+)?day\s+after\s+tomorrow|(?:the\s+)?day\s+before\s+yesterday"
    r"|today|tomorrow|tmrw|yesterday)\b",
    re.IGNORECASE,
)
RELATIVE_OFFSETS = {"today": 0, "tomorrow": 1, "tmrw": 1, "yesterday": -1}
WEEKDAY_RE = re.compile(
    rf"{ON}\b(?:(?P<mod>this|next|last|coming|past)\s+)?(?P<wd>{WEEKDAY})(?:\.|\b)"
    r"(?:\s+(?:of\s+|from\s+)?(?P<week>this|next|last)\s+week\b)?",
    re.IGNORECASE,
)
GRAIN_RE = re.compile(
    r"\b(?:the\s+)?(?P<mod>this|current|coming|next|following|last|past|previous|the)"
    r"\s+(?P<grain>week-?end|week|month|year|quarter)\b",
    re.IGNORECASE,
)
MOD_OFFSETS = {"this": 0, "current": 0, "coming": 0, "the": 0, "next": 1, "following": 1}
TODAY_PART = re.compile(
    r"\b(?:this\s+(?P<part>morning|afternoon|evening)|(?P<tonight>tonight))\b", re.IGNORECASE
)
NOW = re.compile(r"\b(?:right\s+|just\s+)?now\b", re.IGNORECASE)

AMPM = r"(?P<ap>[ap])\.?\s?m\b\.?"
HOUR = r"(?:\d{1,2}|" + "|".join(HOUR_WORDS) + ")"
PART = (
    r"\s+(?:(?:in\s+the\s+|this\s+)(?P<part>morning|afternoon|evening|night)\b"
    r"|(?P<tonight>tonight)\b)"
)
PART_AHEAD = re.sub(r"\?P<\w+>", "", PART)
TOD = re.compile(
    r"(?=[\dotfsenm])(?<![\w.,:/-])(?:"
    rf"(?P<h1>{HOUR})(?::(?P<m1>\d{{2}})(?::(?P<s1>\d{{2}}))?)?\s*{AMPM}"
    r"|(?P<h2>\d{1,2}):(?P<m2>\d{2})(?::(?P<s2>\d{2}))?(?![\d:]|[.,]\d)"
    rf"|(?P<h3>{HOUR})\s*o'?\s?clock\b"
    r"|(?P<noon>noon|midday|midnight)\b"
    rf"|(?<=at\s)(?P<h4>\d{{1,2}})(?![\d:.,%]|\s*(?:[ap]\.?\s?m\b|o'?\s?clock))"
    rf"|(?P<h5>{HOUR})(?={PART_AHEAD}))"
    rf"(?:{PART})?",
    re.IGNORECASE,
)
TOD_RANGE = re.compile(
    r"(?=\d)(?<![\w.,:/-])"
    r"(?P<ah>\d{1,2})(?::(?P<am>\d{2}))?\s*(?:(?P<aap>[ap])\.?\s?m\b\.?)?"
    r"\s*(?P<joiner>-|–|to|till|until|and)\s*"
    rf"(?P<bh>\d{{1,2}})(?::(?P<bm>\d{{2}}))?(?:\s*{AMPM})?(?![\w:.,]|\s*o'?\s?clock)",
    re.IGNORECASE,
)
DAY_RANGE_JOIN = r"\s*(?P<joiner>-|–|to|through|thru|till|until|and)\s*"
DAY_RANGES = (
    re.compile(
        rf"{MONTH_FIRST}{month()}\s+(?:the\s+)?{day('d1')}"
        rf"{DAY_RANGE_JOIN}(?:the\s+)?{day('d2')}(?:\s*,?\s*{YEAR})?",
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?=[\dt])(?:\bthe\s+)?{day('d1')}{DAY_RANGE_JOIN}"
        rf"(?:the\s+)?{day('d2')}\s+(?:of\s+)?{month()}(?:\s*,?\s*{YEAR})?",
        re.IGNORECASE,
    ),
)
IN = re.compile(r"\bin\s+$", re.IGNORECASE)
FROM_NOW = re.compile(r"\s+(?:from\s+now|later|hence)\b", re.IGNORECASE)
AGO = re.compile(r"\s+ago\b", re.IGNORECASE)
LAST_N = re.compile(r"\b(?:the\s+)?(?P<mod>last|past|previous|next)\s+$", re.IGNORECASE)
AFTER = re.compile(r"\bafter\s+$", re.IGNORECASE)
WITHIN = re.compile(r"\bwithin\s+$", re.IGNORECASE)
