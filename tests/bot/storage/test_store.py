"""bot.storage: the conversation store, run against SQLite (a real file) and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from bot.core.messages import BotMessage
from bot.storage import Store, StoreError, Understanding
from bot.storage.accounts import AccountStore
from bot.storage.ops_store import SentimentEvent


class Unserialisable:
    """Something a JSON column cannot store."""


async def test_store_opens_creates_tables_and_answers_ping(store: Store) -> None:
    assert await store.ping() is True
    assert await store.count_turns() == 0


async def test_sqlite_store_creates_the_database_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "fd.sqlite3"

    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        assert await store.ping()
    finally:
        await store.close()

    assert path.is_file()


async def test_store_that_cannot_connect_raises_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        await Store.open("postgresql+asyncpg://fd:s3cret@127.0.0.1:1/none")

    assert "s3cret" not in str(caught.value)
    assert str(caught.value).startswith(
        "cannot open the store at postgresql+asyncpg://***@127.0.0.1:1/none: "
    )


async def test_conversation_is_created_on_first_contact_with_status_bot(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")

    assert conversation.channel == "rest"
    assert conversation.sender_id == "alice"
    assert conversation.status == "bot"
    assert conversation.slots == {}
    assert await store.get_conversation(conversation.id) == conversation


async def test_conversation_is_created_once_per_channel_and_sender(store: Store) -> None:
    first = await store.conversation_for("rest", "alice")
    again = await store.conversation_for("rest", "alice")
    other_sender = await store.conversation_for("rest", "bob")
    other_channel = await store.conversation_for("widget", "alice")

    assert again.id == first.id
    assert len({first.id, other_sender.id, other_channel.id}) == 3


async def test_conversation_is_created_once_under_concurrent_first_contacts(store: Store) -> None:
    conversations = await asyncio.gather(
        *(store.conversation_for("rest", "carol") for _ in range(12))
    )

    assert len({c.id for c in conversations}) == 1


async def test_get_conversation_of_an_unknown_id_is_none(store: Store) -> None:
    assert await store.get_conversation("00000000-0000-0000-0000-000000000000") is None


async def test_timestamps_come_back_timezone_aware(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    turn, _ = await store.add_user_turn(conversation.id, "hi")
    [reply] = await store.record_reply(
        conversation.id,
        turn.id,
        [BotMessage("hello")],
        route="template",
        escalation_reason="asked_for_human",
    )
    [escalation] = await store.escalations(conversation_id=conversation.id)
    [stored_user, stored_bot] = await store.turns(conversation.id)
    reread = await store.get_conversation(conversation.id)
    assert reread is not None

    stamps: list[datetime] = [
        reread.created_at,
        reread.updated_at,
        turn.created_at,
        reply.created_at,
        stored_user.created_at,
        stored_bot.created_at,
        escalation.created_at,
        escalation.updated_at,
    ]
    for stamp in stamps:
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == timedelta(0)
        assert abs(datetime.now(stamp.tzinfo) - stamp) < timedelta(minutes=5)
    assert escalation.resolved_at is None


async def test_add_user_turn_stores_the_message_with_its_entities(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    entities = [{"entity": "order_id", "value": "NW-10482", "start": 0, "end": 8}]

    turn, new = await store.add_user_turn(
        conversation.id, "NW-10482?", message_id="m-1", entities=entities
    )

    assert new is True
    assert turn.role == "user"
    assert turn.text == "NW-10482?"
    assert turn.message_id == "m-1"
    assert turn.entities == entities
    assert turn.reply_to is None
    assert turn.intent is None
    assert await store.turns(conversation.id) == [turn]


async def test_store_returns_the_first_turn_for_a_repeated_message_id(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    first, first_new = await store.add_user_turn(conversation.id, "hello", message_id="m-1")

    again, again_new = await store.add_user_turn(conversation.id, "hello again", message_id="m-1")

    assert (first_new, again_new) == (True, False)
    assert again == first
    assert again.text == "hello"
    assert await store.count_turns() == 1


async def test_take_message_returns_the_conversation_with_its_slots_and_status(
    store: Store,
) -> None:
    conversation = await store.conversation_for("rest", "alice")
    first, _ = await store.add_user_turn(conversation.id, "where is my order")
    await store.record_reply(
        conversation.id,
        first.id,
        (),
        route="handoff",
        slots={"order_id": "NW-1"},
        escalation_reason="asked_for_human",
    )

    turn, new, seen = await store.take_message(conversation.id, "hello?", message_id="m-2")
    again, again_new, seen_again = await store.take_message(conversation.id, "x", message_id="m-2")

    assert new and not again_new and again == turn
    assert seen.id == conversation.id and seen_again.id == conversation.id
    assert seen.slots == {"order_id": "NW-1"} and seen.status == "handoff"
    assert seen_again.slots == seen.slots
    assert seen.updated_at >= conversation.updated_at


async def test_sqlite_store_answers_concurrent_requests_through_one_queued_connection(
    sqlite_url: str,
) -> None:
    store = await Store.open(sqlite_url)
    try:
        conversation = await store.conversation_for("rest", "alice")
        results = await asyncio.gather(
            *(store.take_message(conversation.id, f"message {i}") for i in range(40))
        )
    finally:
        await store.close()
    assert len({turn.id for turn, _, _ in results}) == 40


async def test_concurrent_retries_of_one_message_id_store_it_once(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")

    results = await asyncio.gather(
        *(store.add_user_turn(conversation.id, "hello", message_id="m-1") for _ in range(8))
    )

    assert len({turn.id for turn, _ in results}) == 1
    assert sorted(new for _, new in results) == [False] * 7 + [True]
    assert await store.count_turns() == 1


async def test_the_same_message_id_in_another_conversation_is_a_new_turn(store: Store) -> None:
    alice = await store.conversation_for("rest", "alice")
    bob = await store.conversation_for("rest", "bob")

    a, _ = await store.add_user_turn(alice.id, "hi", message_id="m-1")
    b, new = await store.add_user_turn(bob.id, "hi", message_id="m-1")

    assert new is True
    assert a.id != b.id


async def test_messages_without_an_id_are_always_new(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")

    _, first = await store.add_user_turn(conversation.id, "hi")
    _, second = await store.add_user_turn(conversation.id, "hi")

    assert (first, second) == (True, True)
    assert await store.count_turns() == 2


async def test_record_reply_stores_what_the_models_made_of_the_message(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    turn, _ = await store.add_user_turn(conversation.id, "where is my parcel")

    await store.record_reply(
        conversation.id,
        turn.id,
        [BotMessage("On its way.")],
        route="template",
        understanding=Understanding(
            intent="track_shipment",
            confidence=0.91,
            sentiment="neutral",
            sentiment_score=0.8,
            entities=[{"entity": "order_id", "value": "NW-1"}],
        ),
    )

    stored = (await store.turns(conversation.id))[0]
    assert stored.intent == "track_shipment"
    assert stored.confidence == pytest.approx(0.91)
    assert stored.sentiment == "neutral"
    assert stored.sentiment_score == pytest.approx(0.8)
    assert stored.entities == [{"entity": "order_id", "value": "NW-1"}]
    assert stored.route == "template"


async def test_record_reply_stores_bot_turns_answering_the_user_turn(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    user, _ = await store.add_user_turn(conversation.id, "refund?", message_id="m-1")

    replies = await store.record_reply(
        conversation.id,
        user.id,
        [
            BotMessage("Refunds take 5 days."),
            BotMessage("Anything else?", buttons=({"title": "No", "payload": "/deny"},)),
        ],
        route="retrieval",
        answer_source="qa:17",
        retrieval_score=0.83,
        slots={"order_id": "NW-10482"},
    )

    assert [r.text for r in replies] == ["Refunds take 5 days.", "Anything else?"]
    for reply in replies:
        assert reply.role == "bot"
        assert reply.reply_to == user.id
        assert reply.route == "retrieval"
        assert reply.answer_source == "qa:17"
        assert reply.retrieval_score == pytest.approx(0.83)
        assert reply.message_id is None
    assert replies[0].payload is None
    assert replies[1].payload == {"buttons": [{"title": "No", "payload": "/deny"}]}
    assert await store.replies_to(user.id) == replies

    [stored_user, *_] = await store.turns(conversation.id)
    assert stored_user.route == "retrieval"
    assert stored_user.answer_source == "qa:17"
    assert stored_user.retrieval_score == pytest.approx(0.83)

    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    assert stored.slots == {"order_id": "NW-10482"}
    assert stored.status == "bot"
    assert stored.updated_at >= conversation.updated_at
    assert await store.escalations() == []


async def test_record_reply_with_user_route_false_leaves_the_user_turn_alone(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    user, _ = await store.add_user_turn(conversation.id, "hi")

    await store.record_reply(
        conversation.id, user.id, [BotMessage("hi")], route="agent", user_route=False
    )

    [stored_user, _] = await store.turns(conversation.id)
    assert stored_user.route is None


async def test_record_reply_without_slots_keeps_the_stored_slots(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    user, _ = await store.add_user_turn(conversation.id, "NW-10482")
    await store.record_reply(
        conversation.id, user.id, [BotMessage("ok")], route="template", slots={"order_id": "NW-1"}
    )
    user2, _ = await store.add_user_turn(conversation.id, "thanks")

    await store.record_reply(
        conversation.id, user2.id, [BotMessage("you're welcome")], route="template"
    )

    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    assert stored.slots == {"order_id": "NW-1"}


async def test_record_reply_with_an_escalation_opens_it_and_hands_the_conversation_off(
    store: Store,
) -> None:
    conversation = await store.conversation_for("rest", "alice")
    user, _ = await store.add_user_turn(conversation.id, "I want a human")

    await store.record_reply(
        conversation.id,
        user.id,
        [BotMessage("Connecting you with a colleague.")],
        route="handoff",
        slots={"email": "a@b.io"},
        escalation_reason="asked_for_human",
    )

    [escalation] = await store.escalations()
    assert escalation.conversation_id == conversation.id
    assert escalation.reason == "asked_for_human"
    assert escalation.status == "open"
    assert escalation.assignee is None
    assert await store.escalations(status="open") == [escalation]
    assert await store.escalations(status="resolved") == []
    assert await store.escalations(conversation_id=conversation.id) == [escalation]
    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    assert stored.status == "handoff"
    assert stored.slots == {"email": "a@b.io"}


async def test_a_failing_record_reply_leaves_nothing_half_written(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    user, _ = await store.add_user_turn(conversation.id, "hello")
    await store.record_reply(
        conversation.id, user.id, [BotMessage("hi")], route="template", slots={"order_id": "NW-1"}
    )
    user2, _ = await store.add_user_turn(conversation.id, "help")
    before = await store.get_conversation(conversation.id)

    with pytest.raises(StatementError, match="not JSON serializable"):
        await store.record_reply(
            conversation.id,
            user2.id,
            [BotMessage("first is fine"), BotMessage("broken", custom={"x": Unserialisable()})],
            route="handoff",
            slots={"order_id": "NW-2"},
            escalation_reason="asked_for_human",
        )

    assert await store.replies_to(user2.id) == []
    assert await store.escalations() == []
    after = await store.get_conversation(conversation.id)
    assert after == before
    assert after is not None
    assert after.slots == {"order_id": "NW-1"}
    assert after.status == "bot"
    [_, _, stored_user2] = await store.turns(conversation.id)
    assert stored_user2.route is None
    # The store is still usable after the rollback.
    await store.record_reply(conversation.id, user2.id, [BotMessage("ok")], route="template")
    assert [t.text for t in await store.replies_to(user2.id)] == ["ok"]


async def test_a_failing_slot_write_rolls_back_the_bot_turns_and_escalation(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    user, _ = await store.add_user_turn(conversation.id, "help")

    with pytest.raises(StatementError, match="not JSON serializable"):
        await store.record_reply(
            conversation.id,
            user.id,
            [BotMessage("Connecting you.")],
            route="handoff",
            slots={"bad": Unserialisable()},
            escalation_reason="asked_for_human",
        )

    assert await store.replies_to(user.id) == []
    assert await store.escalations() == []
    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    assert (stored.status, stored.slots) == ("bot", {})


async def test_replies_to_lists_only_that_turns_replies_in_order(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    first, _ = await store.add_user_turn(conversation.id, "one")
    await store.record_reply(
        conversation.id, first.id, [BotMessage("1a"), BotMessage("1b")], route="template"
    )
    second, _ = await store.add_user_turn(conversation.id, "two")
    await store.record_reply(conversation.id, second.id, [BotMessage("2a")], route="template")

    assert [t.text for t in await store.replies_to(first.id)] == ["1a", "1b"]
    assert [t.text for t in await store.replies_to(second.id)] == ["2a"]
    assert await store.replies_to(999_999) == []


async def test_turns_come_oldest_first_and_limit_keeps_the_latest(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    other = await store.conversation_for("rest", "bob")
    for i in range(3):
        user, _ = await store.add_user_turn(conversation.id, f"u{i}")
        await store.record_reply(conversation.id, user.id, [BotMessage(f"b{i}")], route="template")
    await store.add_user_turn(other.id, "not alice's")

    every = await store.turns(conversation.id)
    latest = await store.turns(conversation.id, limit=3)

    assert [t.text for t in every] == ["u0", "b0", "u1", "b1", "u2", "b2"]
    assert [t.role for t in every] == ["user", "bot"] * 3
    assert [t.id for t in every] == sorted(t.id for t in every)
    assert [t.text for t in latest] == ["b1", "u2", "b2"]
    assert await store.count_turns() == 7


async def test_set_status_changes_the_conversation_status(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")

    await store.set_status(conversation.id, "resolved")

    stored = await store.get_conversation(conversation.id)
    assert stored is not None
    assert stored.status == "resolved"
    assert stored.updated_at >= conversation.updated_at


async def test_escalations_come_oldest_first(store: Store) -> None:
    ids = []
    for sender in ("a", "b", "c"):
        conversation = await store.conversation_for("rest", sender)
        user, _ = await store.add_user_turn(conversation.id, "help")
        await store.record_reply(
            conversation.id, user.id, [], route="handoff", escalation_reason="low_confidence"
        )
        ids.append(conversation.id)

    assert [e.conversation_id for e in await store.escalations()] == ids


async def test_data_survives_reopening_the_store(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        conversation = await store.conversation_for("rest", "alice")
        await store.add_user_turn(conversation.id, "remember me", message_id="m-1")
    finally:
        await store.close()

    reopened = await Store.open(store_url, create=False)
    try:
        again = await reopened.conversation_for("rest", "alice")
        turn, new = await reopened.add_user_turn(again.id, "remember me", message_id="m-1")
    finally:
        await reopened.close()

    assert again.id == conversation.id
    assert new is False
    assert turn.text == "remember me"


async def test_several_processes_opening_a_fresh_database_at_once_all_succeed(
    store_url: str,
) -> None:
    # Separate engines stand for separate processes racing to create the tables.
    stores = await asyncio.gather(*(Store.open(store_url) for _ in range(4)))
    try:
        for store in stores:
            assert await store.ping()
    finally:
        for store in stores:
            await store.close()


async def test_several_processes_turning_a_fresh_sqlite_file_to_wal_at_once_all_succeed(
    tmp_path: Path,
) -> None:
    # Turning a new file to WAL is refused at once ("database is locked") while another
    # connection does the same; one race in a dozen hit it, so race many fresh files.
    for round_ in range(30):
        url = f"sqlite+aiosqlite:///{tmp_path / f'race-{round_}.sqlite3'}"
        results = await asyncio.gather(*(Store.open(url) for _ in range(6)), return_exceptions=True)
        stores = [r for r in results if isinstance(r, Store)]
        for store in stores:
            await store.close()
        assert len(stores) == 6, [r for r in results if not isinstance(r, Store)]


async def test_a_long_staff_read_does_not_hold_up_the_chats_writes(sqlite_url: str) -> None:
    store = await Store.open(sqlite_url, pool_timeout_s=0.2)
    try:
        conversation = await store.conversation_for("rest", "alice")
        async with store.engine.connect() as staff:  # a long staff export, mid-read
            await staff.execute(text("BEGIN"))
            await staff.execute(text("SELECT count(*) FROM turns"))
            turn, new, _ = await store.take_message(conversation.id, "hello")
            seen = (await staff.execute(text("SELECT count(*) FROM turns"))).scalar_one()
        assert new and turn.text == "hello"
        assert seen == 0  # the export kept its snapshot while the chat wrote
        assert await store.count_turns() == 1
    finally:
        await store.close()


async def test_staff_work_that_finds_no_free_connection_gets_the_pools_timeout(
    sqlite_url: str,
) -> None:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    store = await Store.open(sqlite_url, pool_timeout_s=0.2)
    try:
        staff = AccountStore(store.engine)
        async with store.engine.connect():  # another staff request holds the one connection
            with pytest.raises(PoolTimeout):
                await staff.users()
        assert await staff.users() == []
    finally:
        await store.close()


async def test_closing_the_store_finishes_a_write_already_handed_to_it(sqlite_url: str) -> None:
    store = await Store.open(sqlite_url)
    conversation = await store.conversation_for("rest", "alice")
    writes = [
        asyncio.ensure_future(store.take_message(conversation.id, f"message {i}"))
        for i in range(20)
    ]
    await asyncio.sleep(0)
    await store.close()
    await asyncio.gather(*writes)

    reopened = await Store.open(sqlite_url, create=False)
    try:
        assert [t.text for t in await reopened.turns(conversation.id)] == [
            f"message {i}" for i in range(20)
        ]
    finally:
        await reopened.close()


def sentiment_event(
    conversation_id: str, turn_id: int, sentiment: str = "negative"
) -> SentimentEvent:
    return SentimentEvent(
        turn_id=turn_id,
        conversation_id=conversation_id,
        channel="rest",
        intent="payment_failed",
        topic="payments",
        sentiment=sentiment,
        score=0.9,
        ts=1_800_000_000,
    )


async def sentiments_of(store: Store) -> list[tuple[int, str]]:
    query = text("SELECT turn_id, sentiment FROM sentiment_events ORDER BY turn_id")
    async with store.engine.connect() as conn:
        return [(row.turn_id, row.sentiment) for row in await conn.execute(query)]


async def test_record_reply_stores_the_messages_sentiment_event_with_the_reply(
    store: Store,
) -> None:
    conversation = await store.conversation_for("rest", "alice")
    user, _ = await store.add_user_turn(conversation.id, "my card was charged twice")

    await store.record_reply(
        conversation.id,
        user.id,
        [BotMessage("Sorry about that.")],
        route="template",
        sentiment=sentiment_event(conversation.id, user.id),
    )

    assert await sentiments_of(store) == [(user.id, "negative")]


async def test_a_failing_record_reply_stores_no_sentiment_event_either(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    user, _ = await store.add_user_turn(conversation.id, "help")

    with pytest.raises(StatementError, match="not JSON serializable"):
        await store.record_reply(
            conversation.id,
            user.id,
            [BotMessage("broken", custom={"x": Unserialisable()})],
            route="template",
            sentiment=sentiment_event(conversation.id, user.id),
        )

    assert await sentiments_of(store) == []


async def test_a_message_answered_twice_keeps_one_sentiment_event(store: Store) -> None:
    conversation = await store.conversation_for("rest", "alice")
    user, _ = await store.add_user_turn(conversation.id, "help")

    for sentiment in ("negative", "neutral"):
        await store.record_reply(
            conversation.id,
            user.id,
            [BotMessage("On it.")],
            route="template",
            sentiment=sentiment_event(conversation.id, user.id, sentiment),
        )

    assert await sentiments_of(store) == [(user.id, "negative")]
