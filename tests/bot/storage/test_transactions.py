"""bot.storage.transactions: the chat's transactions, each in one trip to the database."""

from __future__ import annotations

import asyncio
import threading
from functools import partial

import pytest
from sqlalchemy import Connection, func, insert, select

from bot.storage import Store
from bot.storage.schema import conversations
from bot.storage.store import utcnow
from bot.storage.transactions import OnAsyncEngine, SQLiteThread, sqlite_file


def add_conversation(conn: Connection, sender: str) -> None:
    now = utcnow()
    conn.execute(
        insert(conversations).values(
            id=f"id-{sender}",
            channel="rest",
            sender_id=sender,
            status="bot",
            slots={},
            created_at=now,
            updated_at=now,
        )
    )


def count_conversations(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(conversations)).scalar_one())


def test_sqlite_file_is_read_from_file_urls_only() -> None:
    assert sqlite_file("sqlite+aiosqlite:///var/fd.sqlite3") == "var/fd.sqlite3"
    assert sqlite_file("sqlite+aiosqlite:////abs/fd.sqlite3") == "/abs/fd.sqlite3"
    assert sqlite_file("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_file("sqlite+aiosqlite://") is None
    assert sqlite_file("postgresql+asyncpg://u@host/db") is None


async def test_a_sqlite_file_gets_a_thread_of_its_own_and_postgres_the_pool(
    sqlite_url: str, postgres_url: str
) -> None:
    on_sqlite = await Store.open(sqlite_url)
    on_postgres = await Store.open(postgres_url)
    try:
        assert isinstance(on_sqlite.transactions, SQLiteThread)
        assert isinstance(on_postgres.transactions, OnAsyncEngine)
        name = await on_sqlite.transactions.run(lambda _: threading.current_thread().name)
        assert name.startswith("frontdesk-sqlite")
    finally:
        await on_sqlite.close()
        await on_postgres.close()


async def test_work_that_returns_is_committed(store: Store) -> None:
    await store.transactions.run(lambda conn: add_conversation(conn, "alice"))

    assert await store.transactions.run(count_conversations) == 1
    assert (await store.conversation_for("rest", "alice")).id == "id-alice"


async def test_work_that_raises_is_rolled_back_and_the_error_reaches_the_caller(
    store: Store,
) -> None:
    def half_done(conn: Connection) -> None:
        add_conversation(conn, "alice")
        raise ValueError("the second half failed")

    with pytest.raises(ValueError, match="the second half failed"):
        await store.transactions.run(half_done)

    assert await store.transactions.run(count_conversations) == 0


async def test_concurrent_transactions_all_land(store: Store) -> None:
    senders = [f"customer-{i}" for i in range(30)]

    await asyncio.gather(
        *(store.transactions.run(partial(add_conversation, sender=s)) for s in senders)
    )

    assert await store.transactions.run(count_conversations) == len(senders)


async def test_sqlite_transactions_run_in_the_order_they_were_handed_over(sqlite_url: str) -> None:
    store = await Store.open(sqlite_url)
    try:
        order: list[int] = []

        def arrive(_: Connection, i: int) -> None:
            order.append(i)

        await asyncio.gather(*(store.transactions.run(partial(arrive, i=i)) for i in range(50)))
    finally:
        await store.close()

    assert order == list(range(50))


async def test_a_closed_sqlite_store_refuses_work_and_closes_only_once(sqlite_url: str) -> None:
    store = await Store.open(sqlite_url)
    await store.close()

    with pytest.raises(RuntimeError, match="the store is closed; open it again"):
        await store.transactions.run(count_conversations)
    await store.close()  # a second close is harmless
