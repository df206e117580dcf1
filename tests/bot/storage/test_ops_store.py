"""bot.storage.ops_store: alerts are stored once, however many processes raise them, and a
turn's sentiment event once, however often it is recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text

from bot.storage import Store
from bot.storage.ops_store import OpsStore, SentimentEvent

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def ops_store(store: Store) -> OpsStore:
    return OpsStore(store.engine, store.transactions)


async def raise_alert(ops: OpsStore, scope: str = "payments") -> tuple[int, bool]:
    alert, raised = await ops.open_alert(
        rule="negative_share",
        scope=scope,
        message=f"{scope} turned negative",
        share=0.8,
        baseline=None,
        volume=20,
        details={},
        at=AT,
    )
    return alert.id, raised


async def test_raising_an_alert_that_is_already_open_returns_the_open_one(store: Store) -> None:
    ops = ops_store(store)

    first, raised_first = await raise_alert(ops)
    again, raised_again = await raise_alert(ops)
    other, raised_other = await raise_alert(ops, scope="shipping")

    assert (raised_first, raised_again, raised_other) == (True, False, True)
    assert again == first != other
    assert len(await ops.alerts()) == 2


async def test_an_acknowledged_alert_still_counts_as_open_and_a_resolved_one_does_not(
    store: Store,
) -> None:
    ops = ops_store(store)
    first, _ = await raise_alert(ops)

    await ops.acknowledge(first, "olga", AT)
    assert await raise_alert(ops) == (first, False)

    await ops.resolve(first, "olga", AT)
    second, raised = await raise_alert(ops)
    assert raised and second != first


async def test_resolving_says_whether_this_call_resolved_it(store: Store) -> None:
    ops = ops_store(store)
    first, _ = await raise_alert(ops)

    alert, changed = await ops.resolve(first, "olga", AT)
    assert changed and alert is not None and alert.state == "resolved"
    again, changed_again = await ops.resolve(first, "auto", AT)
    assert not changed_again and again is not None and again.resolved_by == "olga"
    assert await ops.resolve(999_999, "olga", AT) == (None, False)


async def test_processes_raising_the_same_alert_at_once_store_it_once(postgres_url: str) -> None:
    # Separate stores stand for separate server processes on one database.
    stores = [await Store.open(postgres_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(raise_alert(ops_store(s)) for s in stores for _ in "ab"))
    finally:
        for store in stores:
            await store.close()

    assert [raised for _, raised in results].count(True) == 1
    assert len({alert_id for alert_id, _ in results}) == 1


def event(turn_id: int, sentiment: str = "negative") -> SentimentEvent:
    return SentimentEvent(
        turn_id=turn_id,
        conversation_id="c",
        channel="rest",
        intent="payment_failed",
        topic="payments",
        sentiment=sentiment,
        score=0.9,
        ts=AT.timestamp(),
    )


async def stored_events(store: Store) -> list[tuple[int, str]]:
    query = text("SELECT turn_id, sentiment FROM sentiment_events ORDER BY id")
    async with store.engine.connect() as conn:
        return [(row.turn_id, row.sentiment) for row in await conn.execute(query)]


async def test_recording_an_event_for_a_turn_that_has_one_keeps_the_first(store: Store) -> None:
    ops = ops_store(store)

    await ops.record([event(1), event(2)])
    await ops.record([event(2, "positive"), event(3, "neutral")])

    assert await stored_events(store) == [(1, "negative"), (2, "negative"), (3, "neutral")]


async def test_a_database_from_before_one_event_per_turn_gets_it_when_opened(
    store_url: str,
) -> None:
    # What an older Frontdesk left: the events table without its unique index, one turn's
    # event written twice.
    old = await Store.open(store_url)
    try:
        async with old.engine.begin() as conn:
            await conn.execute(text("DROP INDEX uq_sentiment_events_turn"))
            for turn_id, sentiment in ((1, "negative"), (2, "neutral"), (1, "positive")):
                await conn.execute(
                    text(
                        "INSERT INTO sentiment_events (turn_id, conversation_id, channel,"
                        " intent, topic, sentiment, score, negative, ts) VALUES (:turn_id, 'c',"
                        " 'rest', 'x', 'payments', :sentiment, 0.5, :negative, 0)"
                    ),
                    {
                        "turn_id": turn_id,
                        "sentiment": sentiment,
                        "negative": sentiment == "negative",
                    },
                )
    finally:
        await old.close()

    store = await Store.open(store_url)
    try:
        assert await stored_events(store) == [(1, "negative"), (2, "neutral")]
        await ops_store(store).record([event(2, "positive")])
        assert await stored_events(store) == [(1, "negative"), (2, "neutral")]
    finally:
        await store.close()
    # Opening it again finds the index there and leaves the events alone.
    again = await Store.open(store_url)
    try:
        assert await stored_events(again) == [(1, "negative"), (2, "neutral")]
    finally:
        await again.close()
