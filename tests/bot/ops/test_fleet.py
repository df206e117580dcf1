"""One alert evaluation for the fleet: every process reads every stored event, the leader
evaluates (bot/ops/service.py, bot/ops/leadership.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import insert

from bot.ops.config import AlertsConfig
from bot.ops.leadership import PostgresLock, RedisLease
from bot.ops.service import OpsMetrics, OpsService
from bot.server.app import create_app
from bot.server.appkeys import METRICS, OPS
from bot.storage import Store
from bot.storage.ops_schema import sentiment_events
from bot.storage.ops_store import OpsStore
from tests.bot.ops.conftest import NOW, QUICK_ALERTS, customer_turns
from tests.conftest import app_config


def opened_total(client: TestClient) -> float:
    value = client.app[METRICS].registry.get_sample_value(
        "frontdesk_alerts_opened_total", {"rule": "negative_share"}
    )
    return value or 0.0


async def fleet(aiohttp_client: Any, tmp_path: Path, **settings: Any) -> list[TestClient]:
    return [
        await aiohttp_client(
            create_app(app_config(tmp_path / name, alerts=QUICK_ALERTS, **settings))
        )
        for name in ("one", "two")
    ]


async def test_a_surge_split_over_two_servers_is_found_as_in_one(
    postgres_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    clients = await fleet(aiohttp_client, tmp_path, database_url=postgres_url)
    assert sorted(c.app[OPS].leading for c in clients) == [False, True], "one leader"
    # Two angry messages each: neither server alone reaches the window's minimum of four.
    for i, client in enumerate(clients):
        await customer_turns(client.app, [("payment_failed", "negative")] * 2, sender=f"s{i}")
    for client in clients:
        await client.app[OPS].catch_up()
        await client.app[OPS].lead()

    alerts = await clients[0].app[OPS].store.alerts()
    assert [(a.rule, a.scope, a.state, a.volume) for a in alerts] == [
        ("negative_share", "payments", "open", 4)
    ]
    assert sum(opened_total(c) for c in clients) == 1, "raised and announced once"
    for client in clients:
        engine = client.app[OPS].engine
        assert engine.current()["payments"] == (4, 4), "every server holds the fleet's windows"
        assert engine.active[("negative_share", "payments")].id == alerts[0].id


async def test_staff_resolving_on_one_server_is_known_to_the_leader(
    postgres_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    clients = await fleet(aiohttp_client, tmp_path, database_url=postgres_url)
    leader, other = sorted(clients, key=lambda c: not c.app[OPS].leading)
    await customer_turns(leader.app, [("payment_failed", "negative")] * 4)
    [alert] = await leader.app[OPS].store.alerts()
    await other.app[OPS].lead()  # it learns of the alert

    resolved, changed = await other.app[OPS].resolve(alert.id, "ann")
    assert changed and resolved is not None and resolved.state == "resolved"
    await leader.app[OPS].lead()
    assert leader.app[OPS].engine.active == {}, "the leader stops tracking it"
    # Still angry, but within the cool-down after a resolve: no second alert.
    await customer_turns(leader.app, [("payment_failed", "negative")] * 2, sender="more")
    assert [a.state for a in await leader.app[OPS].store.alerts()] == ["resolved"]


async def test_when_the_leader_stops_another_server_takes_over(
    postgres_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    clients = await fleet(aiohttp_client, tmp_path, database_url=postgres_url)
    leader, other = sorted(clients, key=lambda c: not c.app[OPS].leading)
    await customer_turns(other.app, [("payment_failed", "negative")] * 2, sender="before")
    await leader.close()

    assert await other.app[OPS].lead() is True
    await customer_turns(other.app, [("payment_failed", "negative")] * 2, sender="after")
    [alert] = await other.app[OPS].store.alerts()
    assert alert.volume == 4, "the windows counted while it was not leading"
    assert opened_total(other) == 1


async def test_an_event_committed_after_a_higher_id_is_still_read(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    service = OpsService(AlertsConfig(), OpsMetrics(CollectorRegistry()))
    try:
        await service.start(OpsStore(store.engine, store.transactions))
        ts = int(NOW.timestamp())

        async def stored(event_id: int) -> None:
            row = {
                "id": event_id,
                "turn_id": event_id,
                "conversation_id": "c",
                "channel": "rest",
                "intent": "payment_failed",
                "topic": "payments",
                "sentiment": "negative",
                "score": 0.9,
                "negative": True,
                "ts": ts,
            }
            async with store.engine.begin() as conn:
                await conn.execute(insert(sentiment_events).values(**row))

        await stored(2)
        await service.pull()
        assert service.cursor == 2 and set(service.holes) == {1}
        await stored(1)  # its transaction committed late
        await service.pull()
        assert service.holes == {}
        assert service.engine.current()["payments"] == (2, 2), "each event counted once"
    finally:
        await service.close()
        await store.close()


async def test_the_lease_is_held_by_one_process_at_a_time(
    postgres_url: str, redis_url: str
) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    key = f"frontdesk:test:lease:{Path(postgres_url).name}"
    first, second = RedisLease(client, key=key), RedisLease(client, key=key)
    try:
        assert [await first.hold(), await second.hold()] == [True, False]
        assert await first.hold() is True, "renewed by its holder"
        await first.release()
        assert await second.hold() is True
    finally:
        await second.release()
        await client.aclose()

    store = await Store.open(postgres_url)
    locks = [PostgresLock(store.engine), PostgresLock(store.engine)]
    try:
        assert [await locks[0].hold(), await locks[1].hold()] == [True, False]
        await locks[0].release()
        assert await locks[1].hold() is True
    finally:
        for lock in locks:
            await lock.release()
        await store.close()
