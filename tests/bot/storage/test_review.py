"""bot.storage.review: the queue of misunderstood messages, on a SQLite file and PostgreSQL."""

from __future__ import annotations

import pytest

from bot.storage import Store
from bot.storage.escalations import EscalationStore
from bot.storage.feedback import FeedbackStore
from bot.storage.records import Turn, Understanding
from bot.storage.review import QueueCriteria, ReviewStore

CRITERIA = QueueCriteria(low_confidence=0.5, bad_rating=2)


async def customer_says(
    store: Store,
    sender: str,
    text: str,
    *,
    route: str,
    intent: str | None = "greet",
    confidence: float | None = 0.9,
    escalation_reason: str | None = None,
) -> Turn:
    conversation = await store.conversation_for("rest", sender)
    turn, _ = await store.add_user_turn(conversation.id, text)
    understanding = Understanding(intent=intent, confidence=confidence) if intent else None
    await store.record_reply(
        conversation.id,
        turn.id,
        [],
        route=route,
        understanding=understanding,
        escalation_reason=escalation_reason,
    )
    found = await EscalationStore(store.engine).get_turn(turn.id)
    assert found is not None
    return found


async def test_the_queue_holds_what_the_bot_misunderstood_with_the_reason(store: Store) -> None:
    fell_back = await customer_says(store, "a", "blorp", route="fallback", intent="nlu_fallback")
    unsure = await customer_says(store, "b", "card gone?", route="template", confidence=0.3)
    await customer_says(store, "c", "hello", route="template", confidence=0.95)
    handed = await customer_says(
        store, "d", "???", route="handoff", confidence=0.2, escalation_reason="low_confidence"
    )

    queue = await ReviewStore(store.engine).queue(CRITERIA)

    assert [(i.turn_id, i.reason) for i in queue] == [
        (handed.id, "handoff"),
        (unsure.id, "low_confidence"),
        (fell_back.id, "fallback"),
    ]
    assert queue[1].intent == "greet" and queue[1].confidence == pytest.approx(0.3)
    assert await ReviewStore(store.engine).queue_length(CRITERIA) == 3


async def test_a_badly_rated_conversation_puts_its_bot_answered_turns_in_the_queue(
    store: Store,
) -> None:
    turn = await customer_says(
        store, "r", "I want my money", route="handoff", escalation_reason="asked_for_human"
    )
    escalations = EscalationStore(store.engine)
    [waiting] = await escalations.queue()
    assert await escalations.rate(waiting.escalation.id, turn.conversation_id, 1)

    [item] = await ReviewStore(store.engine).queue(CRITERIA)
    assert (item.turn_id, item.reason) == (turn.id, "rated_badly")


async def test_labelling_takes_a_message_out_of_the_queue_and_an_intent_becomes_a_correction(
    store: Store,
) -> None:
    reviews = ReviewStore(store.engine)
    first = await customer_says(store, "a", "my card got eaten", route="fallback", intent=None)
    second = await customer_says(store, "b", "weather?", route="fallback", intent=None)
    third = await customer_says(store, "c", "asdf", route="fallback", intent=None)

    await reviews.label(first, "intent", "ann", intent="card_swallowed")
    await reviews.label(second, "out_of_scope", "ann")
    await reviews.label(third, "dismissed", "ann")

    assert await reviews.queue(CRITERIA) == []
    corrections = await FeedbackStore(store.engine).corrections()
    assert [(c.text, c.intent) for c in corrections] == [
        ("my card got eaten", "card_swallowed"),
        ("weather?", "out_of_scope"),
    ]
    await reviews.label(first, "dismissed", "bob")
    assert [c.text for c in await FeedbackStore(store.engine).corrections()] == ["weather?"]
    assert [(label.turn_id, label.author) for label in await reviews.labels()][-1] == (
        first.id,
        "bob",
    )


async def test_a_label_needs_what_its_kind_names(store: Store) -> None:
    turn = await customer_says(store, "a", "hm", route="fallback", intent=None)
    reviews = ReviewStore(store.engine)
    with pytest.raises(ValueError, match="kind"):
        await reviews.label(turn, "maybe", "ann")
    with pytest.raises(ValueError, match="needs the intent"):
        await reviews.label(turn, "intent", "ann")
    with pytest.raises(ValueError, match="qa_id"):
        await reviews.label(turn, "answer", "ann")


async def test_counts_per_day_include_empty_days_and_what_was_reviewed(store: Store) -> None:
    reviews = ReviewStore(store.engine)
    turn = await customer_says(store, "a", "blorp", route="fallback", intent=None)
    await customer_says(store, "b", "blip", route="fallback", intent=None)
    await reviews.label(turn, "out_of_scope", "ann")

    days = await reviews.counts_per_day(CRITERIA, 3)

    assert [(d.misunderstood, d.reviewed) for d in days] == [(0, 0), (0, 0), (2, 1)]
    assert days[0].day < days[-1].day


async def test_a_database_from_before_the_review_queue_gets_its_table(sqlite_url: str) -> None:
    from sqlalchemy import inspect, text

    old = await Store.open(sqlite_url)
    async with old.engine.begin() as conn:
        await conn.execute(text("DROP TABLE review_labels"))
    turn = await customer_says(old, "a", "blorp", route="fallback", intent=None)
    await old.close()

    store = await Store.open(sqlite_url)
    try:
        async with store.engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "review_labels" in tables
        reviews = ReviewStore(store.engine)
        assert [i.turn_id for i in await reviews.queue(CRITERIA)] == [turn.id]
        await reviews.label(turn, "dismissed", "ann")
        assert await reviews.queue(CRITERIA) == []
    finally:
        await store.close()
