"""The pieces a time is made of: days, times of day, relative times, in English words.

Each reader finds one kind of piece with a regex; ``pieces`` runs only the readers whose
words occur in the message. Joining pieces ("tomorrow" + "at 5pm") is left to ``timex``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone, tzinfo

from bot.chat.entities.clock import (
    Days,
    Instant,
    Piece,
    Point,
    Span,
    Tod,
    add,
    closed,
    days_from_today,
    days_in,
    fixed,
    midnight,
    monthly,
    next_weekday,
    part_of,
    point,
    trunc,
    weekday_of_week,
    yearly,
)
from bot.chat.entities.clues import Clues
from bot.chat.entities.measures import Duration
from bot.chat.entities.numbers import ORDINAL_VOCABULARY, ORDINAL_WORD, ordinal_word

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
_MONTHS = {
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
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# "wed", "sat" and "sun" are left out: they are words more often than days.
_WEEKDAY_ABBR = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "weds": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
}
_HOUR_WORDS = (
    *("one", "two", "three", "four", "five", "six"),
    *("seven", "eight", "nine", "ten", "eleven", "twelve"),
)
_ON = r"(?:\bon\s+)?"
_MONTH_ABBR = ("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sept", "sep", "oct", "nov", "dec")
_MONTH_NAMES = "|".join([*_MONTHS, *_MONTH_ABBR])
_WEEKDAY = "|".join([*_WEEKDAYS, *sorted(_WEEKDAY_ABBR, key=len, reverse=True)])
_YEAR = r"(?P<year>(?:19|20)\d{2})\b"
_ORD_SUFFIX = r"(?:st|nd|rd|th)"


def _month(name: str = "month") -> str:
    return rf"\b(?P<{name}>{_MONTH_NAMES})\b\.?"


def _day(name: str = "day", *, words: bool = False) -> str:
    digits = rf"(?<![\w.,:])(?P<{name}>\d{{1,2}})(?P<{name}_sfx>{_ORD_SUFFIX})?(?![\w:]|[.,]\d)"
    return rf"(?:{digits}|\b(?P<{name}_w>{ORDINAL_WORD})\b)" if words else digits


def _with_and_without_words(pattern: Callable[[bool], str]) -> tuple[re.Pattern[str], ...]:
    """Two compilations: day numbers in digits only, and also in words ("June fifth").

    The words make a regex several times slower and are rare; the first is used unless the
    message holds an ordinal word.
    """
    return tuple(re.compile(pattern(words), re.IGNORECASE) for words in (False, True))


# Prefixes that a regex would try at every position are matched backwards from a match.
_DAY_PREFIX = re.compile(rf"(?:\bon\s+)?(?:\b(?:{_WEEKDAY})\b\.?\s*,?\s*)?$", re.IGNORECASE)
_OPENER = re.compile(r"\b(?P<open>from|between)\s+$", re.IGNORECASE)
_AT = re.compile(r"(?:\b(?:at|around|about)\s+|@\s*)$", re.IGNORECASE)
_ON_BEFORE = re.compile(r"\bon\s+$", re.IGNORECASE)
_IN_BEFORE = re.compile(r"\bin\s+$", re.IGNORECASE)
_MONTH_DAY = _with_and_without_words(
    lambda words: rf"{_month()}\s+(?:the\s+)?{_day(words=words)}(?:\s*,?\s*{_YEAR})?"
)
_DAY_MONTH = _with_and_without_words(
    lambda words: (
        rf"(?:\bthe\s+)?{_day(words=words)}\s+(?P<of>of\s+)?{_month()}(?:\s*,?\s*{_YEAR})?"
    )
)
_MONTH_YEAR = re.compile(rf"{_month()}\s*,?\s*{_YEAR}", re.IGNORECASE)
_IN_MONTH = re.compile(rf"\b(?:in|during)\s+{_month()}(?!\s*\d)", re.IGNORECASE)
_IN_YEAR = re.compile(rf"\bin\s+{_YEAR}", re.IGNORECASE)
# "on the 5th", "by the 15th": a bare "the 5th" is an ordinal (the 5th item).
_DAY_OF_MONTH = re.compile(
    r"\b(?P<prep>on|by|until|till|before|after|since|from)\s+(?P<the>the\s+)"
    rf"(?:(?P<day>\d{{1,2}}){_ORD_SUFFIX}|(?P<day_w>{ORDINAL_WORD}))\b",
    re.IGNORECASE,
)
_ISO = re.compile(
    r"(?<![\w.:/-])(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:(?:T|\s+(?:at\s+)?)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?)?(?![\w/-]|[.:]\d)",
    re.IGNORECASE,
)
_NUMERIC = re.compile(
    r"(?<![\w.,:/-])(?:(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?"
    r"|(?P<a2>\d{1,2})(?P<sep>[-.])(?P<b2>\d{1,2})(?P=sep)(?P<y2>\d{4}|\d{2}))"
    r"(?![\w/]|[.,:-]?\d)",
    re.IGNORECASE,
)
_RELATIVE_DAY = re.compile(
    rf"{_ON}\b(?P<rel>(?:the\s+)?day\s+after\s+tomorrow|(?:the\s+)?day\s+before\s+yesterday"
    r"|today|tomorrow|tmrw|yesterday)\b",
    re.IGNORECASE,
)
_RELATIVE_OFFSETS = {"today": 0, "tomorrow": 1, "tmrw": 1, "yesterday": -1}
_WEEKDAY_RE = re.compile(
    rf"{_ON}\b(?:(?P<mod>this|next|last|coming|past)\s+)?(?P<wd>{_WEEKDAY})(?:\.|\b)"
    r"(?:\s+(?:of\s+|from\s+)?(?P<week>this|next|last)\s+week\b)?",
    re.IGNORECASE,
)
_GRAIN_RE = re.compile(
    r"\b(?:the\s+)?(?P<mod>this|current|coming|next|following|last|past|previous|the)"
    r"\s+(?P<grain>week-?end|week|month|year|quarter)\b",
    re.IGNORECASE,
)
_MOD_OFFSETS = {"this": 0, "current": 0, "coming": 0, "the": 0, "next": 1, "following": 1}
_TODAY_PART = re.compile(
    r"\b(?:this\s+(?P<part>morning|afternoon|evening)|(?P<tonight>tonight))\b", re.IGNORECASE
)
_NOW = re.compile(r"\b(?:right\s+|just\s+)?now\b", re.IGNORECASE)

_AMPM = r"(?P<ap>[ap])\.?\s?m\b\.?"
_HOUR = r"(?:\d{1,2}|" + "|".join(_HOUR_WORDS) + ")"
_PART = (
    r"\s+(?:(?:in\s+the\s+|this\s+)(?P<part>morning|afternoon|evening|night)\b"
    r"|(?P<tonight>tonight)\b)"
)
_PART_AHEAD = re.sub(r"\?P<\w+>", "", _PART)
_TOD = re.compile(
    r"(?<![\w.,:/-])(?:"
    rf"(?P<h1>{_HOUR})(?::(?P<m1>\d{{2}})(?::(?P<s1>\d{{2}}))?)?\s*{_AMPM}"
    r"|(?P<h2>\d{1,2}):(?P<m2>\d{2})(?::(?P<s2>\d{2}))?(?![\d:]|[.,]\d)"
    rf"|(?P<h3>{_HOUR})\s*o'?\s?clock\b"
    r"|(?P<noon>noon|midday|midnight)\b"
    rf"|(?<=at\s)(?P<h4>\d{{1,2}})(?![\d:.,%]|\s*(?:[ap]\.?\s?m\b|o'?\s?clock))"
    rf"|(?P<h5>{_HOUR})(?={_PART_AHEAD}))"
    rf"(?:{_PART})?",
    re.IGNORECASE,
)
_TOD_RANGE = re.compile(
    r"(?<![\w.,:/-])"
    r"(?P<ah>\d{1,2})(?::(?P<am>\d{2}))?\s*(?:(?P<aap>[ap])\.?\s?m\b\.?)?"
    r"\s*(?P<joiner>-|–|to|till|until|and)\s*"
    rf"(?P<bh>\d{{1,2}})(?::(?P<bm>\d{{2}}))?(?:\s*{_AMPM})?(?![\w:.,]|\s*o'?\s?clock)",
    re.IGNORECASE,
)
_DAY_RANGE_JOIN = r"\s*(?P<joiner>-|–|to|through|thru|till|until|and)\s*"
_DAY_RANGES = (
    re.compile(
        rf"{_month()}\s+(?:the\s+)?{_day('d1')}"
        rf"{_DAY_RANGE_JOIN}(?:the\s+)?{_day('d2')}(?:\s*,?\s*{_YEAR})?",
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?:\bthe\s+)?{_day('d1')}{_DAY_RANGE_JOIN}"
        rf"(?:the\s+)?{_day('d2')}\s+(?:of\s+)?{_month()}(?:\s*,?\s*{_YEAR})?",
        re.IGNORECASE,
    ),
)
_IN = re.compile(r"\bin\s+$", re.IGNORECASE)
_FROM_NOW = re.compile(r"\s+(?:from\s+now|later|hence)\b", re.IGNORECASE)
_AGO = re.compile(r"\s+ago\b", re.IGNORECASE)
_LAST_N = re.compile(r"\b(?:the\s+)?(?P<mod>last|past|previous|next)\s+$", re.IGNORECASE)
_AFTER = re.compile(r"\bafter\s+$", re.IGNORECASE)
_WITHIN = re.compile(r"\bwithin\s+$", re.IGNORECASE)


# -- reading the pieces ----------------------------------------------------------------


def _month_number(name: str) -> int:
    name = name.lower()
    return next(n for full, n in _MONTHS.items() if full.startswith(name[:3]))


def _day_number(match: re.Match[str], name: str = "day") -> int:
    digits = match.group(name)
    return int(digits) if digits else ordinal_word(match.group(f"{name}_w"))


def _opened(text: str, start: int) -> tuple[int, str]:
    """A range's start with its "from" or "between", and which of the two it was."""
    opener = _OPENER.search(text, max(0, start - 10), start)
    return (start, "") if opener is None else (opener.start(), opener.group("open").lower())


