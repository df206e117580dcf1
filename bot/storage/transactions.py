"""Whole transactions in one trip to the database.

The chat's own reads and writes (store a message, store the reply, record its sentiment) are
written as plain functions over a synchronous SQLAlchemy ``Connection`` and handed to
:meth:`Transactions.run`, which runs the whole function as one unit of work.

Why not ``await conn.execute(...)`` statement by statement: on SQLite, the async driver
(aiosqlite) sends every cursor, execute, fetch and close to its own thread and back, about
four trips per statement, 29 per customer message. Each trip waits for the event loop to
come round, and under load the loop is busy with the other requests, so the one SQLite
connection spent most of its time idle between trips (measured: about 100 messages per
second at concurrency 16 with the connection saturated). Here a file-backed SQLite database
gets one thread that owns a connection of its own and runs each transaction in a single
trip. PostgreSQL, and in-memory SQLite (which one connection alone can see), run the same
function through ``AsyncConnection.run_sync`` on the async engine's pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
Work = Callable[[Connection], T]


class Transactions(Protocol):
    async def run(self, work: Work[T]) -> T:
        """Run ``work`` in a transaction: committed when it returns, rolled back when it
        raises (the exception propagates)."""
        ...

    async def close(self) -> None: ...


def transactions_for(url: str, engine: AsyncEngine, pragmas: Callable[..., None]) -> Transactions:
    """The way to run the chat's transactions for the database at ``url``.

    ``pragmas`` is the connect hook the async engine's SQLite connections get, so both kinds
    of connection behave alike (WAL, busy timeout, foreign keys).
    """
    path = sqlite_file(url)
    if path is None:
        return OnAsyncEngine(engine)
    return SQLiteThread(path, pragmas)


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[-1] if ":///" in url else ""
    if not path or path == ":memory:" or "mode=memory" in path:
        return None
    return path


class OnAsyncEngine:
    """A pooled async connection per transaction: PostgreSQL's pool lets requests run their
    transactions side by side, and asyncpg is a network round trip per statement anyway."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def run(self, work: Work[T]) -> T:
        async with self.engine.begin() as conn:
            return await conn.run_sync(work)

    async def close(self) -> None:
        """The engine belongs to the store, which disposes of it."""


class SQLiteThread:
    """One thread with one connection to a SQLite file, running transactions in turn.

    SQLite lets one writer in at a time; queueing the chat's and the ops monitor's writers in
    one thread keeps them in arrival order without SQLite's busy handler sleeping between
    retries, and a transaction costs one hand-over to the thread and one back. Readers on
    other connections (the staff console, the ops dashboard) are not held up: the database
    runs in WAL mode. The staff console's writes, at the pace people click, take the write
    lock from the async engine's connection and wait out a collision in the busy handler.
    """

    def __init__(self, path: str, pragmas: Callable[..., None]) -> None:
        self.engine: Engine = create_engine(
            f"sqlite:///{path}",
            # As the store's engine: customers' words and tokens stay out of logs and errors.
            hide_parameters=True,
            pool_size=1,
            max_overflow=0,
            # Every use ends in a commit or a rollback (Engine.begin), so the pool's own
            # rollback on return would be wasted work.
            pool_reset_on_return=None,
        )
        event.listen(self.engine, "connect", pragmas)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="frontdesk-sqlite")
        self._closed = False

    async def run(self, work: Work[T]) -> T:
        if self._closed:
            raise RuntimeError("the store is closed; open it again to read or write")
        loop = asyncio.get_running_loop()
        result: T = await loop.run_in_executor(self._thread, self._transaction, work)
        return result

    def _transaction(self, work: Work[Any]) -> Any:
        with self.engine.begin() as conn:
            return work(conn)

    async def close(self) -> None:
        """Finish the transactions already handed over, then close the connection; later
        calls to run() fail, a second close() does nothing."""
        if self._closed:
            return
        self._closed = True
        # Queued behind the work already handed over; the connection was made in the
        # thread and is closed there too.
        disposed = asyncio.get_running_loop().run_in_executor(self._thread, self.engine.dispose)
        self._thread.shutdown(wait=False)
        await disposed
