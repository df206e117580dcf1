"""bot.storage.escalations, and bot.storage.handoff through the conversation store: the
queue, claims, an agent's reply, resolve and hand back, notes and ratings, on a SQLite file and
on PostgreSQL."""

from __future__ import annotations

import pytest

from bot.storage import Conversation, Store, Turn
from bot.storage.escalations import EscalationError, EscalationStore


async def handed_off(store: Store, sender: str = "w-1") -> tuple[Conversation, Turn]:
    """A conversation whose customer asked for a human; returns it and the customer's turn."""
    conversation = await store.conversation_for("widget", sender)
    user_turn, _ = await store.add_user_turn(conversation.id, "help me")
    await store.record_reply(
        conversation.id, user_turn.id, (), route="handoff", escalation_reason="asked_for_human"
    )
    return conversation, user_turn


async def test_the_queue_shows_a_hand_off_with_what_staff_need_to_triage(store: Store) -> None:
    escalations = EscalationStore(store.engine)
    conversation, user_turn = await handed_off(store)
    [item] = await escalations.queue()
    assert item.escalation.reason == "asked_for_human"
    assert item.conversation.id == conversation.id
    assert item.last_customer_message is not None
    assert item.last_customer_message.id == user_turn.id
    assert await escalations.queue(["resolved"]) == []


async def test_an_open_escalation_can_be_claimed_a_closed_one_cannot(store: Store) -> None:
    escalations = EscalationStore(store.engine)
    conversation, _ = await handed_off(store)
    [item] = await escalations.queue()
    escalation = await escalations.claim(item.escalation.id, "ann")
    assert (escalation.status, escalation.assignee) == ("claimed", "ann")
    assert (await escalations.claim(escalation.id, "bob")).assignee == "bob", "reassigned"

    await store.close_handoff(
        conversation.id,
        escalation_status="resolved",
        conversation_status="resolved",
        notice="resolved",
        author="ann",
    )
    with pytest.raises(EscalationError, match="not open"):
        await escalations.claim(escalation.id, "ann")


async def test_an_agent_reply_is_a_turn_the_transcript_shows_after_the_customers(
    store: Store,
) -> None:
    escalations = EscalationStore(store.engine)
    conversation, user_turn = await handed_off(store)
    agent_turn = await store.add_agent_turn(conversation.id, "ann", "hello")
    assert (agent_turn.role, agent_turn.text) == ("agent", "hello")
    assert agent_turn.payload == {"custom": {"author": "ann"}}
    assert [t.id for t in await escalations.turns_after(conversation.id, user_turn.id)] == [
        agent_turn.id
    ]
    assert await escalations.turns_after(conversation.id, 0, ["bot"]) == []
    assert (await escalations.get_turn(agent_turn.id)) == agent_turn
    previous = await escalations.previous_user_turn(agent_turn)
    assert previous is not None and previous.id == user_turn.id
    assert await escalations.previous_user_turn(user_turn) is None
    touched = await escalations.conversation(conversation.id)
    assert touched is not None and touched.updated_at >= agent_turn.created_at


async def test_resolving_closes_the_escalation_and_tells_the_customer_in_one_go(
    store: Store,
) -> None:
    escalations = EscalationStore(store.engine)
    conversation, _ = await handed_off(store)
    closed = await store.close_handoff(
        conversation.id,
        escalation_status="resolved",
        conversation_status="resolved",
        notice="This conversation has been resolved by our team.",
        author="ann",
    )
    assert closed is not None and closed.status == "resolved" and closed.resolved_at is not None
    assert await escalations.latest_escalation(conversation.id) == closed
    now = await escalations.conversation(conversation.id)
    assert now is not None and now.status == "resolved"
    *_, notice = await escalations.turns_after(conversation.id, 0)
    assert (notice.role, notice.route) == ("system", "resolved")
    assert notice.text == "This conversation has been resolved by our team."
    assert notice.payload == {"custom": {"event": "resolved", "by": "ann"}}
    assert await escalations.queue() == []


async def test_handing_back_gives_the_conversation_to_the_bot_again(store: Store) -> None:
    escalations = EscalationStore(store.engine)
    conversation, _ = await handed_off(store)
    closed = await store.close_handoff(
        conversation.id,
        escalation_status="handed_back",
        conversation_status="bot",
        notice="The assistant again.",
        author="ann",
    )
    assert closed is not None and closed.status == "handed_back" and closed.resolved_at is None
    now = await escalations.conversation(conversation.id)
    assert now is not None and now.status == "bot"
    *_, notice = await escalations.turns_after(conversation.id, 0)
    assert (notice.role, notice.route, notice.text) == (
        "system",
        "handed_back",
        "The assistant again.",
    )

    again = await store.close_handoff(
        conversation.id,
        escalation_status="handed_back",
        conversation_status="bot",
        notice="The assistant again.",
        author="ann",
    )
    assert again is None, "no escalation was still open"


async def test_a_hand_off_is_rated_once(store: Store) -> None:
    escalations = EscalationStore(store.engine)
    conversation, _ = await handed_off(store)
    [item] = await escalations.queue()
    assert await escalations.rating(item.escalation.id) is None
    assert await escalations.rate(item.escalation.id, conversation.id, 4)
    assert not await escalations.rate(item.escalation.id, conversation.id, 5)
    assert await escalations.rating(item.escalation.id) == 4


async def test_notes_are_kept_per_conversation_in_order(store: Store) -> None:
    escalations = EscalationStore(store.engine)
    conversation, _ = await handed_off(store)
    other, _ = await handed_off(store, "w-2")
    note = await escalations.add_note(conversation.id, "ann", "first")
    await escalations.add_note(other.id, "ann", "elsewhere")
    await escalations.add_note(conversation.id, "bob", "second")
    assert (note.author, note.text) == ("ann", "first")
    assert [n.text for n in await escalations.notes(conversation.id)] == ["first", "second"]


async def test_staff_turns_are_written_on_the_chats_transactions_not_the_staff_pool(
    sqlite_url: str,
) -> None:
    # On SQLite the async engine has one connection, which a long staff read may hold; an
    # agent's reply and a resolve still go through, queued with the bot's own writes.
    store = await Store.open(sqlite_url, pool_timeout_s=0.2)
    try:
        conversation, _ = await handed_off(store)
        async with store.engine.connect():
            await store.add_agent_turn(conversation.id, "ann", "hello")
            await store.close_handoff(
                conversation.id,
                escalation_status="resolved",
                conversation_status="resolved",
                notice="resolved",
                author="ann",
            )
        roles = [t.role for t in await store.turns(conversation.id)]
        assert roles == ["user", "agent", "system"]
    finally:
        await store.close()
