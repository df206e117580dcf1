"""Keeping every server process of a fleet serving the same bot.

Two things change under a running fleet, and each process must follow:

* **Saved answers.** Staff save (or an admin approves) an answer on one process; it lands in
  the ``saved_answers`` table, the fleet's record of them. Every process reads that table
  every ``answer_sync_s`` (half a second by default) and puts into its own index what is new
  there, and takes out what was taken back. The table, not a message, is the source: a
  process that was restarting when the answer was saved, or runs on another host with its own
  copy of the index files, still gets it, and a container recreated from its image starts
  with every saved answer.
* **Models, index and data files on disk** (``frontdesk reload``, ``frontdesk promote``): a
  reload is announced on a Redis channel that every process of the fleet listens to, so it
  reaches replicas on other hosts too; without Redis, ``frontdesk reload`` signals the
  process (or the ``--workers`` parent) named by the pid file.

A single process on SQLite is its own fleet and needs neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.config import Config
from bot.server.appkeys import CONFIG, REDIS, RUNTIME, STORE
from bot.server.runtime import RuntimeHolder
from bot.storage.staff_schema import saved_answers
from retrieval.base.qa import QAPair

log = logging.getLogger(__name__)

RELOAD_CHANNEL = "frontdesk:fleet:reload"
ANSWER_SYNC_S = 0.5
# Removals are found by listing every saved id, so they are looked for less often.
REMOVAL_CHECK_EVERY = 4


def fleet_id(database_url: str) -> str:
    """One fleet: the processes of one database. Another fleet on the same Redis is apart."""
    return hashlib.sha256(database_url.encode()).hexdigest()[:16]


def reload_channel(config: Config) -> str:
    return f"{RELOAD_CHANNEL}:{fleet_id(config.database_url)}"


def shares_store(config: Config) -> bool:
    """Whether other processes may write the same database."""
    return config.sqlite_path is None or bool(config.redis_url) or config.workers > 1


# Reloads --------------------------------------------------------------------------------


async def reload_runtime(app: web.Application) -> None:
    """Re-read models, index and data files; the old ones serve until the new are ready."""
    holder = app[RUNTIME]
    if holder.runtime is None and holder.error is None:
        # The files may have changed since this load began (a worker that was restarted
        # just before a `frontdesk reload`): reload once it is done.
        log.info("reload asked while the models load; reloading when they are ready")
        await holder.ready.wait()
    try:
        seconds = await holder.get().reload()
    except Exception:
        log.exception("reload failed; still serving the previous models")
    else:
        log.info("reloaded models, index and data files in %.1fs", seconds)


async def announce_reload(config: Config) -> int:
    """Ask every process of the fleet to reload, through Redis; how many heard it.

    Raises ConnectionError-like errors from redis when it cannot be reached."""
    from redis.asyncio import Redis

    client = Redis.from_url(config.redis_url)
    try:
        return int(await client.publish(reload_channel(config), "reload"))
    finally:
        await client.aclose()


async def fleet_reloads(app: web.Application) -> AsyncIterator[None]:
    """Listen for fleet-wide reloads (cleanup context; nothing to do without Redis)."""
    client = app[REDIS]
    if client is None:
        yield
        return
    pubsub = client.pubsub()
    await pubsub.subscribe(reload_channel(app[CONFIG]))
    pending: set[asyncio.Task[None]] = set()

    async def listen() -> None:
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except Exception as exc:
                log.warning("fleet reload channel failed (%s); listening again in 1 s", exc)
                await asyncio.sleep(1.0)
                continue
            if message is not None:
                log.info("reload announced to the fleet")
                task = asyncio.get_running_loop().create_task(reload_runtime(app))
                pending.add(task)
                task.add_done_callback(pending.discard)

    listener = asyncio.get_running_loop().create_task(listen())
    yield
    listener.cancel()
    for task in (listener, *pending):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with contextlib.suppress(Exception):
        await pubsub.aclose()


# Saved answers --------------------------------------------------------------------------


@dataclass
class AnswerSync:
    """Brings this process's index up to the ``saved_answers`` table."""

    engine: AsyncEngine
    holder: RuntimeHolder
    cursor: int = 0  # the highest saved_answers id applied
    applied: set[str] = field(default_factory=set)  # qa ids this sync put in the index
    # When the index was read from disk (Runtime.loaded_at); a time, not the Loaded itself,
    # which would keep the models a reload replaced alive.
    loaded_at: float | None = None
    rounds: int = 0

    async def sync(self) -> int:
        """One round; returns how many pairs were added or removed."""
        runtime = self.holder.runtime
        if runtime is None or runtime.index is None:
            return 0
        index = runtime.index
        if runtime.loaded_at != self.loaded_at:
            # A reload read the index from disk again: apply the table from the start.
            self.loaded_at = runtime.loaded_at
            self.cursor = 0
            self.applied = set()
        async with self.engine.connect() as conn:
            rows = list(
                await conn.execute(
                    select(saved_answers)
                    .where(saved_answers.c.id > self.cursor)
                    .order_by(saved_answers.c.id)
                )
            )
            self.rounds += 1
            live: set[str] | None = None
            if self.applied and self.rounds % REMOVAL_CHECK_EVERY == 0:
                live = set((await conn.execute(select(saved_answers.c.qa_id))).scalars())
        newest: dict[str, QAPair] = {}
        for row in rows:
            newest[row.qa_id] = QAPair(row.qa_id, row.question, row.answer, row.intent)
        if rows:
            self.cursor = max(row.id for row in rows)
        changed = [pair for pair in newest.values() if index.get(pair.id) != pair]
        gone = sorted(self.applied - live) if live is not None else []
        if changed or gone:
            loop = asyncio.get_running_loop()

            def apply() -> None:
                # The model thread encodes the questions, as for an answer saved here.
                if changed:
                    index.add(changed)
                if gone:
                    index.remove(gone)

            await loop.run_in_executor(runtime.executor, apply)
            log.info(
                "saved answers from the fleet: %d added or changed, %d removed",
                len(changed),
                len(gone),
            )
        self.applied |= newest.keys()
        self.applied -= set(gone)
        return len(changed) + len(gone)


async def answer_sync(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: follow the fleet's saved answers (only where the store is shared)."""
    config = app[CONFIG]
    if not shares_store(config):
        yield
        return
    sync = AnswerSync(app[STORE].engine, app[RUNTIME])

    async def run() -> None:
        while True:
            try:
                await sync.sync()
            except Exception as exc:
                log.warning("reading the fleet's saved answers failed: %s", exc)
            await asyncio.sleep(ANSWER_SYNC_S)

    task = asyncio.get_running_loop().create_task(run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