def _back(pattern: re.Pattern[str], text: str, start: int, reach: int = 24) -> int:
    """Where a match starting at ``start`` begins once the prefix ``pattern`` is added."""
    prefix = pattern.search(text, max(0, start - reach), start)
    return start if prefix is None else prefix.start()


def _date_days(year: str | None, month: int, day: int) -> Days | None:
    if not 1 <= day <= 31 or day > days_in(2024, month):
        return None
    if year is None:
        return yearly(month, day)
    if day > days_in(int(year), month):
        return None
    return fixed(date(int(year), month, day))


def _two_digit_year(year: str) -> int:
    value = int(year)
    if len(year) == 2:
        return value + (2000 if value < 50 else 1900)
    return value


def _named_dates(text: str, words: bool) -> Iterable[Piece]:
    for match in _MONTH_DAY[words].finditer(text):
        days = _date_days(
            match.group("year"), _month_number(match.group("month")), _day_number(match)
        )
        if days is not None:
            yield Piece(_back(_DAY_PREFIX, text, match.start()), match.end(), days=days)
    for match in _DAY_MONTH[words].finditer(text):
        month = match.group("month").lower()
        # "5 may be enough", "2 march on": a verb, unless the day reads as a date.
        if month in ("may", "march") and not (match.group("of") or match.group("day_sfx")):
            continue
        days = _date_days(match.group("year"), _month_number(month), _day_number(match))
        if days is not None:
            yield Piece(_back(_DAY_PREFIX, text, match.start()), match.end(), days=days)


