"""Which server process evaluates the alert rules for the fleet.

Every process reads every stored sentiment event into its windows (so its gauges and the
dashboard agree with the others, and a successor has nothing to rebuild), but only the leader
evaluates the rules and writes what they decide. One evaluation sees all of the traffic, so a
surge needs as many messages to be found with four processes as with one, and an alert is
raised, updated and resolved once.

The lease is a well-kept primitive of what the fleet already shares:

* Redis (``redis_url``): ``SET key token NX PX ttl``, renewed by a compare-and-extend script;
  a leader that stops renewing (crashed, partitioned) loses it after the ttl.
* PostgreSQL without Redis: a session advisory lock on a connection held for the purpose; the
  server drops it with the connection when the process dies.
* SQLite without Redis: one process serves (``serve --workers`` refuses more), and it leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import uuid
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

LEASE_KEY = "frontdesk:ops:leader"
LEASE_TTL_MS = 5000
# hashtext() of this names the advisory lock; any 64-bit number would do, a name reads better.
ADVISORY_NAME = "frontdesk-ops-leader"

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class Leadership(Protocol):
    shared: bool  # False: this process is the only one (no need to read others' events)

    async def hold(self) -> bool:
        """Take or keep the lease; whether this process leads now. Never raises: a lease
        that cannot be checked is not held."""

    async def release(self) -> None: ...


class SoleLeader:
    shared = False

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RedisLease:
    shared = True

    def __init__(self, client: Redis, *, key: str = LEASE_KEY, ttl_ms: int = LEASE_TTL_MS) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = f"{os.getpid()}:{uuid.uuid4().hex}"
        self.held = False

    async def hold(self) -> bool:
        try:
            async with asyncio.timeout(self.ttl_ms / 2000):
                if self.held:
                    renewed = await self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms)
                    self.held = bool(renewed)
                if not self.held:
                    taken = await self.client.set(self.key, self.token, nx=True, px=self.ttl_ms)
                    self.held = bool(taken)
        except Exception as exc:
            if self.held:
                log.warning("lost the alert lease: Redis did not answer (%s)", exc)
            self.held = False
        return self.held

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                await self.client.eval(
                    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                    "return redis.call('DEL', KEYS[1]) end return 0",
                    1,
                    self.key,
                    self.token,
                )


class PostgresLock:
    shared = True

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.conn: AsyncConnection | None = None

    async def hold(self) -> bool:
        try:
            if self.conn is not None:
                # Still ours while the session lives; a dropped connection raises here.
                await self.conn.execute(text("SELECT 1"))
                await self.conn.commit()
                return True
            conn = await self.engine.connect()
            try:
                got = await conn.scalar(
                    text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": ADVISORY_NAME}
                )
                await conn.commit()
            except BaseException:
                await conn.close()
                raise
            if got:
                self.conn = conn
                return True
            await conn.close()
        except Exception as exc:
            if self.conn is not None:
                log.warning("lost the alert lock: PostgreSQL connection failed (%s)", exc)
                with contextlib.suppress(Exception):
                    await self.conn.invalidate()
                self.conn = None
        return False

    async def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.execute(
                    text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": ADVISORY_NAME}
                )
                await conn.commit()
            with contextlib.suppress(Exception):
                await conn.close()


def leadership_for(engine: AsyncEngine, redis: Redis | None) -> Leadership:
    if redis is not None:
        # One fleet is the processes of one database; another sharing the Redis leads its own.
        fleet = hashlib.sha256(engine.url.render_as_string().encode()).hexdigest()[:16]
        return RedisLease(redis, key=f"{LEASE_KEY}:{fleet}")
    if engine.dialect.name == "postgresql":
        return PostgresLock(engine)
    return SoleLeader()
