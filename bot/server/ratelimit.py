"""Per-sender and per-IP rate limits (a token bucket per key, refilled continuously), the
sign-in lock (:class:`FailureLock`: wrong passwords in a row lock an account or address), and
:func:`client_address`, the one answer to "which address is this request from?".

In one process the buckets live in memory. With ``redis_url`` set, every process takes its
tokens from the same buckets in Redis, so N processes together still allow the limit once,
not N times. If Redis stops answering, each process falls back to its own buckets until it
is back: the limits loosen for a while, but the chat never fails or waits on them.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
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


@dataclass(slots=True)
class _Failures:
    count: int = 0
    pending: int = 0
    locks: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class FailureLock:
    """Locks a key (an account, an address) after ``max_failures`` wrong attempts in a row.

    The first lock lasts ``lock_s``; each further lock of the same key doubles, up to
    ``max_lock_s`` (the backoff). A success, or ``forget_after`` seconds without a failure once
    unlocked, clears the key. Attempts still being checked count as failures until they end,
    so concurrent guesses get no more tries than sequential ones. ``max_failures == 0`` turns
    the lock off. The state lives in this process's memory.
    """

    forget_after = 15 * 60.0
    max_lock_s = 3600.0

    def __init__(self, max_failures: int, lock_s: float, *, max_keys: int = 100_000) -> None:
        self.max_failures = max_failures
        self.lock_s = lock_s
        self._keys: OrderedDict[str, _Failures] = OrderedDict()
        self._max_keys = max_keys

    def _get(self, key: str, now: float) -> _Failures | None:
        state = self._keys.get(key)
        if (
            state is not None
            and not state.pending
            and now - max(state.last, state.locked_until) > self.forget_after
        ):
            del self._keys[key]
            return None
        return state

    def _evict(self, now: float) -> None:
        """Forget the least recently seen key that holds no lock and no attempt in flight.

        A locked key is never the one forgotten: otherwise a flood of throwaway usernames
        would wipe a victim's lock and its backoff. Only when locked keys alone fill twice
        the room does the oldest go regardless, so memory stays bounded.
        """
        for scanned, (key, state) in enumerate(self._keys.items()):
            if scanned >= 1024:
                break
            if state.locked_until <= now and not state.pending:
                del self._keys[key]
                return
        if len(self._keys) > 2 * self._max_keys:
            self._keys.popitem(last=False)

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` may try again; 0 when it is not locked."""
        if self.max_failures <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        state = self._get(key, now)
        return max(0.0, state.locked_until - now) if state is not None else 0.0

    def begin(self, key: str, now: float | None = None) -> float:
        """Start an attempt: 0 when it may go ahead (call :meth:`end` after), else the
        seconds to wait."""
        if self.max_failures <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        state = self._get(key, now)
        if state is None:
            state = self._keys[key] = _Failures(last=now)
            if len(self._keys) > self._max_keys:
                self._evict(now)
        else:
            self._keys.move_to_end(key)
        if state.locked_until > now:
            return state.locked_until - now
        if state.count + state.pending >= self.max_failures:
            # The remaining tries are being checked right now: ask again in a moment.
            return 1.0
        state.pending += 1
        return 0.0

    def end(self, key: str, ok: bool, now: float | None = None, *, forgive: bool = True) -> float:
        """Finish an attempt :meth:`begin` allowed; returns the seconds of a lock it starts.

        A success clears the key's failures when ``forgive`` (an account), and does not
        otherwise (an address: one good password must not buy an attacker fresh guesses).
        """
        if self.max_failures <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Failures(pending=1, last=now)
        state.pending = max(0, state.pending - 1)
        if ok and not forgive:
            return 0.0
        if ok:
            state.count = 0
            state.locks = 0
            if not state.pending:
                del self._keys[key]
            return 0.0
        state.count += 1
        state.last = now
        if state.count < self.max_failures:
            return 0.0
        seconds = min(self.max_lock_s, self.lock_s * 2**state.locks)
        state.count = 0
        state.locks += 1
        state.locked_until = now + seconds
        return seconds


# The client's address ---------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=16)
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse_ip(text: str) -> IPAddress | None:
    """An address as a peer or an X-Forwarded-For hop writes it; None when it is not one.

    Some proxies add the port ("203.0.113.7:5120", "[2001:db8::1]:443"); IPv4 peers of a
    dual-stack socket arrive mapped ("::ffff:203.0.113.7") and are compared as IPv4.
    """
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def client_address(request: web.Request) -> str:
    """The address of the client behind ``request``, for limits and locks keyed by address.

    The socket's peer, unless the peer is one of ``trusted_proxies``: then X-Forwarded-For is
    read from the right (each proxy appends the address it got the request from) and the
    first hop that is not a trusted proxy is the client. Hops further left were written by
    the client itself and prove nothing; a header from an untrusted peer is ignored entirely,
    so nobody can pick their own rate-limit bucket by sending one.
    """
    # Imported here: appkeys imports this module for its Limits.
    from bot.server.appkeys import CONFIG

    peer_text = request.remote or "-"
    networks = _networks(request.app[CONFIG].trusted_proxies)
    peer = _parse_ip(peer_text)
    if peer is None or not networks or not _trusted(peer, networks):
        return str(peer) if peer is not None else peer_text
    hops = [
        hop for header in request.headers.getall("X-Forwarded-For", ()) for hop in header.split(",")
    ]
    client = peer
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:
            # Garbage written by a hop we trust to be a proxy: nothing left of it is reliable,
            # so the nearest address known good is the client.
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)


def address_key(address: str) -> str:
    """What limits and locks count by: the address, or for IPv6 its /64 network.

    One subscriber usually holds a whole /64 and may use any address in it, so counting
    IPv6 addresses one by one would give one attacker 2**64 fresh budgets.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6 and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address
