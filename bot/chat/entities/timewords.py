"""The pieces a time is made of: days, times of day, relative times, in English words.

Each reader finds one kind of piece with a regex; ``pieces`` runs only the readers whose
words occur in the message. Joining pieces ("tomorrow" + "at 5pm") is left to ``timex``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
from bot.chat.entities.numbers import ORDINAL_VOCABULARY, ordinal_word
from bot.chat.entities.timepatterns import (
    AFTER,
    AGO,
    AT,
    DAY_MONTH,
    DAY_OF_MONTH,
    DAY_PREFIX,
    DAY_RANGES,
    FROM_NOW,
    GRAIN_RE,
    HOUR_WORDS,
    IN,
    IN_BEFORE,
    IN_MONTH,
    IN_YEAR,
    ISO,
    LAST_N,
    LOWER,
    MOD_OFFSETS,
    MONTH_ABBR,
    MONTH_DAY,
    MONTH_YEAR,
    MONTHS,
    NOW,
    NUMERIC,
    ON_BEFORE,
    OPENER,
    RELATIVE_DAY,
    RELATIVE_OFFSETS,
    TOD,
    TOD_RANGE,
    TODAY_PART,
    WEEKDAY_ABBR,
    WEEKDAY_RE,
    WEEKDAYS,
    WITHIN,
)

# -- reading the pieces ----------------------------------------------------------------


def _month_number(name: str) -> int:
    name = name.lower()
    return next(n for full, n in MONTHS.items() if full.startswith(name[:3]))


def _day_number(match: re.Match[str], name: str = "day") -> int:
    digits = match.group(name)
    return int(digits) if digits else ordinal_word(match.group(f"{name}_w"))


def _opened(text: str, start: int) -> tuple[int, str]:
    """A range's start with its "from" or "between", and which of the two it was."""
    opener = OPENER.search(text, max(0, start - 10), start)
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
    for match in MONTH_DAY[words].finditer(text):
        days = _date_days(
            match.group("year"), _month_number(match.group("month")), _day_number(match)
        )
        if days is not None:
            yield Piece(_back(DAY_PREFIX, text, match.start()), match.end(), days=days)
    for match in DAY_MONTH[words].finditer(text):
        month = match.group("month").lower()
        # "5 may be enough", "2 march on": a verb, unless the day reads as a date.
        if month in ("may", "march") and not (match.group("of") or match.group("day_sfx")):
            continue
        days = _date_days(match.group("year"), _month_number(month), _day_number(match))
        if days is not None:
            yield Piece(_back(DAY_PREFIX, text, match.start()), match.end(), days=days)


def _days_of_month(text: str) -> Iterable[Piece]:
    for match in DAY_OF_MONTH.finditer(text):
        day = _day_number(match)
        if 1 <= day <= 31:
            on = match.group("prep").lower() == "on"
            start = match.start() if on else match.start("the")
            yield Piece(start, match.end(), days=monthly(day))


