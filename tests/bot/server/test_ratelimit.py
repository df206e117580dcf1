"""bot.server.ratelimit: a token bucket per key, refilled continuously; the sign-in lock; the
open-place counts behind the widget socket caps.

In memory they are driven by ``now=``; shared through a real Redis (``redis_url`` fixture) they
run on Redis's clock, so those tests allow for the milliseconds that pass between calls. Two
instances of one name on one Redis play two processes of a fleet.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.server.app import create_app
from bot.server.appkeys import RUNTIME
from bot.server.ratelimit import (
    KEY_PREFIX,
    FailureLock,
    OpenCounts,
    RateLimiter,
    address_key,
    retry_after_header,
)
from tests.conftest import TinyModels, app_config

WEBHOOK = "/webhooks/rest/webhook"
CLOSED_PORT = "redis://127.0.0.1:1/0"


def unique(what: str) -> str:
    """A fresh name: Redis keeps buckets for up to a minute, across test runs too."""
    return f"{what}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[str], Redis]]:
    """Redis clients, one per process being played, closed after the test."""
    clients: list[Redis] = []

    def make(url: str) -> Redis:
        client = Redis.from_url(url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def test_rate_limiter_allows_60_messages_in_a_minute() -> None:
    limiter = RateLimiter(60)

    assert [limiter.check_local("alice", now=100.0) for _ in range(60)] == [0.0] * 60


def test_rate_limiter_refuses_the_61st_message_in_a_minute_with_seconds_to_wait() -> None:
    limiter = RateLimiter(60)
    for _ in range(60):
        limiter.check_local("alice", now=100.0)

    assert limiter.check_local("alice", now=100.0) == pytest.approx(1.0)


def test_the_wait_shrinks_as_the_bucket_refills() -> None:
    limiter = RateLimiter(60)
    for _ in range(60):
        limiter.check_local("alice", now=100.0)

    assert limiter.check_local("alice", now=100.25) == pytest.approx(0.75)


def test_one_message_is_allowed_again_after_its_share_of_a_minute() -> None:
    limiter = RateLimiter(60)
    for _ in range(60):
        limiter.check_local("alice", now=100.0)

    assert limiter.check_local("alice", now=101.0) == 0.0
    assert limiter.check_local("alice", now=101.0) > 0


def test_a_full_minute_of_quiet_refills_the_bucket_but_not_beyond_the_limit() -> None:
    limiter = RateLimiter(6)
    for _ in range(6):
        limiter.check_local("alice", now=0.0)

    results = [limiter.check_local("alice", now=3600.0) for _ in range(7)]

    assert results[:6] == [0.0] * 6
    assert results[6] == pytest.approx(10.0)


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(1)

    assert limiter.check_local("alice", now=0.0) == 0.0
    assert limiter.check_local("alice", now=0.0) > 0
    assert limiter.check_local("bob", now=0.0) == 0.0


def test_a_limit_of_zero_turns_limiting_off() -> None:
    limiter = RateLimiter(0)

    assert all(limiter.check_local("alice", now=0.0) == 0.0 for _ in range(10_000))


def test_retry_after_for_a_slow_limit_is_the_time_to_the_next_token() -> None:
    limiter = RateLimiter(2)  # one token every 30 s
    limiter.check_local("alice", now=0.0)
    limiter.check_local("alice", now=0.0)

    assert limiter.check_local("alice", now=0.0) == pytest.approx(30.0)
    assert limiter.check_local("alice", now=20.0) == pytest.approx(10.0)


def test_the_least_recently_used_key_is_forgotten_beyond_max_keys() -> None:
    limiter = RateLimiter(1, max_keys=2)
    limiter.check_local("a", now=0.0)
    limiter.check_local("b", now=0.0)
    limiter.check_local("a", now=0.0)  # a is used again, so b is now the oldest
    limiter.check_local("c", now=0.0)

    assert limiter.check_local("b", now=0.0) == 0.0  # forgotten, so a fresh bucket
    assert limiter.check_local("c", now=0.0) > 0  # still remembered and empty


def test_checking_without_now_uses_the_monotonic_clock() -> None:
    limiter = RateLimiter(1)

    assert limiter.check_local("alice") == 0.0
    assert limiter.check_local("alice") > 0


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (29.5, "30")]
)
def test_retry_after_header_is_whole_seconds_rounded_up_and_at_least_one(
    seconds: float, header: str
) -> None:
    assert retry_after_header(seconds) == header


async def test_without_redis_check_takes_from_this_process_s_buckets() -> None:
    limiter = RateLimiter(2)

    assert [await limiter.check("alice") for _ in range(2)] == [0.0, 0.0]
    assert await limiter.check("alice") == pytest.approx(30.0, abs=1.0)


async def test_two_processes_sharing_redis_allow_the_limit_once_between_them(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    name = unique("shared")
    first, second = RateLimiter(5, name=name), RateLimiter(5, name=name)
    first.use_redis(connect(redis_url))
    second.use_redis(connect(redis_url))

    waits = [await (first if i % 2 else second).check("alice") for i in range(10)]

    assert waits[:5] == [0.0] * 5
    assert all(wait > 0 for wait in waits[5:])
    # Each process on its own still has a full bucket: the refusals came from the shared one.
    assert first.check_local("alice") == 0.0


async def test_concurrent_checks_from_two_processes_never_overspend_the_shared_bucket(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    name = unique("race")
    limiters = [RateLimiter(7, name=name), RateLimiter(7, name=name)]
    for limiter in limiters:
        limiter.use_redis(connect(redis_url))

    waits = await asyncio.gather(*(limiters[i % 2].check("alice") for i in range(40)))

    assert waits.count(0.0) == 7


async def test_a_refusal_through_redis_says_how_long_until_the_next_token(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    limiter = RateLimiter(2, name=unique("wait"))  # one token every 30 s
    limiter.use_redis(connect(redis_url))
    await limiter.check("alice")
    await limiter.check("alice")

    assert await limiter.check("alice") == pytest.approx(30.0, abs=0.5)
    assert await limiter.check("bob") == 0.0


async def test_a_redis_bucket_expires_once_it_would_be_full_again(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    client = connect(redis_url)
    limiter = RateLimiter(60, name=unique("ttl"))  # one token a second
    limiter.use_redis(client)
    for _ in range(3):
        await limiter.check("alice")

    key = limiter.redis_key("alice")
    assert key.startswith(KEY_PREFIX)
    assert 2_000 < await client.pttl(key) <= 3_000


async def test_a_limit_of_zero_never_touches_redis(
    connect: Callable[[str], Redis], caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RateLimiter(0)
    limiter.use_redis(connect(CLOSED_PORT))

    assert [await limiter.check("alice") for _ in range(100)] == [0.0] * 100
    assert not caplog.records


async def test_with_redis_unreachable_the_limit_still_holds_in_this_process(
    connect: Callable[[str], Redis], caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RateLimiter(2)
    limiter.use_redis(connect(CLOSED_PORT))
    limiter.redis_retry_after = 0.0  # try Redis on every check: the warnings must still be few

    with caplog.at_level(logging.WARNING, logger="bot.server.ratelimit"):
        waits = [await limiter.check("alice") for _ in range(5)]

    assert waits[:2] == [0.0, 0.0]
    assert all(wait == pytest.approx(30.0, abs=1.0) for wait in waits[2:])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning per outage a minute, not one per message"
    assert "redis_url" in warnings[0].getMessage()


async def test_a_redis_that_never_answers_does_not_hold_up_the_chat(
    connect: Callable[[str], Redis], caplog: pytest.LogCaptureFixture
) -> None:
    async def accept_and_say_nothing(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await reader.read()  # until the client gives up and hangs up
        finally:
            writer.close()

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limiter = RateLimiter(1)
    limiter.redis_timeout = 0.2
    limiter.use_redis(connect(f"redis://127.0.0.1:{port}/0"))
    try:
        with caplog.at_level(logging.WARNING, logger="bot.server.ratelimit"):
            started = time.monotonic()
            first = await limiter.check("alice")
            first_took = time.monotonic() - started
            started = time.monotonic()
            second = await limiter.check("alice")
            second_took = time.monotonic() - started
    finally:
        server.close()
        await server.wait_closed()

    assert first == 0.0
    assert second > 0, "the local bucket still limits"
    assert first_took < 1.0
    assert second_took < 0.1, "right after a timeout, checks skip Redis instead of waiting again"
    assert len(caplog.records) == 1


async def test_two_app_instances_with_one_redis_answer_429_once_the_shared_limit_is_spent(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels, redis_url: str
) -> None:
    apps: list[TestClient] = []
    # Two processes of one deployment: one database (the fleet), one Redis.
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'fleet.sqlite3'}"
    for name in ("a", "b"):
        app = create_app(
            app_config(
                tmp_path / name,
                database_url=database_url,
                models_dir=tiny_models.models_dir,
                redis_url=redis_url,
                rate_limit_per_sender=3,  # a token every 20 s
            )
        )
        apps.append(await aiohttp_client(app))
        await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    sender = unique("ada")

    async def say(client: TestClient, text: str) -> Any:
        return await client.post(WEBHOOK, json={"sender": sender, "message": text})

    for i, text in enumerate(["hi", "hey", "hello"]):
        response = await say(apps[i % 2], text)
        assert response.status == 200, await response.text()
    refused = [await say(client, "thanks") for client in apps]

    assert [r.status for r in refused] == [429, 429]
    assert [r.headers["Retry-After"] for r in refused] == ["20", "20"]
    assert "the limit is 3 a minute" in (await refused[0].json())["error"]


async def test_two_deployments_sharing_a_redis_keep_their_message_limits_apart(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels, redis_url: str
) -> None:
    apps: list[TestClient] = []
    for name in ("shop", "other"):  # each with its own database: two deployments
        app = create_app(
            app_config(
                tmp_path / name,
                models_dir=tiny_models.models_dir,
                redis_url=redis_url,
                rate_limit_per_sender=1,
            )
        )
        apps.append(await aiohttp_client(app))
        await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    shop, other = apps
    message = {"sender": unique("ada"), "message": "hi"}

    assert (await shop.post(WEBHOOK, json=message)).status == 200
    assert (await shop.post(WEBHOOK, json=message)).status == 429

    assert (await other.post(WEBHOOK, json=message)).status == 200, "the same sender elsewhere"


def test_failure_lock_locks_after_five_then_doubles_and_forgets_on_success() -> None:
    from bot.server.ratelimit import FailureLock

    lock = FailureLock(5, 60.0)
    for second in range(5):
        assert lock.begin("ann", now=second) == 0
        lock.end("ann", False, now=second)
    assert lock.begin("ann", now=10) == pytest.approx(54.0)
    assert lock.begin("ann", now=65) == 0, "the lock has expired"
    lock.end("ann", False, now=65)
    for second in range(66, 70):
        assert lock.begin("ann", now=second) == 0
        lock.end("ann", False, now=second)
    assert lock.wait("ann", now=70) == pytest.approx(119.0), "the second lock is twice as long"
    assert lock.begin("ann", now=200) == 0
    lock.end("ann", True, now=200)
    assert lock.begin("ann", now=200) == 0, "a success clears the failures"


def test_failure_lock_counts_attempts_in_flight() -> None:
    from bot.server.ratelimit import FailureLock

    lock = FailureLock(3, 60.0)
    assert [lock.begin("ip", now=0) for _ in range(5)] == [0, 0, 0, 1.0, 1.0]


def test_limits_count_an_ipv6_address_by_its_64_and_an_ipv4_address_alone() -> None:

    assert address_key("2001:db8:1:2::7") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key("::ffff:203.0.113.9") == "::ffff:203.0.113.9"
    assert address_key("-") == "-"


def test_a_flood_of_new_keys_never_forgets_a_locked_account() -> None:
    lock = FailureLock(2, 60.0, max_keys=3)
    for _ in range(2):
        assert lock.begin("user:victim", now=0.0) == 0.0
        lock.end("user:victim", False, now=0.0)
    assert lock.wait("user:victim", now=1.0) == 59.0
    for i in range(50):  # throwaway usernames, each tried once and failed
        assert lock.begin(f"user:x{i}", now=1.0) == 0.0
        lock.end(f"user:x{i}", False, now=1.0)
    assert lock.wait("user:victim", now=2.0) == 58.0


# The sign-in lock shared through Redis: two FailureLocks of one name play two processes. --


def shared_locks(
    connect: Callable[[str], Redis], redis_url: str, max_failures: int, lock_s: float = 60.0
) -> tuple[FailureLock, FailureLock]:
    name = unique("signin")
    first, second = (
        FailureLock(max_failures, lock_s, name=name),
        FailureLock(max_failures, lock_s, name=name),
    )
    for lock in (first, second):
        lock.use_redis(connect(redis_url))
    return first, second


async def fail(lock: FailureLock, key: str) -> float:
    """One wrong password under ``lock``: the seconds of the lock it starts."""
    attempt = await lock.start(key)
    assert attempt.wait == 0, f"the attempt was refused for {attempt.wait} s"
    return await lock.finish(attempt, False)


async def test_an_account_locked_through_one_process_is_locked_in_the_other(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    first, second = shared_locks(connect, redis_url, 3)

    assert [await fail((first, second)[i % 2], "user:ann") for i in range(3)] == [0, 0, 60.0]

    for lock in (first, second):
        assert (await lock.start("user:ann")).wait == pytest.approx(60.0, abs=1.0)
    assert (await first.start("user:bob")).wait == 0, "another account is not locked"
    # Neither process saw three failures itself: the lock came from the shared one.
    assert first.wait("user:ann") == 0 and second.wait("user:ann") == 0


async def test_a_shared_lock_doubles_each_time_and_a_success_starts_over(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    first, second = shared_locks(connect, redis_url, 2, lock_s=0.2)

    assert [await fail(first, "user:ann"), await fail(second, "user:ann")] == [0, 0.2]
    await asyncio.sleep(0.25)
    assert [await fail(second, "user:ann"), await fail(first, "user:ann")] == [0, 0.4]
    await asyncio.sleep(0.45)
    success = await second.start("user:ann")
    assert await second.finish(success, True) == 0
    assert [await fail(first, "user:ann"), await fail(first, "user:ann")] == [0, 0.2]


async def test_a_success_does_not_clear_an_address_in_any_process(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    first, second = shared_locks(connect, redis_url, 2)
    assert await fail(first, "ip:203.0.113.9") == 0

    right = await second.start("ip:203.0.113.9")
    await second.finish(right, True, forgive=False)

    assert await fail(second, "ip:203.0.113.9") == 60.0


async def test_attempts_in_flight_in_one_process_count_as_failures_in_the_other(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    first, second = shared_locks(connect, redis_url, 3)
    checking = [await first.start("user:ann") for _ in range(3)]
    assert [attempt.wait for attempt in checking] == [0, 0, 0]

    assert (await second.start("user:ann")).wait == 1.0, "ask again in a moment"
    await first.hand_back(checking[0])  # no answer reached the caller: it counts neither way
    assert (await second.start("user:ann")).wait == 0


async def test_an_attempt_left_in_flight_by_a_process_that_died_stops_counting(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    died, alive = shared_locks(connect, redis_url, 1)
    died.attempt_ttl = 0.3
    assert (await died.start("user:ann")).wait == 0  # and the process never finishes it

    assert (await alive.start("user:ann")).wait == 1.0
    await asyncio.sleep(0.35)
    assert (await alive.start("user:ann")).wait == 0


async def test_a_shared_lock_key_lasts_until_it_would_be_forgotten_and_no_longer(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    client = connect(redis_url)
    lock = FailureLock(2, 60.0, name=unique("forget"))
    lock.use_redis(client)
    key = lock.redis_key("user:ann")
    assert key.startswith(KEY_PREFIX)

    await fail(lock, "user:ann")
    # Expiry times are rounded up to the millisecond, so a PTTL may read one over.
    assert 899_000 < await client.pttl(key) <= 900_001, "forget_after past the last failure"
    await fail(lock, "user:ann")
    assert 959_000 < await client.pttl(key) <= 960_001, "forget_after past the lock's end"

    right = await lock.start("user:bob")
    await lock.finish(right, True)
    assert not await client.exists(lock.redis_key("user:bob")), "a success leaves nothing"


async def test_with_redis_unreachable_the_sign_in_lock_still_holds_in_this_process(
    connect: Callable[[str], Redis], caplog: pytest.LogCaptureFixture
) -> None:
    lock = FailureLock(2, 60.0, name="unreachable")
    lock.use_redis(connect(CLOSED_PORT))
    lock.redis_retry_after = 0.0  # try Redis on every call: the warnings must still be few

    with caplog.at_level(logging.WARNING, logger="bot.server.ratelimit"):
        locks = [await fail(lock, "user:ann") for _ in range(2)]
        refused = await lock.start("user:ann")

    assert locks == [0, 60.0]
    assert refused.wait == pytest.approx(60.0, abs=1.0)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("sign-in lock 'unreachable': Redis did not answer")
    assert "each process allows the full number of tries" in warning
    assert "redis_url" in warning


# Open places shared through Redis: two OpenCounts of one name play two processes. ---------


def shared_counts(connect: Callable[[str], Redis], redis_url: str) -> tuple[OpenCounts, OpenCounts]:
    name = unique("open")
    first, second = OpenCounts(name), OpenCounts(name)
    for counts in (first, second):
        counts.use_redis(connect(redis_url))
    return first, second


async def test_two_processes_share_one_cap_of_open_places(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    first, second = shared_counts(connect, redis_url)
    held = [await first.take("203.0.113.9", 3), await first.take("203.0.113.9", 3)]
    held.append(await second.take("203.0.113.9", 3))
    assert [(place.taken, place.open) for place in held] == [(True, 0), (True, 1), (True, 2)]

    for counts in (first, second):
        refused = await counts.take("203.0.113.9", 3)
        assert (refused.taken, refused.open) == (False, 3)
    assert (await second.take("198.51.100.1", 3)).taken, "another key has its own cap"

    await first.release(held[0])
    assert (await second.take("203.0.113.9", 3)).taken
    assert first.local == {"203.0.113.9": 1}, "each process knows what it holds itself"


async def test_a_place_expires_once_its_process_stops_heartbeating(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    stopped, alive = shared_counts(connect, redis_url)
    # A process that took a place and then never beat again: frozen, or killed.
    stopped.entry_ttl = 0.3
    stopped.heartbeat_s = 3600.0
    assert (await stopped.take("203.0.113.9", 1)).taken

    assert not (await alive.take("203.0.113.9", 1)).taken
    await asyncio.sleep(0.35)
    place = await alive.take("203.0.113.9", 1)
    assert (place.taken, place.open) == (True, 0), "the stopped process's entry was pruned"


async def test_heartbeats_keep_an_open_place_counted_past_its_expiry(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    client = connect(redis_url)
    holder, other = shared_counts(connect, redis_url)
    holder.entry_ttl = 0.4
    holder.heartbeat_s = 0.1
    place = await holder.take("203.0.113.9", 1)

    await asyncio.sleep(1.0)
    assert not (await other.take("203.0.113.9", 1)).taken
    await holder.release(place)
    assert not await client.exists(holder.redis_key("203.0.113.9")), "the last one out"
    assert (await other.take("203.0.113.9", 1)).taken


async def test_a_set_of_open_places_expires_with_its_last_entry(
    redis_url: str, connect: Callable[[str], Redis]
) -> None:
    client = connect(redis_url)
    counts = OpenCounts(unique("expiry"))
    counts.use_redis(client)
    counts.heartbeat_s = 3600.0

    await counts.take("203.0.113.9", 5)

    key = counts.redis_key("203.0.113.9")
    assert key.startswith(KEY_PREFIX)
    assert 59_000 < await client.pttl(key) <= 60_001, "entry_ttl, rounded up to the millisecond"


async def test_with_redis_unreachable_open_places_are_capped_in_this_process(
    connect: Callable[[str], Redis], caplog: pytest.LogCaptureFixture
) -> None:
    counts = OpenCounts("unreachable")
    counts.use_redis(connect(CLOSED_PORT))
    counts.redis_retry_after = 0.0

    with caplog.at_level(logging.WARNING, logger="bot.server.ratelimit"):
        places = [await counts.take("203.0.113.9", 2) for _ in range(3)]
        await counts.release(places[0])
        again = await counts.take("203.0.113.9", 2)

    assert [place.taken for place in places] == [True, True, False]
    assert again.taken
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "redis_url" in warnings[0]
