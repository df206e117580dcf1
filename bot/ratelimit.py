"""Per-sender and per-IP rate limits: a token bucket per key, refilled continuously.

In one process this lives in memory; several processes share limits through Redis (see
DESIGN.md), which this module's interface leaves room for.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_minute`` messages a minute per key, with bursts of up to ``per_minute``.

    ``per_minute == 0`` turns the limit off.
    """

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max_keys = max_keys

    def check(self, key: str, now: float | None = None) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is free."""
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
