"""bot.storage.feedback: what staff teach the bot, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import pytest

from bot.storage import Store
from bot.storage.audit import Actor, AuditLog
from bot.storage.feedback import FeedbackStore, ReviewError


async def test_a_second_correction_of_a_turn_replaces_the_first(store: Store) -> None:
    feedback = FeedbackStore(store.engine)
    conversation = await store.conversation_for("widget", "w-1")
    other = await store.conversation_for("widget", "w-2")
    user_turn, _ = await store.add_user_turn(conversation.id, "help me")
    elsewhere, _ = await store.add_user_turn(other.id, "hello")

    await feedback.correct(user_turn, "greet", "ann")
    await feedback.correct(user_turn, "thanks", "ann")
    await feedback.correct(elsewhere, "greet", "ann")

    [correction] = await feedback.corrections(conversation.id)
    assert (correction.text, correction.intent) == ("help me", "thanks")
    assert (correction.turn_id, correction.author) == (user_turn.id, "ann")
    assert correction.predicted_intent is None, "the model had not labelled it"
    assert [c.intent for c in await feedback.corrections()] == ["thanks", "greet"]


async def test_saving_an_answer_again_replaces_it(store: Store) -> None:
    feedback = FeedbackStore(store.engine)
    conversation = await store.conversation_for("widget", "w-1")
    agent_turn = await store.add_agent_turn(conversation.id, "ann", "a")

    await feedback.save_answer("qa-1", "q", "a", None, "ann", agent_turn.id)
    await feedback.save_answer("qa-1", "q", "a2", None, "ann", agent_turn.id)

    [saved] = await feedback.saved_answers()
    assert (saved.qa_id, saved.question, saved.answer) == ("qa-1", "q", "a2")
    assert saved.turn_id == agent_turn.id


async def test_a_pending_answer_becomes_a_saved_answer_only_when_an_admin_approves_it(
    store: Store,
) -> None:
    feedback = FeedbackStore(store.engine)
    log = AuditLog(store.engine)
    conversation = await store.conversation_for("widget", "w-1")
    agent_turn = await store.add_agent_turn(conversation.id, "ann", "a")
    kept = await feedback.add_pending("qa-1", "q1", "a1", "greet", "ann", agent_turn.id)
    dropped = await feedback.add_pending("qa-2", "q2", "a2", None, "ann", agent_turn.id)
    assert (kept.status, kept.reviewed_by) == ("pending", None)
    assert await feedback.saved_answers() == [], "nothing is saved before an approval"
    assert [p.id for p in await feedback.pending_answers()] == [kept.id, dropped.id]

    root = Actor("root", "10.0.0.9")
    approved, saved = await feedback.approve(kept.id, root)
    rejected = await feedback.reject(dropped.id, root)
    assert (approved.status, approved.reviewed_by) == ("approved", "root")
    assert approved.reviewed_at is not None
    assert (rejected.status, rejected.reviewed_by) == ("rejected", "root")
    assert [(s.qa_id, s.answer, s.author) for s in await feedback.saved_answers()] == [
        ("qa-1", "a1", "ann")
    ]
    assert saved.qa_id == "qa-1"
    assert await feedback.pending_answers() == []
    assert [p.id for p in await feedback.pending_answers("rejected")] == [dropped.id]

    with pytest.raises(ReviewError, match=f"answer {kept.id} was already approved by root"):
        await feedback.reject(kept.id, root)
    with pytest.raises(ReviewError, match="already rejected"):
        await feedback.approve(dropped.id, root)
    with pytest.raises(LookupError, match="no pending answer 999"):
        await feedback.approve(999, root)

    # The staff reply itself is audited too ("reply"); these are the answers' events.
    events = [
        (e.action, e.actor, e.target)
        for e in reversed(await log.events())
        if e.action.startswith("answer")
    ]
    assert events == [
        ("answer_saved", "ann", "qa-1"),
        ("answer_saved", "ann", "qa-2"),
        ("answer_approved", "root", "qa-1"),
        ("answer_rejected", "root", "qa-2"),
    ]
    assert (await log.events(action="answer_saved"))[0].details == {
        "turn": agent_turn.id,
        "status": "pending",
        "pending_id": dropped.id,
    }


async def test_an_approval_the_index_refused_is_pending_again(store: Store) -> None:
    feedback = FeedbackStore(store.engine)
    pending = await feedback.add_pending("qa-1", "q", "a", None, "ann", None)
    _, saved = await feedback.approve(pending.id, Actor("root"))
    await feedback.reopen(pending.id, saved)
    [again] = await feedback.pending_answers()
    assert (again.id, again.status, again.reviewed_by) == (pending.id, "pending", None)
    assert await feedback.saved_answers() == []
    [reopened] = await AuditLog(store.engine).events(action="answer_reopened")
    assert reopened.details == {"pending_id": pending.id, "reason": "the index refused it"}


async def test_reopening_an_approval_brings_back_the_answer_it_replaced(store: Store) -> None:
    feedback = FeedbackStore(store.engine)
    await feedback.save_answer("qa-1", "q", "the old answer", None, "bob", None)
    replaced = await feedback.saved_answer("qa-1")
    pending = await feedback.add_pending("qa-1", "q", "a new answer", None, "ann", None)
    _, saved = await feedback.approve(pending.id, Actor("root"))
    assert [a.answer for a in await feedback.saved_answers()] == ["a new answer"]
    await feedback.reopen(pending.id, saved, replaced)
    assert [(a.answer, a.author) for a in await feedback.saved_answers()] == [
        ("the old answer", "bob")
    ]
