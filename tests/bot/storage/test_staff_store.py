"""The staff tables and workflow writes on both databases the product supports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.storage import Store
from bot.storage.staff import StaffStore, StaffStoreError


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


async def test_users_sessions_tokens_and_the_escalation_workflow(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        staff = StaffStore(store.engine)
        ann = await staff.create_user("ann", "hash", "agent")
        with pytest.raises(StaffStoreError):
            await staff.create_user("ann", "hash", "agent")
        with pytest.raises(StaffStoreError):
            await staff.create_user("bob", "hash", "boss")

        await staff.create_session(ann.id, "s" * 64, "csrf", timedelta(hours=1))
        found = await staff.session("s" * 64)
        assert found is not None and found[0].username == "ann" and found[1] == "csrf"
        await staff.create_session(ann.id, "e" * 64, "csrf", timedelta(hours=-1))
        assert await staff.session("e" * 64) is None, "expired"
        await staff.create_api_token(ann.id, "t" * 64)
        assert (await staff.token_user("t" * 64)).username == "ann"  # type: ignore[union-attr]
        await staff.update_user(ann.id, active=False)
        assert await staff.session("s" * 64) is None
        assert await staff.token_user("t" * 64) is None
        await staff.update_user(ann.id, active=True)

        conversation = await store.conversation_for("widget", "w-1")
        await staff.add_conversation_token("c" * 64, conversation.id)
        assert (await staff.conversation_for_token("c" * 64)).id == conversation.id  # type: ignore[union-attr]
        user_turn, _ = await store.add_user_turn(conversation.id, "help me")
        await store.record_reply(
            conversation.id, user_turn.id, (), route="handoff", escalation_reason="asked_for_human"
        )
        [item] = await staff.queue()
        assert item.escalation.reason == "asked_for_human"
        assert item.last_customer_message is not None
        escalation = await staff.claim(item.escalation.id, "ann")
        assert (escalation.status, escalation.assignee) == ("claimed", "ann")
        agent_turn = await staff.add_turn(conversation.id, "agent", "hello")
        assert [t.id for t in await staff.turns_after(conversation.id, user_turn.id)] == [
            agent_turn.id
        ]
        assert (await staff.previous_user_turn(agent_turn)).id == user_turn.id  # type: ignore[union-attr]
        closed = await staff.close_conversation(
            conversation.id, escalation_status="resolved", conversation_status="resolved"
        )
        assert closed is not None and closed.resolved_at is not None
        with pytest.raises(StaffStoreError):
            await staff.claim(closed.id, "ann")
        assert await staff.rate(closed.id, conversation.id, 4)
        assert not await staff.rate(closed.id, conversation.id, 5)
        assert await staff.rating(closed.id) == 4

        await staff.correct(user_turn, "greet", "ann")
        await staff.correct(user_turn, "thanks", "ann")
        [correction] = await staff.corrections(conversation.id)
        assert (correction.text, correction.intent) == ("help me", "thanks")
        await staff.add_note(conversation.id, "ann", "note")
        assert [n.text for n in await staff.notes(conversation.id)] == ["note"]
        await staff.save_answer("qa-1", "q", "a", None, "ann", agent_turn.id)
        await staff.save_answer("qa-1", "q", "a2", None, "ann", agent_turn.id)
        assert [a.answer for a in await staff.saved_answers()] == ["a2"]
    finally:
        await store.close()