def _days_of_month(text: str) -> Iterable[Piece]:
    for match in _DAY_OF_MONTH.finditer(text):
        day = _day_number(match)
        if 1 <= day <= 31:
            on = match.group("prep").lower() == "on"
            start = match.start() if on else match.start("the")
            yield Piece(start, match.end(), days=monthly(day))


def _numeric_dates(text: str, tz: tzinfo | None) -> Iterable[Piece]:
    for match in _ISO.finditer(text):
        year, month, day = int(match.group("y")), int(match.group("m")), int(match.group("d"))
        if not (1 <= month <= 12 and 1 <= day <= days_in(year, month)):
            continue
        if match.group("H") is None:
            yield Piece(
                _back(_ON_BEFORE, text, match.start(), 5),
                match.end(),
                days=fixed(date(year, month, day)),
            )
            continue
        hour, minute = int(match.group("H")), int(match.group("M"))
        second = int(match.group("S") or 0)
        if hour > 23 or minute > 59 or second > 59:
            continue
        moment = datetime(year, month, day, hour, minute, second)
        if match.group("tz"):
            moment = _to_zone(moment, match.group("tz"), tz)
        grain = "second" if match.group("S") else "minute"
        start = _back(_ON_BEFORE, text, match.start(), 5)
        yield Piece(start, match.end(), time=Point((Instant(moment, grain),)))
    for match in _NUMERIC.finditer(text):
        a = int(match.group("a") or match.group("a2"))
        b = int(match.group("b") or match.group("b2"))
        written = match.group("y") or match.group("y2")
        # Duckling reads en as month/day; with a year, day/month where that is the only
        # reading ("31/10/2020"; "24/7" is not a date).
        month, day = (a, b) if a <= 12 or written is None else (b, a)
        if not 1 <= month <= 12:
            continue
        days = _date_days(None if written is None else str(_two_digit_year(written)), month, day)
        if days is not None:
            yield Piece(_back(_ON_BEFORE, text, match.start(), 5), match.end(), days=days)


