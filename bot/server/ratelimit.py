"""Limits that hold across a fleet of server processes, and :func:`client_address`, the one
answer to "which address is this request from?".

- :class:`RateLimiter`: messages a minute per sender or address (a token bucket per key,
  refilled continuously).
- :class:`FailureLock`: the sign-in lock (wrong passwords in a row lock an account or address).
- :class:`OpenCounts`: how many of something (widget sockets) are open per key, under a cap.

In one process each keeps its state in memory. With ``redis_url`` set, every process keeps it
in the same Redis keys, changed only by Lua scripts (atomic across processes, and on Redis's
clock, so processes whose clocks disagree still agree on a lock), so N processes together
still allow each limit once, not N times. Every key expires once it means nothing any more. If
Redis stops answering, each process falls back to its own memory for a few seconds at a time
and logs a warning: the limits loosen for a while, but nobody waits on Redis or gets an error
because of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import logging
import math
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

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

# What the other scripts start with: Redis's clock in seconds, and times written out in full
# (Lua would print a Unix time in microseconds with too few digits).
_PRELUDE = """
if redis.replicate_commands then redis.replicate_commands() end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fixed(seconds) return string.format('%.6f', seconds) end
local now = clock()
"""

# The sign-in lock of one key is one hash: count, locks, locked_until, last (Unix seconds),
# and a field p:<attempt> per attempt in flight, holding when it stops counting. The attempts
# live in the same key so that no username can name another key's data; there are at most
# max_failures of them, so reading them all is cheap.
_FAILURES = (
    _PRELUDE
    + """
local function load(key)
  local flat = redis.call('HGETALL', key)
  local s = {count = 0, locks = 0, locked_until = 0, last = 0, pending = {}, attempts = 0}
  local ended = {}
  for i = 1, #flat, 2 do
    local field, value = flat[i], tonumber(flat[i + 1])
    if string.sub(field, 1, 2) == 'p:' then
      if value > now then
        s.pending[field] = value
        s.attempts = s.attempts + 1
      else
        table.insert(ended, field)
      end
    else
      s[field] = value
    end
  end
  if #ended > 0 then redis.call('HDEL', key, unpack(ended)) end
  return s
end

-- The key lasts while an attempt is in flight, and forget_after seconds past its last failure
-- or lock; after that it is the same as no key, so Redis drops it.
local function save(key, s, forget)
  local keep_until = 0
  if s.count > 0 or s.locks > 0 or s.locked_until > now then
    keep_until = math.max(s.last, s.locked_until) + forget
  end
  for _, ends in pairs(s.pending) do keep_until = math.max(keep_until, ends) end
  if keep_until <= now then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'count', s.count, 'locks', s.locks,
             'locked_until', fixed(s.locked_until), 'last', fixed(s.last))
  redis.call('PEXPIREAT', key, math.ceil(keep_until * 1000))
end
"""
)

# KEYS[1]: the lock. ARGV: max_failures, the attempt's id, attempt_ttl, forget_after.
# Returns the seconds to wait, "0" when the attempt may go ahead (and now counts as in flight).
_BEGIN_ATTEMPT = (
    _FAILURES
    + """
local s = load(KEYS[1])
if s.locked_until > now then return string.format('%.17g', s.locked_until - now) end
-- The remaining tries are being checked right now: ask again in a moment.
if s.count + s.attempts >= tonumber(ARGV[1]) then return '1' end
local field = 'p:' .. ARGV[2]
s.pending[field] = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], field, fixed(s.pending[field]))
save(KEYS[1], s, tonumber(ARGV[4]))
return '0'
"""
)

# KEYS[1]: the lock. ARGV: the outcome (fail, clear, or keep: counted neither way), the
# attempt's id, max_failures, lock_s, max_lock_s, forget_after. Returns the seconds of a lock
# this failure starts, "0" for none.
_END_ATTEMPT = (
    _FAILURES
    + """
local s = load(KEYS[1])
local field = 'p:' .. ARGV[2]
if s.pending[field] then
  s.pending[field] = nil
  redis.call('HDEL', KEYS[1], field)
end
local seconds = 0
if ARGV[1] == 'clear' then
  s.count = 0
  s.locks = 0
