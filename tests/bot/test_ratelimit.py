"""bot.ratelimit: a token bucket per key, refilled continuously; driven by ``now=``."""

from __future__ import annotations

import pytest

from bot.ratelimit import RateLimiter, retry_after_header


def test_rate_limiter_allows_60_messages_in_a_minute() -> None:
    limiter = RateLimiter(60)

    assert [limiter.check("alice", now=100.0) for _ in range(60)] == [0.0] * 60


def test_rate_limiter_refuses_the_61st_message_in_a_minute_with_seconds_to_wait() -> None:
    limiter = RateLimiter(60)
    for _ in range(60):
        limiter.check("alice", now=100.0)

    assert limiter.check("alice", now=100.0) == pytest.approx(1.0)


def test_the_wait_shrinks_as_the_bucket_refills() -> None:
    limiter = RateLimiter(60)
    for _ in range(60):
        limiter.check("alice", now=100.0)

    assert limiter.check("alice", now=100.25) == pytest.approx(0.75)


def test_one_message_is_allowed_again_after_its_share_of_a_minute() -> None:
    limiter = RateLimiter(60)
    for _ in range(60):
        limiter.check("alice", now=100.0)

    assert limiter.check("alice", now=101.0) == 0.0
    assert limiter.check("alice", now=101.0) > 0


def test_a_full_minute_of_quiet_refills_the_bucket_but_not_beyond_the_limit() -> None:
    limiter = RateLimiter(6)
    for _ in range(6):
        limiter.check("alice", now=0.0)

    results = [limiter.check("alice", now=3600.0) for _ in range(7)]

    assert results[:6] == [0.0] * 6
    assert results[6] == pytest.approx(10.0)


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(1)

    assert limiter.check("alice", now=0.0) == 0.0
    assert limiter.check("alice", now=0.0) > 0
    assert limiter.check("bob", now=0.0) == 0.0


def test_a_limit_of_zero_turns_limiting_off() -> None:
    limiter = RateLimiter(0)

    assert all(limiter.check("alice", now=0.0) == 0.0 for _ in range(10_000))


def test_retry_after_for_a_slow_limit_is_the_time_to_the_next_token() -> None:
    limiter = RateLimiter(2)  # one token every 30 s
    limiter.check("alice", now=0.0)
    limiter.check("alice", now=0.0)

    assert limiter.check("alice", now=0.0) == pytest.approx(30.0)
    assert limiter.check("alice", now=20.0) == pytest.approx(10.0)


def test_the_least_recently_used_key_is_forgotten_beyond_max_keys() -> None:
    limiter = RateLimiter(1, max_keys=2)
    limiter.check("a", now=0.0)
    limiter.check("b", now=0.0)
    limiter.check("a", now=0.0)  # a is used again, so b is now the oldest
    limiter.check("c", now=0.0)

    assert limiter.check("b", now=0.0) == 0.0  # forgotten, so a fresh bucket
    assert limiter.check("c", now=0.0) > 0  # still remembered and empty


def test_checking_without_now_uses_the_monotonic_clock() -> None:
    limiter = RateLimiter(1)

    assert limiter.check("alice") == 0.0
    assert limiter.check("alice") > 0


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (29.5, "30")]
)
def test_retry_after_header_is_whole_seconds_rounded_up_and_at_least_one(
    seconds: float, header: str
) -> None:
    assert retry_after_header(seconds) == header