def _to_zone(moment: datetime, zone: str, tz: tzinfo | None) -> datetime:
    """A time written with its own offset, as wall-clock time where the bot's values are."""
    if zone.upper() == "Z":
        offset = timedelta()
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    written = moment.replace(tzinfo=timezone(offset))
    return written.astimezone(tz).replace(tzinfo=None)


def _relative_days(text: str) -> Iterable[Piece]:
    for match in _RELATIVE_DAY.finditer(text):
        rel = " ".join(match.group("rel").lower().split())
        if "after" in rel:
            offset = 2
        elif "before" in rel:
            offset = -2
        else:
            offset = _RELATIVE_OFFSETS[rel]
        yield Piece(match.start(), match.end(), days=days_from_today(offset))


def _weekdays(text: str) -> Iterable[Piece]:
    for match in _WEEKDAY_RE.finditer(text):
        name = match.group("wd").lower()
        weekday = _WEEKDAYS.index(name) if name in _WEEKDAYS else _WEEKDAY_ABBR[name]
        week = (match.group("week") or "").lower()
        mod = (match.group("mod") or "").lower()
        if week:
            days = weekday_of_week(weekday, {"this": 0, "next": 1, "last": -1}[week])
        else:
            days = next_weekday(weekday, -1 if mod in ("last", "past") else 1)
        yield Piece(match.start(), match.end(), days=days)


def _hour_value(token: str) -> int:
    return int(token) if token.isdigit() else _HOUR_WORDS.index(token.lower()) + 1


def _tods(text: str) -> Iterable[Piece]:
    for match in _TOD.finditer(text):
        tod = _read_tod(match)
        if tod is not None:
            yield Piece(_back(_AT, text, match.start(), 8), match.end(), tod=tod)