elseif ARGV[1] == 'fail' then
  s.count = s.count + 1
  s.last = now
  if s.count >= tonumber(ARGV[3]) then
    seconds = math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ s.locks)
    s.count = 0
    s.locks = s.locks + 1
    s.locked_until = now + seconds
  end
end
save(KEYS[1], s, tonumber(ARGV[6]))
return string.format('%.17g', seconds)
"""
)

# Open counts: a sorted set per key, one member per open thing, scored with when it expires.
# The set itself expires with its last member, so a key nobody holds any more disappears.
_ENTRIES = (
    _PRELUDE
    + """
local function expire_with_last(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', key, math.ceil(tonumber(last[2]) * 1000)) end
end
"""
)

# KEYS[1]: the set. ARGV: the entry, the cap, entry_ttl. Returns {taken (1 or 0), how many
# were open before}.
_TAKE = (
    _ENTRIES
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fixed(now))
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[2]) then return {0, open} end
redis.call('ZADD', KEYS[1], fixed(now + tonumber(ARGV[3])), ARGV[1])
expire_with_last(KEYS[1])
return {1, open}
"""
)

# KEYS: the set of each entry. ARGV: entry_ttl, then the entries. XX: an entry already
# removed (closed, or pruned after a long outage) is not brought back.
_REFRESH = (
    _ENTRIES
    + """
local ends = fixed(now + tonumber(ARGV[1]))
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', ends, ARGV[i + 1])
  expire_with_last(key)
end
return 0
"""
)

# KEYS[1]: the set. ARGV[1]: the entry.
_RELEASE = "return redis.call('ZREM', KEYS[1], ARGV[1])"


class _UseMemory(Exception):
    """Redis is off, resting after a failure, or just failed: answer from this process."""


