"""Dates and times, as Duckling's ``time``: a moment with a grain, or an interval.

Duckling's conventions are kept because Rasa actions depend on them: a time is the start of
its grain ("tomorrow" is tomorrow 00:00 with grain ``day``, "last week" the Monday before,
grain ``week``); a day or hour without a year or date is the next one to come ("monday",
"June 5", "at 3pm"); "in 3 days" keeps an hour's precision (the grain below the duration's);
an interval's ``to`` is exclusive ("June 1 to June 5" ends June 6 00:00).

``timewords`` reads the pieces (a day, a time of day, a relative time); the rules here join
them (a day with a time of day, two times into an interval, "until" and a time into an open
one), which is how Duckling composes them too, minus the long tail of its rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from bot.chat.entities.clock import (
    Found,
    Instant,
    Piece,
    Point,
    Span,
    add,
    closed,
    first_after,
    part_of,
    resolve,
    trunc,
)
from bot.chat.entities.clues import Clues
from bot.chat.entities.measures import Duration
from bot.chat.entities.timewords import pieces

_DAY_PART = re.compile(
    r"\s+(?:in\s+the\s+)?(?P<part>morning|afternoon|evening|night)\b", re.IGNORECASE
)
_JOIN = re.compile(r"\s*(?:-|–|—|to|till|til|until|through|thru|and)\s*", re.IGNORECASE)
_OPENER = re.compile(r"\b(?:from|between)\s+$", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s+$", re.IGNORECASE)
_OPEN_BEFORE = re.compile(
    r"\b(?P<kw>until|till|til|up\s+to|before|through|thru|after|since|from|by)\s+$",
    re.IGNORECASE,
)
_GLUE = re.compile(r"\s*,?\s*")


def _tod_pairs(text: str, found: list[Piece]) -> Iterable[Piece]:
    """Two times of day joined by "to", "-", "between … and": a range of the day.

    Kept apart from other intervals because it still takes a day ("9 to 5 on Monday").
    """
    times = [p for p in found if p.tod_only]
    for a in times:
        for b in times:
            start = _interval_start(text, a, b)
            if start is not None:
                yield Piece(start, b.end, tod=a.tod, until=b.tod)


def _interval_start(text: str, a: Piece, b: Piece) -> int | None:
    """Where "a to b" starts, with its "from" or "between"; None if a and b are not joined.

    "and" joins only after "between": "2 and 3pm" is a number and a time.
    """
    if b.start <= a.end or not _JOIN.fullmatch(text, a.end, b.start):
        return None
    head = text[max(0, a.start - 10) : a.start]
    if text[a.end : b.start].strip().lower() == "and" and not _BETWEEN.search(head):
        return None
    opener = _OPENER.search(head)
    return a.start if opener is None else a.start - len(head) + opener.start()


def _joined(text: str, found: list[Piece], now: datetime) -> Iterable[Piece]:
    """A day next to a time of day ("tomorrow at 5pm", "9 to 5 on Monday") is one piece."""
    days = [p for p in found if p.day_only]
    times = [p for p in found if p.tod is not None and p.days is None]
    for day in days:
        part = _DAY_PART.match(text, day.end)
        if part is not None and day.days is not None:
            first = day.days(now.date(), False)
            if first:
                span = part_of(first[0], part.group("part").lower())
                yield closed(day.start, part.end(), span)
        for tod in times:
            if tod.start >= day.end and _GLUE.fullmatch(text, day.end, tod.start):
                yield replace(tod, start=day.start, days=day.days)
            elif day.start >= tod.end and _GLUE.fullmatch(text, tod.end, day.start):
                yield replace(tod, end=day.end, days=day.days)


def _span(a: Piece, b: Piece, now: datetime) -> Span | None:
    """From a to b, b's grain included; b is the first of its series after a.

    ("from friday to monday" ends on the monday after that friday; a time of day takes the
    other end's day: "from 9am on monday to 5pm".)
    """
    if a.tod_only and b.days is not None:
        a = replace(a, days=b.days)
    first_time = resolve(a, now)
    if not isinstance(first_time, Point):
        return None
    first = first_time.values[0]
    if b.tod_only:
        assert b.tod is not None
        end = Instant(first_after(b.tod, first.at), b.tod.grain)
    else:
        last_time = resolve(b, now)
        if not isinstance(last_time, Point):
            return None
        after = [v for v in last_time.values if v.at >= first.at]
        if not after:
            return None
        end = after[0]
    return Span(first, Instant(add(end.at, 1, end.grain), end.grain))


def _is_point(piece: Piece) -> bool:
    return piece.until is None and (piece.time is None or isinstance(piece.time, Point))


def _intervals(text: str, points: list[Piece], now: datetime) -> Iterable[Piece]:
    for a in points:
        for b in points:
            if a.tod_only and b.tod_only:
                continue  # a range of the day, read by _tod_pairs
            start = _interval_start(text, a, b)
            if start is not None and (span := _span(a, b, now)) is not None:
                yield closed(start, b.end, span)


def _open_intervals(text: str, points: list[Piece], now: datetime) -> Iterable[Piece]:
    """ "until 5pm", "after June 1", "since monday", "by friday": one end of an interval."""
    for point in points:
        head = text[max(0, point.start - 10) : point.start]
        match = _OPEN_BEFORE.search(head)
        if match is None:
            continue
        keyword = " ".join(match.group("kw").lower().split())
        moment = resolve(point, now, past=keyword == "since")
        if not isinstance(moment, Point):
            continue
        first = moment.values[0]
        if keyword in ("after", "since", "from"):
            span = Span(first, None)
        elif keyword == "by":
            span = Span(Instant(trunc(now, "second"), "second"), first)
        else:
            span = Span(None, first)
        yield closed(point.start - len(head) + match.start(), point.end, span)


def times(text: str, clues: Clues, durations: list[Duration], reference: datetime) -> list[Found]:
    """Every reading of a time in ``text``; readings overlap (the caller keeps the longest).

    ``reference`` is an aware datetime; values are wall-clock times in its zone.
    """
    now = reference.replace(tzinfo=None)
    found_pieces = pieces(text, clues, durations, reference)
    if not found_pieces:
        return []
    found_pieces.extend(_tod_pairs(text, found_pieces))
    found_pieces.extend(_joined(text, found_pieces, now))
    points = [p for p in found_pieces if _is_point(p)]
    found_pieces.extend(_intervals(text, points, now))
    found_pieces.extend(_open_intervals(text, points, now))
    found = []
    for piece in found_pieces:
        time = resolve(piece, now)
        if time is not None:
            found.append(Found(piece.start, piece.end, time))
    return found
