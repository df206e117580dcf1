"""A customer message's sentiment event survives a crash: it is committed with the reply.

The real app, the tiny models (which memorise tests/fixtures/tiny_sentiment.csv, so these texts
have a known sentiment) and a real database. "A crash" here is what kill -9 leaves: whatever the
monitor held in memory is gone, the database is as last committed, and the next process starts
on it. The monitor's background tasks are stopped before the messages arrive, so the events
found can only have come from the reply's transaction, never from a flush that happened to win
a race.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.server.app import create_app
from bot.server.appkeys import OPS, RUNTIME, STORE
from bot.storage.ops_schema import sentiment_events
from bot.storage.schema import turns
from tests.bot.ops.conftest import QUICK_ALERTS
from tests.conftest import TinyModels, app_config

WEBHOOK = "/webhooks/rest/webhook"
MESSAGES = {
    "this is terrible": "negative",
    "where is my order": "neutral",
    "thank you so much": "positive",
}
ANGRY = ["this is terrible", "I am so angry with you", "worst service ever", "awful experience"]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


async def start_server(
    aiohttp_client: Any, tmp_path: Path, models: TinyModels, database_url: str, **settings: Any
) -> TestClient:
    config = app_config(
        tmp_path, models_dir=models.models_dir, database_url=database_url, **settings
    )
    client: TestClient = await aiohttp_client(create_app(config))
    await asyncio.wait_for(client.app[RUNTIME].ready.wait(), timeout=120)
    return client


async def say(client: TestClient, text: str, sender: str, message_id: str) -> None:
    response = await client.post(
        WEBHOOK, json={"sender": sender, "message": text, "metadata": {"message_id": message_id}}
    )
    assert response.status == 200, await response.text()
    assert await response.json(), "the bot answered"


async def events_by_turn(client: TestClient) -> dict[int, list[tuple[str, str, str]]]:
    """Every customer turn with the (sentiment, channel, topic) of each of its events."""
    query = (
        select(
            turns.c.id,
            sentiment_events.c.sentiment,
            sentiment_events.c.channel,
            sentiment_events.c.topic,
        )
        .outerjoin(sentiment_events, sentiment_events.c.turn_id == turns.c.id)
        .where(turns.c.role == "user")
    )
    found: dict[int, list[tuple[str, str, str]]] = {}
    async with client.app[STORE].engine.connect() as conn:
        for turn_id, sentiment, channel, topic in await conn.execute(query):
            events = found.setdefault(turn_id, [])
            if sentiment is not None:
                events.append((sentiment, channel, topic))
    return found


async def stored_sentiments(client: TestClient) -> dict[int, tuple[str | None, str | None]]:
    query = select(turns.c.id, turns.c.sentiment, turns.c.intent).where(turns.c.role == "user")
    async with client.app[STORE].engine.connect() as conn:
        return {row.id: (row.sentiment, row.intent) for row in await conn.execute(query)}


async def test_an_answered_message_has_its_event_stored_before_the_answer_leaves(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels, database_url: str
) -> None:
    client = await start_server(aiohttp_client, tmp_path, tiny_models, database_url)
    # The monitor's consumer stops, as if the process died with its queue unwritten.
    await client.app[OPS].close()

    for i, text in enumerate(MESSAGES):
        await say(client, text, sender=f"c{i}", message_id=f"m{i}")

    events = await events_by_turn(client)
    stored = await stored_sentiments(client)
    domain = client.app[RUNTIME].get().domain
    assert len(events) == len(MESSAGES)
    for turn_id, found in events.items():
        sentiment, intent = stored[turn_id]
        assert found == [(sentiment, "rest", domain.category(intent))]
    assert sorted(e[0][0] for e in events.values()) == sorted(MESSAGES.values())


async def test_a_restart_after_a_crash_counts_every_stored_event_once(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels, database_url: str
) -> None:
    first = await start_server(aiohttp_client, tmp_path / "first", tiny_models, database_url)
    await first.app[OPS].close()
    for i, text in enumerate(MESSAGES):
        await say(first, text, sender=f"c{i}", message_id=f"m{i}")

    # A second process on the same database, the first never shut down: a restart after kill -9.
    second = await start_server(aiohttp_client, tmp_path / "second", tiny_models, database_url)
    monitor = second.app[OPS]
    assert monitor.engine.current()["*"] == (3, 1), "the windows hold what the first stored"

    # The client retries what it never saw answered, and the conversation goes on.
    await say(second, "this is terrible", sender="c0", message_id="m0")
    await say(second, "worst service ever", sender="c9", message_id="m9")
    await monitor.settle()

    events = await events_by_turn(second)
    assert len(events) == 4
    assert all(len(found) == 1 for found in events.values()), events
    assert monitor.engine.current()["*"] == (4, 2), "the retry is not counted again"


async def test_alerts_are_still_raised_from_what_the_webhook_answers(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels, sqlite_url: str
) -> None:
    client = await start_server(
        aiohttp_client, tmp_path, tiny_models, sqlite_url, alerts={**QUICK_ALERTS, "overall": True}
    )
    monitor = client.app[OPS]

    for i, text in enumerate(ANGRY):
        await say(client, text, sender=f"angry{i}", message_id=f"m{i}")
    await monitor.settle()

    assert ("negative_share", "*") in monitor.engine.active
    [alert] = await monitor.store.alerts(states=["open"], topic="*")
    assert alert.volume == len(ANGRY)
    events = await events_by_turn(client)
    assert [len(found) for found in events.values()] == [1] * len(ANGRY)


async def test_with_the_monitor_off_no_events_are_stored(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels, sqlite_url: str
) -> None:
    client = await start_server(
        aiohttp_client, tmp_path, tiny_models, sqlite_url, alerts={"enabled": False}
    )

    await say(client, "this is terrible", sender="c0", message_id="m0")

    assert (await stored_sentiments(client)) != {}
    async with client.app[STORE].engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(sentiment_events))).scalar()
    assert count == 0