def _read_tod(match: re.Match[str]) -> Tod | None:
    group = match.group
    pm: bool | None = None
    if group("ap"):
        pm = group("ap").lower() == "p"
    elif group("tonight") or (group("part") or "").lower() in ("afternoon", "evening", "night"):
        pm = True
    elif group("part"):
        pm = False
    if group("noon"):
        hour = 0 if group("noon").lower() == "midnight" else 12
        return Tod(hour, 0, 0, "hour", False)
    raw_hour = group("h1") or group("h2") or group("h3") or group("h4") or group("h5")
    hour = _hour_value(raw_hour)
    minute = int(group("m1") or group("m2") or 0)
    second = int(group("s1") or group("s2") or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    if group("s1") or group("s2"):
        grain = "second"
    elif group("m1") or group("m2"):
        grain = "minute"
    else:
        grain = "hour"
    if pm is not None:
        if not 1 <= hour <= 12:
            return None if group("ap") else Tod(hour, minute, second, grain, False)
        hour = hour % 12 + (12 if pm else 0)
        return Tod(hour, minute, second, grain, False)
    ambiguous = 1 <= hour <= 12 and not raw_hour.startswith("0")
    return Tod(hour, minute, second, grain, ambiguous)


def _tod_ranges(text: str) -> Iterable[Piece]:
    for match in _TOD_RANGE.finditer(text):
        start, opener = _opened(text, match.start())
        if match.group("joiner").lower() == "and" and opener != "between":
            continue
        a_hour, b_hour = int(match.group("ah")), int(match.group("bh"))
        a_min, b_min = int(match.group("am") or 0), int(match.group("bm") or 0)
        if not (1 <= a_hour <= 12 and 1 <= b_hour <= 12 and a_min < 60 and b_min < 60):
            continue
        b_grain = "minute" if match.group("bm") else "hour"
        if not match.group("ap"):
            if not match.group("aap"):
                continue  # "5-6": a range of numbers, not of hours
            # "8am until 6": the end is the first 6 o'clock after the start.
            a = a_hour % 12 + (12 if match.group("aap").lower() == "p" else 0)
            tod_a = Tod(a, a_min, 0, "minute" if match.group("am") else "hour", False)
            tod_b = Tod(b_hour, b_min, 0, b_grain, True)
            yield Piece(start, match.end(), tod=tod_a, until=tod_b)
            continue
        pm = match.group("ap").lower() == "p"
        b = b_hour % 12 + (12 if pm else 0)
        if match.group("aap"):
            a = a_hour % 12 + (12 if match.group("aap").lower() == "p" else 0)
        else:
            # "3-4pm" is 3pm; "11-1pm" is 11am: the start takes the end's half unless later.
            a = a_hour % 12 + (12 if pm else 0)
            if (a, a_min) > (b, b_min):
                a = a_hour % 12 + (0 if pm else 12)
        tod_a = Tod(a, a_min, 0, "minute" if match.group("am") else "hour", False)
        tod_b = Tod(b, b_min, 0, b_grain, False)
        yield Piece(start, match.end(), tod=tod_a, until=tod_b)


def _grain_pieces(text: str, now: datetime) -> Iterable[Piece]:
    for match in _GRAIN_RE.finditer(text):
        mod = match.group("mod").lower()
        grain = match.group("grain").lower().replace("-", "")
        if mod == "the" and grain != "weekend":
            continue
        offset = _MOD_OFFSETS.get(mod, -1)
        if grain == "weekend":
            monday = trunc(now, "week") + timedelta(weeks=offset)
            span = Span(
                Instant(monday + timedelta(days=4, hours=18), "hour"),
                Instant(monday + timedelta(days=7), "hour"),
            )
            yield closed(match.start(), match.end(), span)
        else:
            base = add(trunc(now, grain), offset, grain)
            yield closed(match.start(), match.end(), point(base, grain))


def _months(text: str, now: datetime) -> Iterable[Piece]:
    for match in _MONTH_YEAR.finditer(text):
        month = _month_number(match.group("month"))
        moment = datetime(int(match.group("year")), month, 1)
        start = _back(_IN_BEFORE, text, match.start(), 6)
        yield closed(start, match.end(), point(moment, "month"))
    for match in _IN_MONTH.finditer(text):
        month = _month_number(match.group("month"))
        year = now.year if month >= now.month else now.year + 1
        values = tuple(Instant(datetime(year + k, month, 1), "month") for k in range(3))
        yield closed(match.start(), match.end(), Point(values))


def _years(text: str) -> Iterable[Piece]:
    for match in _IN_YEAR.finditer(text):
        moment = datetime(int(match.group("year")), 1, 1)
        yield closed(match.start(), match.end(), point(moment, "year"))


def _today_parts(text: str, now: datetime) -> Iterable[Piece]:
    for match in _TODAY_PART.finditer(text):
        part = (match.group("part") or "evening").lower()
        yield closed(match.start(), match.end(), part_of(now.date(), part))


def _now(text: str, now: datetime) -> Iterable[Piece]:
    for match in _NOW.finditer(text):
        yield closed(match.start(), match.end(), point(now, "second"))


def _relative_pieces(text: str, durations: list[Duration], now: datetime) -> Iterable[Piece]:
    """ "in 3 days", "2 weeks ago", "the last 3 months", "after 5 days", "within a week"."""
    for dur in durations:
        lower = LOWER[dur.grain]
        head = text[max(0, dur.start - 20) : dur.start]
        later = trunc(add(now, dur.amount, dur.grain), lower)
        if (match := _IN.search(head)) is not None:
            start = dur.start - len(head) + match.start()
            yield closed(start, dur.end, Point((Instant(later, lower),)))
        if (match := _FROM_NOW.match(text, dur.end)) is not None:
            yield closed(dur.start, match.end(), Point((Instant(later, lower),)))
        if (match := _AGO.match(text, dur.end)) is not None:
            earlier = trunc(add(now, -dur.amount, dur.grain), lower)
            yield closed(dur.start, match.end(), Point((Instant(earlier, lower),)))
        if (match := _AFTER.search(head)) is not None:
            start = dur.start - len(head) + match.start()
            yield closed(start, dur.end, Span(Instant(later, lower), None))
        if (match := _WITHIN.search(head)) is not None:
            start = dur.start - len(head) + match.start()
            span = Span(Instant(trunc(now, "second"), "second"), Instant(later, "second"))
            yield closed(start, dur.end, span)
        if (match := _LAST_N.search(head)) is not None:
            start = dur.start - len(head) + match.start()
            base = trunc(now, dur.grain)
            if match.group("mod").lower() == "next":
                begin, finish = add(base, 1, dur.grain), add(base, dur.amount + 1, dur.grain)
            else:
                begin, finish = add(base, -dur.amount, dur.grain), base
            span = Span(Instant(begin, dur.grain), Instant(finish, dur.grain))
            yield closed(start, dur.end, span)


def _day_ranges(text: str, now: datetime) -> Iterable[Piece]:
    """ "June 1-5", "from 13 to 15 July": one month, two days, the last one included."""
    today = now.date()
    for pattern in _DAY_RANGES:
        for match in pattern.finditer(text):
            start, opener = _opened(text, match.start())
            if match.group("joiner").lower() == "and" and opener != "between":
                continue
            month = _month_number(match.group("month"))
            first, last = _day_number(match, "d1"), _day_number(match, "d2")
            if not 1 <= first < last <= days_in(2024, month):
                continue
            days = _date_days(match.group("year"), month, first)
            begin = days(today, False) if days is not None else []
            if not begin or last > days_in(begin[0].year, month):
                continue
            end = midnight(begin[0].replace(day=last)) + timedelta(days=1)
            span = Span(Instant(midnight(begin[0]), "day"), Instant(end, "day"))
            yield closed(start, match.end(), span)


_MONTH_WORDS = frozenset([*_MONTHS, *_MONTH_ABBR])
_WEEKDAY_WORDS = frozenset([*_WEEKDAYS, *_WEEKDAY_ABBR])
_RELATIVE_WORDS = frozenset(["today", "tomorrow", "tmrw", "yesterday"])
_TOD_WORDS = frozenset(
    {
        *("noon", "midday", "midnight", "clock", "am", "pm", "m"),
        *("tonight", "morning", "afternoon", "evening", "night"),
    }
)
_GRAIN_WORDS = frozenset(["week", "month", "year", "quarter", "weekend", "end"])
_PART_WORDS = frozenset(["morning", "afternoon", "evening", "tonight"])


def pieces(text: str, clues: Clues, durations: list[Duration], reference: datetime) -> list[Piece]:
    """Every piece of a time in ``text``; ``reference`` is the aware reference time."""
    now = reference.replace(tzinfo=None)
    found: list[Piece] = []
    if clues.any(_MONTH_WORDS):
        found.extend(_named_dates(text, clues.any(ORDINAL_VOCABULARY)))
        found.extend(_months(text, now))
        found.extend(_day_ranges(text, now))
    if clues.digits:
        found.extend(_numeric_dates(text, reference.tzinfo))
        found.extend(_tod_ranges(text))
        if "in" in clues.words:
            found.extend(_years(text))
    if "the" in clues.words and (clues.digits or clues.any(ORDINAL_VOCABULARY)):
        found.extend(_days_of_month(text))
    if clues.digits or clues.any(_TOD_WORDS):
        found.extend(_tods(text))
    if clues.any(_RELATIVE_WORDS):
        found.extend(_relative_days(text))
    if clues.any(_WEEKDAY_WORDS):
        found.extend(_weekdays(text))
    if clues.any(_GRAIN_WORDS):
        found.extend(_grain_pieces(text, now))
    if clues.any(_PART_WORDS):
        found.extend(_today_parts(text, now))
    if "now" in clues.words:
        found.extend(_now(text, now))
    if durations:
        found.extend(_relative_pieces(text, durations, now))
    return found
