"""Moments, intervals and calendar arithmetic for the time rules, in Duckling's terms.

Times here are naive wall-clock times in the zone of the reference time; the zone is put on
only when a value is written, so that "tomorrow 00:00" stays midnight across a DST change.
"""

from __future__ import annotations

from calendar import isleap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import NamedTuple

_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
PARTS = {"morning": (4, 12), "afternoon": (12, 19), "evening": (18, 24), "night": (18, 24)}


class Instant(NamedTuple):
    at: datetime  # wall-clock time in the reference time's zone
    grain: str


class Point(NamedTuple):
    """A moment: the first value and the next few of a series ("monday": three mondays)."""

    values: tuple[Instant, ...]


class Span(NamedTuple):
    start: Instant | None
    end: Instant | None


Time = Point | Span
Days = Callable[[date, bool], list[date]]


class Tod(NamedTuple):
    """A time of day; ``ambiguous`` when "at 5" may be 5:00 or 17:00."""

    hour: int
    minute: int
    second: int
    grain: str
    ambiguous: bool

    def on(self, day: date) -> list[datetime]:
        base = datetime(day.year, day.month, day.day, self.hour, self.minute, self.second)
        return [base, base + timedelta(hours=12)] if self.ambiguous else [base]


@dataclass(frozen=True, slots=True)
class Piece:
    """Part of a time as read, before the reference time says which day it is.

    Kept unresolved so that pieces can be joined ("tomorrow" + "at 5pm"), as Duckling joins
    its tokens; ``time`` holds what needs no joining ("last week", "in 3 days").
    """

    start: int
    end: int
    days: Days | None = None
    tod: Tod | None = None
    until: Tod | None = None  # with ``tod``: a range of the day ("9am to 5pm")
    time: Time | None = None  # resolved already; joins nothing

    @property
    def day_only(self) -> bool:
        return self.days is not None and self.tod is None

    @property
    def tod_only(self) -> bool:
        return self.days is None and self.tod is not None and self.until is None


class Found(NamedTuple):
    start: int
    end: int
    time: Time


# -- calendar arithmetic ---------------------------------------------------------------


def add(moment: datetime, n: int, grain: str) -> datetime:
    if grain in ("second", "minute", "hour", "day", "week"):
        return moment + timedelta(**{f"{grain}s": n})
    months = moment.month - 1 + n * {"month": 1, "quarter": 3, "year": 12}[grain]
    year, month = moment.year + months // 12, months % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, days_in(year, month)))


def trunc(moment: datetime, grain: str) -> datetime:
    if grain == "second":
        return moment.replace(microsecond=0)
    if grain == "minute":
        return moment.replace(second=0, microsecond=0)
    if grain == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = datetime.combine(moment.date(), clock())
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def days_in(year: int, month: int) -> int:
    return 29 if month == 2 and isleap(year) else _MONTH_DAYS[month]


def midnight(day: date) -> datetime:
    return datetime.combine(day, clock())


# -- series of days -----------------------------------------------------------------------


def fixed(day: date) -> Days:
    return lambda today, past: [day]


def days_from_today(days: int) -> Days:
    return lambda today, past: [today + timedelta(days=days)]


def next_weekday(weekday: int, direction: int) -> Days:
    """The next such weekday after today (Duckling: "tuesday" on a Tuesday is in a week)."""

    def days(today: date, past: bool) -> list[date]:
        if direction < 0 or past:
            return [today - timedelta(days=(today.weekday() - weekday - 1) % 7 + 1)]
        first = today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
        return [first + timedelta(weeks=k) for k in range(3)]

    return days


def weekday_of_week(weekday: int, weeks: int) -> Days:
    def days(today: date, past: bool) -> list[date]:
        monday = today - timedelta(days=today.weekday())
        return [monday + timedelta(weeks=weeks, days=weekday)]

    return days


def yearly(month: int, day: int) -> Days:
    """This day of the year next to come (today included), or last gone when ``past``."""

    def days(today: date, past: bool) -> list[date]:
        step = -1 if past else 1
        found: list[date] = []
        year = today.year
        while len(found) < (1 if past else 3) and abs(year - today.year) < 9:
            if day <= days_in(year, month):
                candidate = date(year, month, day)
                if (candidate <= today) if past else (candidate >= today):
                    found.append(candidate)
            year += step
        return found

    return days


def monthly(day: int) -> Days:
    def days(today: date, past: bool) -> list[date]:
        found: list[date] = []
        year, month = today.year, today.month
        for _ in range(12):
            if day <= days_in(year, month):
                candidate = date(year, month, day)
                if (candidate <= today) if past else (candidate >= today):
                    found.append(candidate)
                    if past or len(found) == 3:
                        break
            month += -1 if past else 1
            if month in (0, 13):
                year, month = year + (1 if month == 13 else -1), 12 if month == 0 else 1
        return found

    return days


# -- resolving ----------------------------------------------------------------------------


def tod_series(tod: Tod, now: datetime, past: bool) -> list[datetime]:
    """The next three times of day from now on (Duckling: "at 3am" at 4:30 is tomorrow's)."""
    found: list[datetime] = []
    floor = trunc(now, tod.grain)
    for k in range(4):
        day = now.date() + timedelta(days=-k if past else k)
        times = reversed(tod.on(day)) if past else tod.on(day)
        found.extend(t for t in times if (t <= now if past else t >= floor))
    return found[: 1 if past else 3]


def first_after(tod: Tod, moment: datetime) -> datetime:
    """The end of a range of the day: "10pm to 2am" ends the next day."""
    day = moment.date()
    candidates = [*tod.on(day), *tod.on(day + timedelta(days=1))]
    return min(t for t in candidates if t >= moment)


def resolve(piece: Piece, now: datetime, *, past: bool = False) -> Time | None:
    """The time a piece stands for at ``now``; ``past`` picks the last one gone ("since")."""
    if piece.time is not None:
        return piece.time
    today = now.date()
    days = piece.days(today, past) if piece.days is not None else None
    if days == []:
        return None
    if piece.tod is None:
        assert days is not None
        return Point(tuple(Instant(midnight(d), "day") for d in days))
    if piece.until is not None:
        first = piece.tod.on(days[0])[0] if days else tod_series(piece.tod, now, past)[0]
        end = first_after(piece.until, first)
        return Span(
            Instant(first, piece.tod.grain),
            Instant(add(end, 1, piece.until.grain), piece.until.grain),
        )
    if days is None:
        times = tod_series(piece.tod, now, past)
    else:
        times = [t for d in days for t in piece.tod.on(d)][:3]
    return Point(tuple(Instant(t, piece.tod.grain) for t in times)) if times else None


def point(moment: datetime, grain: str) -> Point:
    return Point((Instant(trunc(moment, grain), grain),))


def closed(start: int, end: int, time: Time) -> Piece:
    return Piece(start, end, time=time)


def part_of(day: date, part: str) -> Span:
    begin, finish = PARTS[part]
    start = midnight(day)
    return Span(
        Instant(start + timedelta(hours=begin), "hour"),
        Instant(start + timedelta(hours=finish), "hour"),
    )
