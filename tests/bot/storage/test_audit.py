"""bot.storage.audit: the staff audit log, written by the stores with each change, on a SQLite
file and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from bot.storage import Store
from bot.storage.accounts import AccountError, AccountStore
from bot.storage.audit import ACTIONS, Actor, AuditLog, parse_since
from bot.storage.escalations import EscalationError, EscalationStore
from bot.storage.feedback import FeedbackStore

ROOT = Actor("root", "203.0.113.7")


async def test_account_changes_are_recorded_with_who_did_them_and_from_where(
    store: Store,
) -> None:
    accounts = AccountStore(store.engine)
    log = AuditLog(store.engine)
    ann = await accounts.create_user("ann", "hash", "agent", by=ROOT)
    token_id = await accounts.create_api_token(ann.id, "t" * 64, by=ROOT)
    await accounts.create_session(ann.id, "s" * 64, "csrf", timedelta(hours=1))
    await accounts.update_user(ann.id, role="ops", by=ROOT)
    await accounts.update_user(ann.id, password_hash="new", by=ROOT)
    await accounts.update_user(ann.id, active=False, by=ROOT)
    await accounts.update_user(ann.id, role="ops", active=False, by=ROOT)  # nothing changes

    events = list(reversed(await log.events()))
    assert [(e.action, e.target) for e in events] == [
        ("user_created", "ann"),
        ("token_create", str(token_id)),
        ("role_change", "ann"),
        ("password_change", "ann"),
        ("user_disabled", "ann"),
    ]
    assert {(e.actor, e.client) for e in events} == {("root", "203.0.113.7")}
    assert events[0].details == {"role": "agent"}
    assert events[1].details == {"user": "ann"}
    # The role change ended the session and revoked the token, and says so.
    assert events[2].details == {
        "from": "agent",
        "to": "ops",
        "sessions_ended": 1,
        "tokens_revoked": 1,
    }
    assert events[3].details == {"sessions_ended": 0, "tokens_revoked": 0}


async def test_revoking_tokens_records_each_token_and_revoking_none_records_nothing(
    store: Store,
) -> None:
    accounts = AccountStore(store.engine)
    log = AuditLog(store.engine)
    ann = await accounts.create_user("ann", "hash", "agent")
    first = await accounts.create_api_token(ann.id, "a" * 64)
    second = await accounts.create_api_token(ann.id, "b" * 64)
    assert await accounts.revoke_tokens(token_id=first, by=ROOT) == 1
    assert await accounts.revoke_tokens(user_id=ann.id, by=ROOT) == 1
    assert await accounts.revoke_tokens(user_id=ann.id, by=ROOT) == 0
    revoked = await log.events(action="token_revoke")
    assert [(e.target, e.details) for e in reversed(revoked)] == [
        (str(first), {"user": "ann"}),
        (str(second), {"user": "ann"}),
    ]


async def test_a_change_that_fails_leaves_no_record(store: Store) -> None:
    accounts = AccountStore(store.engine)
    escalations = EscalationStore(store.engine)
    log = AuditLog(store.engine)
    await accounts.create_user("ann", "hash", "agent", by=ROOT)
    with pytest.raises(AccountError):
        await accounts.create_user("ann", "hash", "agent", by=ROOT)
    assert [e.action for e in await log.events()] == ["user_created"]

    conversation = await store.conversation_for("widget", "w-1")
    user_turn, _ = await store.add_user_turn(conversation.id, "help me")
    await store.record_reply(
        conversation.id, user_turn.id, (), route="handoff", escalation_reason="asked_for_human"
    )
    [item] = await escalations.queue()
    await escalations.claim(item.escalation.id, "ann", by=Actor("root", "10.0.0.1"))
    await store.close_handoff(
        conversation.id,
        escalation_status="resolved",
        conversation_status="resolved",
        notice="resolved",
        author="ann",
    )
    with pytest.raises(EscalationError):
        await escalations.claim(item.escalation.id, "ann")
    [claim] = await log.events(action="claim")
    assert (claim.actor, claim.client, claim.target) == ("root", "10.0.0.1", conversation.id)
    assert claim.details == {"escalation": item.escalation.id, "assignee": "ann"}


async def test_what_staff_teach_the_bot_is_recorded(store: Store) -> None:
    feedback = FeedbackStore(store.engine)
    log = AuditLog(store.engine)
    conversation = await store.conversation_for("widget", "w-1")
    user_turn, _ = await store.add_user_turn(conversation.id, "help me")
    agent_turn = await store.add_agent_turn(conversation.id, "ann", "a")

    await feedback.correct(user_turn, "greet", "ann")
    await feedback.save_answer("qa-1", "q", "a", None, "ann", agent_turn.id, by=ROOT)
    [correction] = await log.events(action="intent_correction")
    [saved] = await log.events(action="answer_saved")
    assert (correction.action, correction.actor, correction.client) == (
        "intent_correction",
        "ann",
        None,
    ), "without 'by' the author is the actor"
    assert correction.target == conversation.id
    assert correction.details == {"turn": user_turn.id, "from": None, "to": "greet"}
    assert (saved.action, saved.actor, saved.target) == ("answer_saved", "root", "qa-1")
    assert saved.details == {"turn": agent_turn.id, "status": "live"}


async def test_the_log_filters_by_action_actor_and_time_and_streams_oldest_first(
    store: Store,
) -> None:
    log = AuditLog(store.engine)
    for name in ("ann", "bob", "ann", "cy", "ann"):
        await log.record("login", by=Actor(name, "127.0.0.1"))
    await log.record("login_failed", by=Actor(None, "127.0.0.1"), target="mallory")

    assert [e.actor for e in await log.events(actor="ann")] == ["ann"] * 3
    [failed] = await log.events(action="login_failed")
    assert (failed.actor, failed.target) == (None, "mallory")
    assert len(await log.events(limit=2)) == 2
    newest_first = await log.events()
    assert [e.id for e in newest_first] == sorted((e.id for e in newest_first), reverse=True)
    assert await log.events(since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert len(await log.events(since=datetime.now(UTC) - timedelta(minutes=1))) == 6

    streamed = [e async for e in log.stream(batch=2)]
    assert [e.id for e in streamed] == sorted(e.id for e in newest_first)
    assert [e.actor async for e in log.stream(actor="ann", batch=2)] == ["ann"] * 3


async def test_an_unknown_action_is_refused_and_nothing_is_recorded(store: Store) -> None:
    log = AuditLog(store.engine)
    with pytest.raises(ValueError, match="unknown audit action 'hack'"):
        await log.record("hack", by=ROOT)
    assert await log.events() == []
    assert "login_failed" in ACTIONS


async def test_an_existing_database_gains_the_new_tables_when_it_is_opened(
    store_url: str,
) -> None:
    first = await Store.open(store_url)
    try:
        ann = await AccountStore(first.engine).create_user("ann", "hash", "agent")
        async with first.engine.begin() as conn:
            # A database from before the audit log and the answer approvals.
            await conn.execute(text("DROP TABLE audit_events"))
            await conn.execute(text("DROP TABLE pending_answers"))
    finally:
        await first.close()

    again = await Store.open(store_url)
    try:
        async with again.engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert {"audit_events", "pending_answers"} <= set(tables)
        await AccountStore(again.engine).update_user(ann.id, role="admin", by=ROOT)
        [event] = await AuditLog(again.engine).events()
        assert (event.action, event.target) == ("role_change", "ann")
        assert await AccountStore(again.engine).user_by_name("ann") is not None, "data kept"
    finally:
        await again.close()


def test_since_takes_a_date_or_a_time_in_utc_unless_it_says_otherwise() -> None:
    assert parse_since("2025-01-31") == datetime(2025, 1, 31, tzinfo=UTC)
    assert parse_since("2025-01-31T09:00:00Z") == datetime(2025, 1, 31, 9, tzinfo=UTC)
    assert parse_since("2025-01-31T09:00:00") == datetime(2025, 1, 31, 9, tzinfo=UTC)
    assert parse_since("2025-01-31T10:00:00+01:00") == datetime(2025, 1, 31, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"ISO 8601 date or time .* got 'yesterday'"):
        parse_since("yesterday")


async def test_replies_resolves_and_hand_backs_are_recorded(store: Store) -> None:
    log = AuditLog(store.engine)
    conversation = await store.conversation_for("widget", "w-9")
    await store.add_agent_turn(conversation.id, "ann", "hello", by=ROOT)
    await store.close_handoff(
        conversation.id,
        escalation_status="resolved",
        conversation_status="resolved",
        notice="resolved",
        author="ann",
    )
    actions = [(e.action, e.actor, e.target) for e in reversed(await log.events())]
    assert actions == [("reply", "root", conversation.id), ("resolve", "ann", conversation.id)]
