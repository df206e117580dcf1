"""bot.storage.accounts: staff accounts, sessions, API tokens and widget conversation tokens,
on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.storage import Store
from bot.storage.accounts import AccountError, AccountStore


async def test_a_username_is_taken_once_and_only_known_roles_are_stored(store: Store) -> None:
    accounts = AccountStore(store.engine)
    ann = await accounts.create_user("ann", "hash", "agent")
    with pytest.raises(AccountError, match="already exists"):
        await accounts.create_user("ann", "hash", "agent")
    with pytest.raises(AccountError, match="role"):
        await accounts.create_user("bob", "hash", "boss")
    with pytest.raises(AccountError, match="role"):
        await accounts.update_user(ann.id, role="boss")
    await accounts.create_user("abe", "hash", "ops")
    assert [u.username for u in await accounts.users()] == ["abe", "ann"]
    assert await accounts.count_users() == 2
    assert (await accounts.get_user(ann.id)) == await accounts.user_by_name("ann")


async def test_a_session_finds_its_user_and_csrf_token_until_it_expires(store: Store) -> None:
    accounts = AccountStore(store.engine)
    ann = await accounts.create_user("ann", "hash", "agent")
    await accounts.create_session(ann.id, "s" * 64, "csrf", timedelta(hours=1))
    found = await accounts.session("s" * 64)
    assert found is not None and found[0].username == "ann" and found[1] == "csrf"
    await accounts.create_session(ann.id, "e" * 64, "csrf", timedelta(hours=-1))
    assert await accounts.session("e" * 64) is None, "expired"
    await accounts.delete_session("s" * 64)
    assert await accounts.session("s" * 64) is None, "signed out"


async def test_disabling_an_account_signs_it_out_everywhere_and_stops_its_tokens(
    store: Store,
) -> None:
    accounts = AccountStore(store.engine)
    ann = await accounts.create_user("ann", "hash", "agent")
    await accounts.create_session(ann.id, "s" * 64, "csrf", timedelta(hours=1))
    await accounts.create_api_token(ann.id, "t" * 64)
    assert (await accounts.token_user("t" * 64)).username == "ann"  # type: ignore[union-attr]

    await accounts.update_user(ann.id, active=False)
    assert await accounts.session("s" * 64) is None
    assert await accounts.token_user("t" * 64) is None

    await accounts.update_user(ann.id, active=True)
    assert await accounts.token_user("t" * 64) is not None, "a token works again"
    assert await accounts.session("s" * 64) is None, "a session stays ended: sign in again"


async def test_a_conversation_token_opens_only_its_conversation(store: Store) -> None:
    accounts = AccountStore(store.engine)
    conversation = await store.conversation_for("widget", "w-1")
    await accounts.add_conversation_token("c" * 64, conversation.id)
    found = await accounts.conversation_for_token("c" * 64)
    assert found is not None and found.id == conversation.id
    assert await accounts.conversation_for_token("x" * 64) is None


@pytest.mark.parametrize("change", [{"password_hash": "new"}, {"role": "admin"}])
async def test_a_password_or_role_change_ends_every_session_and_token(
    store: Store, change: dict[str, str]
) -> None:
    accounts = AccountStore(store.engine)
    ann = await accounts.create_user("ann", "hash", "agent")
    await accounts.create_session(ann.id, "s" * 64, "csrf", timedelta(hours=1))
    await accounts.create_api_token(ann.id, "t" * 64)
    await accounts.update_user(ann.id, **change)  # type: ignore[arg-type]
    assert await accounts.session("s" * 64) is None
    assert await accounts.token_user("t" * 64) is None
    [token] = await accounts.api_tokens(ann.id)
    assert token.revoked_at is not None


async def test_tokens_expire_sessions_end_when_idle_and_dead_rows_are_purged(
    store: Store,
) -> None:
    accounts = AccountStore(store.engine)
    ann = await accounts.create_user("ann", "hash", "agent")
    token_id = await accounts.create_api_token(ann.id, "t" * 64)
    assert await accounts.token_user("t" * 64, max_age=timedelta(days=90)) is not None
    assert await accounts.token_user("t" * 64, max_age=timedelta(0)) is None, "expired"
    await accounts.create_session(
        ann.id, "i" * 64, "csrf", timedelta(hours=12), idle=timedelta(seconds=-1)
    )
    assert await accounts.session("i" * 64) is None, "idle too long"
    await accounts.create_session(
        ann.id, "s" * 64, "csrf", timedelta(hours=12), idle=timedelta(minutes=30)
    )
    found = await accounts.session(
        "s" * 64, idle=timedelta(minutes=30), lifetime=timedelta(hours=12)
    )
    assert found is not None
    assert await accounts.revoke_tokens(token_id=token_id) == 1
    assert await accounts.revoke_tokens(token_id=token_id) == 0, "already revoked"
    assert await accounts.purge_expired(timedelta(days=90)) == (1, 1)
    assert await accounts.session("s" * 64) is not None, "a live session stays"
