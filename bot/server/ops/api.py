"""The ops dashboard's JSON APIs (role ops or admin; session cookie + X-CSRF-Token, or Bearer).

    GET  /api/sentiment/series?bucket=1m|5m|1h&since=&until=&topic=   volume and negative share
    GET  /api/sentiment/topics?window=15m                           most negative topics now
    GET  /api/sentiment/examples?topic=&since=&all=1&limit=         drill-down to conversations
    GET  /api/alerts?state=open,acknowledged,resolved&topic=&limit=
    POST /api/alerts/{id}/ack
    POST /api/alerts/{id}/resolve

``since``/``until`` take an ISO 8601 time or a duration back from now (``6h``, ``7d``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from typing_extensions import TypedDict

from bot.core.config import ConfigError
from bot.ops.config import parse_duration
from bot.ops.engine import OVERALL, STATES
from bot.server.appkeys import OPS
from bot.server.http.errors import ApiError
from bot.server.http.validation import path_id
from bot.server.web.auth import Principal, api
from bot.storage.ops_store import Point, from_epoch

OPS_ROLES = ("ops", "admin")
BUCKETS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
DEFAULT_RANGE = {60: 3600, 300: 6 * 3600, 900: 24 * 3600, 3600: 7 * 86400, 86400: 30 * 86400}
MAX_POINTS = 5000
MAX_LIMIT = 500


# The bodies below, read by /openapi.json ----------------------------------------------


class SeriesPoint(TypedDict):
    t: str
    ts: int
    volume: int
    negative: int
    share: float | None


class TopicSeries(TypedDict):
    topic: str
    points: list[SeriesPoint]


class Series(TypedDict):
    bucket: str
    bucket_s: int
    since: str
    until: str
    series: list[TopicSeries]


class TopicSummary(TypedDict):
    topic: str
    volume: int
    negative: int
    share: float


class TopicsNow(TypedDict):
    window_s: float
    topics: list[TopicSummary]


class ExampleTurn(TypedDict):
    conversation_id: str
    turn_id: int
    channel: str
    intent: str | None
    topic: str
    sentiment: str
    score: float | None
    text: str
    at: str
    url: str


class Examples(TypedDict):
    examples: list[ExampleTurn]


class Alert(TypedDict):
    id: int
    rule: str
    topic: str
    state: str
    message: str
    share: float | None
    peak_share: float | None
    baseline: float | None
    volume: int | None
    details: Any
    opened_at: str | None
    last_seen_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None


class Alerts(TypedDict):
    alerts: list[Alert]


class AlertChanged(TypedDict):
    alert: Alert


def _now() -> float:
    return datetime.now(UTC).timestamp()


def _time(request: web.Request, name: str, default: float, now: float) -> float:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        back = parse_duration(name, raw)
    except ConfigError:
        pass
    else:
        return _in_range(name, raw, now - back)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(
            400,
            f"query {name}={raw!r} is invalid: expected an ISO 8601 time "
            "(2024-05-01T12:00:00Z) or a duration back from now (90m, 6h, 7d)",
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return _in_range(name, raw, value.timestamp())


# Times the store can turn back into dates: 1970-01-01 to the start of the year 9999.
_LATEST = datetime(9999, 1, 1, tzinfo=UTC).timestamp()


def _in_range(name: str, raw: str, value: float) -> float:
    if not 0 <= value <= _LATEST:
        raise ApiError(
            400,
            f"query {name}={raw!r} is out of range: expected a time between 1970-01-01 and "
            "9998-12-31 (or a duration back from now no longer than that)",
        )
    return value


def _int_query(request: web.Request, name: str, default: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 1 <= value <= high:
        raise ApiError(400, f"query {name}={raw!r} is invalid: expected an integer 1..{high}")
    return value


def _topics(request: web.Request) -> list[str]:
    raw = request.query.get("topic", "")
    return [t.strip() for t in raw.split(",") if t.strip()]


@api(*OPS_ROLES)
async def series(request: web.Request, principal: Principal) -> web.Response:
    name = request.query.get("bucket", "5m")
    bucket_s = BUCKETS.get(name)
    if bucket_s is None:
        raise ApiError(
            400, f"query bucket={name!r} is invalid: expected one of {', '.join(BUCKETS)}"
        )
    now = _now()
    until = _time(request, "until", now, now)
    since = _time(request, "since", until - DEFAULT_RANGE[bucket_s], now)
    if since >= until:
        raise ApiError(400, "query since must be before until")
    start = int(since) - int(since) % bucket_s
    end = int(until)
    count = (end - start) // bucket_s + 1
    if count > MAX_POINTS:
        raise ApiError(
            400,
            f"that range holds {count} buckets of {name}; the limit is {MAX_POINTS}: "
            "pick a larger bucket or a shorter range",
        )
    topics = _topics(request)
    wanted = [t for t in topics if t != OVERALL]
    points = await request.app[OPS].store.series(bucket_s, start, end + 1, wanted)
    by_topic: dict[str, dict[int, tuple[int, int]]] = {}
    overall: dict[int, list[int]] = {}
    for p in points:
        by_topic.setdefault(p.topic, {})[p.bucket] = (p.volume, p.negatives)
        cell = overall.setdefault(p.bucket, [0, 0])
        cell[0] += p.volume
        cell[1] += p.negatives
    starts = list(range(start, end + 1, bucket_s))

    def dense(values: dict[int, Any]) -> list[dict[str, Any]]:
        out = []
        for t in starts:
            n, neg = values.get(t, (0, 0))
            out.append(
                {
                    "t": from_epoch(t).isoformat(),
                    "ts": t,
                    "volume": n,
                    "negative": neg,
                    "share": round(neg / n, 4) if n else None,
                }
            )
        return out

    series: list[dict[str, Any]] = []
    if not topics or OVERALL in topics:
        series.append({"topic": OVERALL, "points": dense(overall)})
    for topic in sorted(by_topic):
        series.append({"topic": topic, "points": dense(by_topic[topic])})
    return web.json_response(
        {
            "bucket": name,
            "bucket_s": bucket_s,
            "since": from_epoch(start).isoformat(),
            "until": from_epoch(end).isoformat(),
            "series": series,
        }
    )


def summarise(points: list[Point]) -> list[dict[str, Any]]:
    totals: dict[str, list[int]] = {}
    for p in points:
        cell = totals.setdefault(p.topic, [0, 0])
        cell[0] += p.volume
        cell[1] += p.negatives
    ordered = sorted(totals.items(), key=lambda kv: (-(kv[1][1] / kv[1][0]), -kv[1][0], kv[0]))
    return [
        {"topic": topic, "volume": n, "negative": neg, "share": round(neg / n, 4)}
        for topic, (n, neg) in ordered
    ]


@api(*OPS_ROLES)
async def topics_now(request: web.Request, principal: Principal) -> web.Response:
    service = request.app[OPS]
    raw = request.query.get("window")
    try:
        window = parse_duration("window", raw) if raw else service.config.gauge_window_s
    except ConfigError:
        raise ApiError(
            400, f"query window={raw!r} is invalid: expected a duration like 15m"
        ) from None
    if not 0 < window <= 366 * 86400:
        raise ApiError(400, f"query window={raw!r} is out of range: expected a duration up to 366d")
    now = _now()
    # One bucket wider than any range: the totals per topic over the window.
    points = await service.store.series(10**10, now - window, now + 1)
    return web.json_response({"window_s": window, "topics": summarise(points)})


@api(*OPS_ROLES)
async def examples(request: web.Request, principal: Principal) -> web.Response:
    now = _now()
    since = _time(request, "since", now - 86400, now)
    limit = _int_query(request, "limit", 20, MAX_LIMIT)
    topic = request.query.get("topic") or None
    negative_only = request.query.get("all", "") not in {"1", "true", "yes"}
    found = await request.app[OPS].store.examples(
        topic=topic, since=since, negative_only=negative_only, limit=limit
    )
    return web.json_response(
        {
            "examples": [
                {
                    "conversation_id": e.conversation_id,
                    "turn_id": e.turn_id,
                    "channel": e.channel,
                    "intent": e.intent,
                    "topic": e.topic,
                    "sentiment": e.sentiment,
                    "score": e.score,
                    "text": e.text,
                    "at": e.at.isoformat(),
                    "url": f"/console/conversations/{e.conversation_id}",
                }
                for e in found
            ]
        }
    )


@api(*OPS_ROLES)
async def alerts(request: web.Request, principal: Principal) -> web.Response:
    raw = request.query.get("state", "")
    states = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = [s for s in states if s not in STATES]
    if unknown:
        raise ApiError(
            400, f"query state={raw!r} is invalid: expected a comma list of {', '.join(STATES)}"
        )
    limit = _int_query(request, "limit", 100, MAX_LIMIT)
    topic = request.query.get("topic") or None
    found = await request.app[OPS].store.alerts(states=states, topic=topic, limit=limit)
    return web.json_response({"alerts": [a.public() for a in found]})


def _alert_id(request: web.Request) -> int:
    return path_id(request, "alert_id")


@api(*OPS_ROLES)
async def acknowledge(request: web.Request, principal: Principal) -> web.Response:
    alert_id = _alert_id(request)
    alert = await request.app[OPS].acknowledge(alert_id, principal.username)
    if alert is None:
        raise ApiError(404, f"no alert {alert_id}")
    if alert.state == "resolved":
        raise ApiError(409, f"alert {alert_id} is already resolved")
    return web.json_response({"alert": alert.public()})


@api(*OPS_ROLES)
async def resolve(request: web.Request, principal: Principal) -> web.Response:
    alert_id = _alert_id(request)
    alert, _changed = await request.app[OPS].resolve(alert_id, principal.username)
    if alert is None:
        raise ApiError(404, f"no alert {alert_id}")
    return web.json_response({"alert": alert.public()})
