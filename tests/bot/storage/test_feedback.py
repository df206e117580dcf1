"""bot.storage.feedback: what staff teach the bot, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from bot.storage import Store
from bot.storage.feedback import FeedbackStore


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
