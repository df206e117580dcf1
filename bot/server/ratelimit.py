"""Per-sender and per-IP rate limits: a token bucket per key, refilled continuously.

In one process the buckets live in memory. With ``redis_url`` set, every process takes its
tokens from the same buckets in Redis, so N processes together still allow the limit once,
not N times. If Redis stops answering, each process falls back to its own buckets until it
is back: the limits loosen for a while, but the chat never fails or waits on them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

log = logging.getLogger(__name__)

KEY_PREFIX = "frontdesk:rate:"

# One script, so reading, refilling and taking a token is atomic across processes. The time
# comes from Redis, not the caller: processes whose clocks disagree still see one bucket.
# KEYS[1]: the bucket. ARGV[1]: the limit a minute, which is also the bucket's size.
# Returns the seconds to wait as a string: Redis would truncate a Lua number to an integer.
_TOKEN_BUCKET = """
-- Redis before 5 refuses writes after TIME unless the script replicates its effects.
if redis.replicate_commands then redis.replicate_commands() end
local capacity = tonumber(ARGV[1])
local rate = capacity / 60
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = capacity
else
  tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'updated', string.format('%.6f', now))
-- A key left alone until its bucket is full again is the same as no key: let Redis drop it.
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000))
return string.format('%.17g', wait)
"""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_minute`` messages a minute per key, with bursts of up to ``per_minute``.

    ``per_minute == 0`` turns the limit off. ``name`` keeps the Redis keys of limiters that
    may see the same key (an address, a sender) apart.
    """

    # Seconds a Redis call may take before this request is limited locally instead.
    redis_timeout = 0.5
    # After a failure, requests go straight to the local buckets this long: a Redis that
    # hangs would otherwise cost every message the whole timeout.
    redis_retry_after = 5.0
    # Seconds between two warnings about the same outage: one per request would flood the log.
    warn_every = 60.0

    def __init__(self, per_minute: int, *, name: str = "default", max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self.name = name
        self._rate = per_minute / 60.0
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max_keys = max_keys
        self._redis: Redis | None = None
        self._script: AsyncScript | None = None
        self._redis_down_until = 0.0
        self._last_warning: float | None = None

    def use_redis(self, client: Redis | None) -> None:
        """Share the buckets through ``client`` from now on; ``None`` goes back to memory."""
        self._redis = client
        self._script = None if client is None else client.register_script(_TOKEN_BUCKET)
        self._redis_down_until = 0.0

    def redis_key(self, key: str) -> str:
        return f"{KEY_PREFIX}{self.name}:{key}"

    async def check(self, key: str) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is free."""
        if self.per_minute <= 0:
            return 0.0
        script = self._script
        if script is None or time.monotonic() < self._redis_down_until:
            return self.check_local(key)
        try:
            async with asyncio.timeout(self.redis_timeout):
                wait = await script(keys=[self.redis_key(key)], args=[self.per_minute])
        except (RedisError, OSError, TimeoutError) as exc:
            self._redis_failed(exc)
            return self.check_local(key)
        return float(wait)

    def check_local(self, key: str, now: float | None = None) -> float:
        """``check`` on this process's own buckets; ``now`` (monotonic seconds) is for tests."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.per_minute), now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(
                self.per_minute, bucket.tokens + (now - bucket.updated) * self._rate
            )
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self._rate

    def _redis_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._redis_down_until = now + self.redis_retry_after
        if self._last_warning is None or now - self._last_warning >= self.warn_every:
            self._last_warning = now
            log.warning(
                "rate limit %r: Redis did not answer (%s: %s); limiting in this process only "
                "until it does, so each process allows the full limit. Check that Redis at "
                "redis_url is up and reachable",
                self.name,
                type(exc).__name__,
                str(exc) or f"no answer within {self.redis_timeout} s",
            )


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