class _SharedInRedis:
    """What every limit shared through Redis has: its scripts and keys, and how it degrades."""

    # Seconds a Redis call may take before this request is limited locally instead.
    redis_timeout = 0.5
    # After a failure, calls go straight to memory this long: a Redis that hangs would
    # otherwise cost every request the whole timeout.
    redis_retry_after = 5.0
    # Seconds between two warnings about the same outage: one per request would flood the log.
    warn_every = 60.0
    # How the outage warning names this kind of limit, and what falling back means for it.
    kind = "rate limit"
    fallback = "limiting in this process only until it does, so each process allows the full limit"
    # The Lua scripts this limit runs, registered with each client it is given.
    _SOURCES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str) -> None:
        self.name = name
        self._redis: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._redis_down_until = 0.0
        self._last_warning: float | None = None

    @property
    def redis(self) -> Redis | None:
        return self._redis

    def use_redis(self, client: Redis | None) -> None:
        """Share the state through ``client`` from now on; ``None`` goes back to memory."""
        self._redis = client
        self._scripts = {}
        if client is not None:
            self._scripts = {source: client.register_script(source) for source in self._SOURCES}
        self._redis_down_until = 0.0

    def redis_key(self, key: str) -> str:
        return f"{KEY_PREFIX}{self.name}:{key}"

    async def _run(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """The script's answer; _UseMemory when Redis is not to be asked or does not answer."""
        script = self._scripts.get(source)
        if script is None or time.monotonic() < self._redis_down_until:
            raise _UseMemory
        try:
            async with asyncio.timeout(self.redis_timeout):
                return await script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            self._redis_failed(exc)
            raise _UseMemory from exc

    def _redis_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._redis_down_until = now + self.redis_retry_after
        if self._last_warning is None or now - self._last_warning >= self.warn_every:
            self._last_warning = now
            log.warning(
                "%s %r: Redis did not answer (%s: %s); %s. Check that Redis at redis_url is up "
                "and reachable",
                self.kind,
                self.name,
                type(exc).__name__,
                str(exc) or f"no answer within {self.redis_timeout} s",
                self.fallback,
            )


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter(_SharedInRedis):
    """``per_minute`` messages a minute per key, with bursts of up to ``per_minute``.

    ``per_minute == 0`` turns the limit off. ``name`` keeps the Redis keys of limiters that
    may see the same key (an address, a sender) apart.
    """

    _SOURCES = (_TOKEN_BUCKET,)

    def __init__(self, per_minute: int, *, name: str = "default", max_keys: int = 100_000) -> None:
        super().__init__(name)
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max_keys = max_keys

    async def check(self, key: str) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is free."""
        if self.per_minute <= 0:
            return 0.0
        try:
            wait = await self._run(_TOKEN_BUCKET, [self.redis_key(key)], [self.per_minute])
        except _UseMemory:
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


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


# The sign-in lock --------------------------------------------------------------------------


@dataclass(slots=True)
class _Failures:
    count: int = 0
    pending: int = 0
    locks: int = 0
    locked_until: float = 0.0
    last: float = 0.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try under a :class:`FailureLock`: it may go ahead when ``wait`` is 0, else it is
    refused for ``wait`` seconds (and needs no :meth:`FailureLock.finish`)."""

    key: str
    wait: float = 0.0
    # Its field among the attempts in flight in Redis; None when this process counts it.
    shared_id: str | None = None


class FailureLock(_SharedInRedis):
    """Locks a key (an account, an address) after ``max_failures`` wrong attempts in a row.

    The first lock lasts ``lock_s``; each further lock of the same key doubles, up to
    ``max_lock_s`` (the backoff). A success, or ``forget_after`` seconds without a failure once
    unlocked, clears the key. Attempts still being checked count as failures until they end,
    so concurrent guesses get no more tries than sequential ones. ``max_failures == 0`` turns
    the lock off.

    :meth:`start` and :meth:`finish` keep the state in Redis once :meth:`use_redis` gave a
    client, so the lock holds across every process; :meth:`begin`, :meth:`end` and
    :meth:`wait` are the same lock in this process's memory, which is also where attempts go
    while Redis does not answer.
    """

    forget_after = 15 * 60.0
    max_lock_s = 3600.0
    # Seconds an attempt counts as in flight in Redis unless it ends sooner: longer than any
    # sign-in takes, and the bound on what a process that died mid-check leaves behind.
    attempt_ttl = 60.0
    kind = "sign-in lock"
    fallback = (
        "counting wrong passwords in this process only until it does, so each process allows "
        "the full number of tries"
    )
    _SOURCES = (_BEGIN_ATTEMPT, _END_ATTEMPT)

    def __init__(
        self, max_failures: int, lock_s: float, *, name: str = "default", max_keys: int = 100_000
    ) -> None:
        super().__init__(name)
        self.max_failures = max_failures
        self.lock_s = lock_s
        self._keys: OrderedDict[str, _Failures] = OrderedDict()
        self._max_keys = max_keys

    async def start(self, key: str) -> Attempt:
        """Start an attempt: it goes ahead when its ``wait`` is 0 (then :meth:`finish` it)."""
        if self.max_failures <= 0:
            return Attempt(key)
        attempt_id = secrets.token_hex(8)
        args = [self.max_failures, attempt_id, self.attempt_ttl, self.forget_after]
        try:
            wait = float(await self._run(_BEGIN_ATTEMPT, [self.redis_key(key)], args))
        except _UseMemory:
            return Attempt(key, self.begin(key))
        return Attempt(key, wait, None if wait else attempt_id)

    async def finish(self, attempt: Attempt, ok: bool, *, forgive: bool = True) -> float:
        """End an attempt :meth:`start` let go ahead, as :meth:`end` does; returns the seconds
        of a lock it starts."""
        if self.max_failures <= 0 or attempt.wait:
            return 0.0
        if attempt.shared_id is None:
            return self.end(attempt.key, ok, forgive=forgive)
        outcome = ("clear" if forgive else "keep") if ok else "fail"
        args = [
            outcome,
            attempt.shared_id,
            self.max_failures,
            self.lock_s,
            self.max_lock_s,
            self.forget_after,
        ]
        try:
            return float(await self._run(_END_ATTEMPT, [self.redis_key(attempt.key)], args))
        except _UseMemory:
            # Started in Redis, ended here: a wrong password still counts, in this process.
            return self.end(attempt.key, ok, forgive=forgive)

    async def hand_back(self, attempt: Attempt) -> None:
        """End an attempt that got no answer (busy, cancelled): it counts neither way."""
        await self.finish(attempt, True, forgive=False)

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
        """Seconds until ``key`` may try again in this process; 0 when it is not locked."""
        if self.max_failures <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        state = self._get(key, now)
        return max(0.0, state.locked_until - now) if state is not None else 0.0

    def begin(self, key: str, now: float | None = None) -> float:
        """Start an attempt in this process: 0 when it may go ahead (call :meth:`end` after),
        else the seconds to wait."""
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


# Open counts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """What :meth:`OpenCounts.take` answered: ``taken``, or refused; either way ``open`` is
    how many the key held before."""

    key: str
    taken: bool
    open: int
    # Its entry in Redis; None when only this process counts it.
    entry: str | None = None


class OpenCounts(_SharedInRedis):
    """How many of something (widget sockets) are open per key, each take under a cap.

    With Redis each open one is an entry ``<process id>:<n>`` in a sorted set per key, scored
    with when it expires. The process holding it pushes that back every ``heartbeat_s`` while
    it stays open and removes it when it closes; the entries of a process that died expire
    within ``entry_ttl`` and are pruned at the next take. ``local`` always counts what this
    process holds, and is what the cap is checked against while Redis does not answer.
    """

    # Seconds an entry counts without a heartbeat: how long a dead process's sockets linger.
    entry_ttl = 60.0
    # Seconds between heartbeats: well under entry_ttl, so one late beat loses nothing.
    heartbeat_s = 15.0
    # Entries refreshed by one script call: one call for thousands of keys would hold Redis up.
    batch = 500
    kind = "open count"
    fallback = "counting in this process only until it does, so each process allows the full cap"
    _SOURCES = (_TAKE, _REFRESH, _RELEASE)

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.process_id = secrets.token_hex(8)
        self.local: Counter[str] = Counter()
        self._entries: dict[str, str] = {}  # entry -> the Redis key it is in
        self._numbers = itertools.count(1)
        self._heartbeat: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"OpenCounts({self.name!r}, local={dict(self.local)})"

    @contextlib.asynccontextmanager
    async def hold(self, key: str, cap: int) -> AsyncIterator[Place]:
        """:meth:`take` a place for ``key``, and :meth:`release` it on the way out."""
        place = await self.take(key, cap)
        try:
            yield place
        finally:
            await self.release(place)

    async def take(self, key: str, cap: int) -> Place:
        """A place for one more under ``key`` when fewer than ``cap`` are open, fleet-wide."""
        entry = f"{self.process_id}:{next(self._numbers)}"
        redis_key = self.redis_key(key)
        try:
            taken, open_before = await self._run(_TAKE, [redis_key], [entry, cap, self.entry_ttl])
        except _UseMemory:
            return self._take_local(key, cap)
        if not taken:
            return Place(key, False, int(open_before))
        self.local[key] += 1
        self._entries[entry] = redis_key
        self._beat_while_open()
        return Place(key, True, int(open_before), entry)

    def _take_local(self, key: str, cap: int) -> Place:
        held = self.local[key]
        if held >= cap:
            return Place(key, False, held)
        self.local[key] += 1
        return Place(key, True, held)

    async def release(self, place: Place) -> None:
        """Give back a place :meth:`take` gave (a refused one holds nothing)."""
        if not place.taken:
            return
        try:
            if place.entry is not None:
                await self._release_entry(place.entry)
        finally:
            # Only once the entry is gone, so that ``local`` never counts less than Redis.
            self.local[place.key] -= 1
            if self.local[place.key] <= 0:
                del self.local[place.key]

    async def _release_entry(self, entry: str) -> None:
        redis_key = self._entries.pop(entry)
        if not self._entries and self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        # Left behind when Redis does not answer: no heartbeat keeps it, so it expires.
        with contextlib.suppress(_UseMemory):
            await self._run(_RELEASE, [redis_key], [entry])

    async def refresh(self) -> None:
        """Push back the expiry of every entry this process holds in Redis: the heartbeat."""
        entries = list(self._entries.items())
        for start in range(0, len(entries), self.batch):
            chunk = entries[start : start + self.batch]
            keys = [redis_key for _, redis_key in chunk]
            with contextlib.suppress(_UseMemory):
                await self._run(_REFRESH, keys, [self.entry_ttl, *(e for e, _ in chunk)])

    def _beat_while_open(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        while self._entries:
            await asyncio.sleep(self.heartbeat_s)
            await self.refresh()


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