def _numeric_dates(text: str, tz: tzinfo | None) -> Iterable[Piece]:
    for match in ISO.finditer(text):
        year, month, day = int(match.group("y")), int(match.group("m")), int(match.group("d"))
        if not (1 <= month <= 12 and 1 <= day <= days_in(year, month)):
            continue
        if match.group("H") is None:
            yield Piece(
                _back(ON_BEFORE, text, match.start(), 5),
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
        start = _back(ON_BEFORE, text, match.start(), 5)
        yield Piece(start, match.end(), time=Point((Instant(moment, grain),)))
    for match in NUMERIC.finditer(text):
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
            yield Piece(_back(ON_BEFORE, text, match.start(), 5), match.end(), days=days)


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
    for match in RELATIVE_DAY.finditer(text):
        rel = " ".join(match.group("rel").lower().split())
        if "after" in rel:
            offset = 2
        elif "before" in rel:
            offset = -2
        else:
            offset = RELATIVE_OFFSETS[rel]
        yield Piece(match.start(), match.end(), days=days_from_today(offset))


def _weekdays(text: str) -> Iterable[Piece]:
    for match in WEEKDAY_RE.finditer(text):
        name = match.group("wd").lower()
        weekday = WEEKDAYS.index(name) if name in WEEKDAYS else WEEKDAY_ABBR[name]
        week = (match.group("week") or "").lower()
        mod = (match.group("mod") or "").lower()
        if week:
            days = weekday_of_week(weekday, {"this": 0, "next": 1, "last": -1}[week])
        else:
            days = next_weekday(weekday, -1 if mod in ("last", "past") else 1)
        yield Piece(match.start(), match.end(), days=days)


def _hour_value(token: str) -> int:
    return int(token) if token.isdigit() else HOUR_WORDS.index(token.lower()) + 1


def _tods(text: str) -> Iterable[Piece]:
    for match in TOD.finditer(text):
        tod = _read_tod(match)
        if tod is not None:
            yield Piece(_back(AT, text, match.start(), 8), match.end(), tod=tod)


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
    for match in TOD_RANGE.finditer(text):
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
    for match in GRAIN_RE.finditer(text):
        mod = match.group("mod").lower()
        grain = match.group("grain").lower().replace("-", "")
        if mod == "the" and grain != "weekend":
            continue
        offset = MOD_OFFSETS.get(mod, -1)
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
    for match in MONTH_YEAR.finditer(text):
        month = _month_number(match.group("month"))
        moment = datetime(int(match.group("year")), month, 1)
        start = _back(IN_BEFORE, text, match.start(), 6)
        yield closed(start, match.end(), point(moment, "month"))
    for match in IN_MONTH.finditer(text):
        month = _month_number(match.group("month"))
        year = now.year if month >= now.month else now.year + 1
        values = tuple(Instant(datetime(year + k, month, 1), "month") for k in range(3))
        yield closed(match.start(), match.end(), Point(values))


def _years(text: str) -> Iterable[Piece]:
    for match in IN_YEAR.finditer(text):
        moment = datetime(int(match.group("year")), 1, 1)
        yield closed(match.start(), match.end(), point(moment, "year"))


def _today_parts(text: str, now: datetime) -> Iterable[Piece]:
    for match in TODAY_PART.finditer(text):
        part = (match.group("part") or "evening").lower()
        yield closed(match.start(), match.end(), part_of(now.date(), part))


def _now(text: str, now: datetime) -> Iterable[Piece]:
    for match in NOW.finditer(text):
        yield closed(match.start(), match.end(), point(now, "second"))


def _relative_pieces(text: str, durations: list[Duration], now: datetime) -> Iterable[Piece]:
    """ "in 3 days", "2 weeks ago", "the last 3 months", "after 5 days", "within a week"."""
    for dur in durations:
        lower = LOWER[dur.grain]
        head = text[max(0, dur.start - 20) : dur.start]
        later = trunc(add(now, dur.amount, dur.grain), lower)
        if (match := IN.search(head)) is not None:
            start = dur.start - len(head) + match.start()
            yield closed(start, dur.end, Point((Instant(later, lower),)))
        if (match := FROM_NOW.match(text, dur.end)) is not None:
            yield closed(dur.start, match.end(), Point((Instant(later, lower),)))
        if (match := AGO.match(text, dur.end)) is not None:
            earlier = trunc(add(now, -dur.amount, dur.grain), lower)
            yield closed(dur.start, match.end(), Point((Instant(earlier, lower),)))
        if (match := AFTER.search(head)) is not None:
            start = dur.start - len(head) + match.start()
            yield closed(start, dur.end, Span(Instant(later, lower), None))
        if (match := WITHIN.search(head)) is not None:
            start = dur.start - len(head) + match.start()
            span = Span(Instant(trunc(now, "second"), "second"), Instant(later, "second"))
            yield closed(start, dur.end, span)
        if (match := LAST_N.search(head)) is not None:
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
    for pattern in DAY_RANGES:
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


_MONTH_WORDS = frozenset([*MONTHS, *MONTH_ABBR])
_WEEKDAY_WORDS = frozenset([*WEEKDAYS, *WEEKDAY_ABBR])
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
