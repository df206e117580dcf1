"""The ops JSON APIs: 401/403 per endpoint, the series on SQLite and PostgreSQL, alerts
acknowledged and resolved, drill-down examples, gauges, retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.appkeys import METRICS, OPS
from tests.bot.ops.conftest import NOW, QUICK_ALERTS, customer_turns
from tests.bot.server.web.conftest import bearer, login, make_token, make_user
from tests.conftest import app_config

STAFF = ("agent", "ops", "admin")
OPS_ROLES = ("ops", "admin")

API_ENDPOINTS: list[tuple[str, str]] = [
    ("GET", "/api/sentiment/series"),
    ("GET", "/api/sentiment/topics"),
    ("GET", "/api/sentiment/examples"),
    ("GET", "/api/alerts"),
    ("POST", "/api/alerts/1/ack"),
    ("POST", "/api/alerts/1/resolve"),
]


@pytest.fixture
async def bare(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    # aiohttp's client keeps Secure cookies from plain-HTTP servers but never sends them back.
    config = app_config(tmp_path, alerts=QUICK_ALERTS, cookie_secure=False)
    return await aiohttp_client(create_app(config))


async def tokens(client: TestClient) -> dict[str, str]:
    found = {}
    for role in STAFF:
        user = await make_user(client.app, f"{role}-user", role)
        found[role] = await make_token(client.app, user)
    return found


def test_the_table_names_every_ops_route(tmp_path: Path) -> None:
    app = create_app(app_config(tmp_path))
    ours = {
        route.resource.canonical
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(("/api/sentiment", "/api/alerts"))
    }
    listed = {p.replace("/1/", "/{alert_id}/") for _, p in API_ENDPOINTS}
    assert ours == listed


@pytest.mark.parametrize(("method", "path"), API_ENDPOINTS)
async def test_api_refuses_the_unauthenticated_and_agents(
    bare: TestClient, method: str, path: str
) -> None:
    response = await bare.request(method, path)
    assert response.status == 401
    assert (await response.json())["status"] == 401
    found = await tokens(bare)
    response = await bare.request(method, path, headers=bearer(found["agent"]))
    assert response.status == 403
    assert (await response.json())["status"] == 403
    for role in OPS_ROLES:
        response = await bare.request(method, path, headers=bearer(found[role]))
        assert response.status in {200, 404}, (role, await response.text())


async def test_dashboard_page_is_for_ops_and_admin(bare: TestClient) -> None:
    response = await bare.get("/ops/", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/console/login?next=")
    for role in STAFF:
        await make_user(bare.app, f"page-{role}", role)
        bare.session.cookie_jar.clear()
        await login(bare, f"page-{role}")
        response = await bare.get("/ops/", allow_redirects=False)
        assert response.status == (403 if role == "agent" else 200), role
    assert "Sentiment monitor" in await response.text()
    script = await bare.get("/ops/static/ops.js")
    assert script.status == 200


async def test_acknowledge_and_resolve_need_the_csrf_header_with_a_cookie(
    bare: TestClient,
) -> None:
    await make_user(bare.app, "olga", "ops")
    csrf = await login(bare, "olga")
    await customer_turns(bare.app, [("payment_failed", "negative")] * 4)
    [alert] = (await (await bare.get("/api/alerts")).json())["alerts"]
    response = await bare.post(f"/api/alerts/{alert['id']}/ack")
    assert response.status == 403 and "CSRF" in (await response.json())["error"]
    response = await bare.post(f"/api/alerts/{alert['id']}/ack", headers={"X-CSRF-Token": csrf})
    assert response.status == 200
    body = (await response.json())["alert"]
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == "olga"


async def series_checks(client: TestClient) -> None:
    token = await make_token(client.app, await make_user(client.app, "olga", "ops"))
    start = NOW.replace(second=0, microsecond=0) - timedelta(minutes=30)
    rows = [("payment_failed", "negative")] * 3 + [("payment_failed", "neutral")]
    rows += [("order_status", "positive"), ("order_status", "negative")]
    await customer_turns(client.app, rows, start=start, step=timedelta(seconds=1))
    later = start + timedelta(minutes=10)
    await customer_turns(
        client.app, [("track_shipment", "neutral")] * 2, start=later, sender="later"
    )

    response = await client.get(
        "/api/sentiment/series",
        params={"bucket": "5m", "since": (start - timedelta(minutes=5)).isoformat()},
        headers=bearer(token),
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["bucket_s"] == 300
    by_topic = {s["topic"]: s["points"] for s in body["series"]}
    assert set(by_topic) == {"*", "payments", "orders", "shipping"}
    payments = [p for p in by_topic["payments"] if p["volume"]]
    assert [(p["volume"], p["negative"], p["share"]) for p in payments] == [(4, 3, 0.75)]
    orders = [p for p in by_topic["orders"] if p["volume"]]
    assert [(p["volume"], p["negative"]) for p in orders] == [(2, 1)]
    overall = [p for p in by_topic["*"] if p["volume"]]
    assert [(p["volume"], p["negative"]) for p in overall] == [(6, 4), (2, 0)]
    # Every series has the same dense buckets.
    assert len({len(points) for points in by_topic.values()}) == 1

    response = await client.get(
        "/api/sentiment/series",
        params={"bucket": "1m", "since": "1h", "topic": "orders"},
        headers=bearer(token),
    )
    body = await response.json()
    assert [s["topic"] for s in body["series"]] == ["orders"]
    assert sum(p["volume"] for p in body["series"][0]["points"]) == 2

    response = await client.get(
        "/api/sentiment/series", params={"bucket": "1h", "since": "1d"}, headers=bearer(token)
    )
    hourly = {s["topic"]: s["points"] for s in (await response.json())["series"]}
    assert sum(p["volume"] for p in hourly["*"]) == 8

    for params, fragment in (
        ({"bucket": "2m"}, "bucket='2m'"),
        ({"since": "yesterday"}, "since='yesterday'"),
        ({"bucket": "1m", "since": "30d"}, "the limit is 5000"),
    ):
        response = await client.get("/api/sentiment/series", params=params, headers=bearer(token))
        assert response.status == 400
        assert fragment in (await response.json())["error"]


async def test_series_by_bucket_and_topic_on_sqlite(bare: TestClient) -> None:
    await series_checks(bare)


@pytest.mark.postgres
async def test_series_by_bucket_and_topic_on_postgresql(
    postgres_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    app = create_app(app_config(tmp_path, database_url=postgres_url, alerts=QUICK_ALERTS))
    await series_checks(await aiohttp_client(app))


async def test_alert_list_ack_resolve_examples_and_gauges(bare: TestClient) -> None:
    token = await make_token(bare.app, await make_user(bare.app, "olga", "ops"))
    headers = bearer(token)
    rows = [("payment_failed", "negative")] * 5 + [("order_status", "neutral")] * 3
    ids = await customer_turns(bare.app, rows)

    body = await (await bare.get("/api/alerts", headers=headers)).json()
    [alert] = body["alerts"]
    assert alert["topic"] == "payments" and alert["rule"] == "negative_share"
    assert alert["state"] == "open" and alert["volume"] >= 4
    assert "payments" in alert["message"]

    # More bad messages: still one alert (deduplicated while open).
    await customer_turns(bare.app, [("payment_failed", "negative")] * 3, sender="more")
    assert len((await (await bare.get("/api/alerts", headers=headers)).json())["alerts"]) == 1

    metrics = bare.app[METRICS].render().decode()
    assert 'frontdesk_alerts_active{state="open"} 1.0' in metrics
    assert 'frontdesk_sentiment_negative_share{topic="payments"} 1.0' in metrics
    assert 'frontdesk_sentiment_messages{topic="orders"} 3.0' in metrics

    topics = (await (await bare.get("/api/sentiment/topics", headers=headers)).json())["topics"]
    assert topics[0]["topic"] == "payments" and topics[0]["share"] == 1.0
    assert {"topic": "orders", "volume": 3, "negative": 0, "share": 0.0} in topics

    examples = await (
        await bare.get("/api/sentiment/examples", params={"topic": "payments"}, headers=headers)
    ).json()
    assert len(examples["examples"]) == 8
    first = examples["examples"][0]
    assert first["url"] == f"/console/conversations/{first['conversation_id']}"
    assert first["conversation_id"] in ids or first["text"].startswith("message")

    response = await bare.post(f"/api/alerts/{alert['id']}/ack", headers=headers)
    assert (await response.json())["alert"]["state"] == "acknowledged"
    metrics = bare.app[METRICS].render().decode()
    assert 'frontdesk_alerts_active{state="acknowledged"} 1.0' in metrics

    response = await bare.post(f"/api/alerts/{alert['id']}/resolve", headers=headers)
    resolved = (await response.json())["alert"]
    assert resolved["state"] == "resolved" and resolved["resolved_by"] == "olga"
    response = await bare.post(f"/api/alerts/{alert['id']}/ack", headers=headers)
    assert response.status == 409
    assert (await bare.post("/api/alerts/999/ack", headers=headers)).status == 404
    assert (await bare.post("/api/alerts/x/resolve", headers=headers)).status == 404

    # Within the cooldown the same topic stays quiet.
    await customer_turns(bare.app, [("payment_failed", "negative")] * 5, sender="again")
    body = await (await bare.get("/api/alerts?state=open", headers=headers)).json()
    assert body["alerts"] == []
    body = await (await bare.get("/api/alerts?state=bogus", headers=headers)).json()
    assert body["status"] == 400


async def test_a_restart_remembers_windows_and_alerts(aiohttp_client: Any, tmp_path: Path) -> None:
    config = app_config(tmp_path, alerts=QUICK_ALERTS)
    first = await aiohttp_client(create_app(config))
    await customer_turns(first.app, [("payment_failed", "negative")] * 3)
    await first.close()

    second = await aiohttp_client(create_app(config))
    engine = second.app[OPS].engine
    assert engine.scopes["payments"].window(engine._span_share) == (3, 3)
    await customer_turns(second.app, [("payment_failed", "negative")], sender="after")
    [alert] = await second.app[OPS].store.alerts()
    assert alert.volume == 4
    await second.close()

    third = await aiohttp_client(create_app(config))
    assert [a.id for a in third.app[OPS].engine.active.values()] == [alert.id]
    await customer_turns(third.app, [("payment_failed", "negative")] * 2, sender="third")
    assert len(await third.app[OPS].store.alerts()) == 1


async def test_retention_prunes_old_events(aiohttp_client: Any, tmp_path: Path) -> None:
    alerts = {**QUICK_ALERTS, "retention_days": 1}
    client = await aiohttp_client(create_app(app_config(tmp_path, alerts=alerts)))
    service = client.app[OPS]
    await customer_turns(
        client.app, [("order_status", "neutral")] * 2, start=NOW - timedelta(days=3)
    )
    await customer_turns(client.app, [("order_status", "neutral")] * 3, sender="recent")
    assert await service.prune() == 2
    assert len(await service.store.events_since(0)) == 3
