"""Per-conversation locks: turns of one conversation are processed one at a time, in order.

In one process an asyncio lock per conversation is enough. Several processes behind a load
balancer share a Redis lock as well, so two processes never answer the same conversation at
once; the local lock stays in front of it so that one process queues its own requests
without polling Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from typing import Any

LOCK_TIMEOUT_S = 60.0
"""A Redis lock outlives a crashed holder by at most this long."""


class ConversationLocks:
    def __init__(self, redis: Any | None = None, *, prefix: str = "frontdesk:lock:") -> None:
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._redis = redis
        self._prefix = prefix

    def _local_lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._local.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._local[conversation_id] = lock
        return lock

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        async with self._local_lock(conversation_id):
            if self._redis is None:
                yield
                return
            shared = self._redis.lock(
                self._prefix + conversation_id,
                timeout=LOCK_TIMEOUT_S,
                blocking_timeout=LOCK_TIMEOUT_S,
            )
            if not await shared.acquire():
                raise TimeoutError(
                    f"conversation {conversation_id} stayed locked by another process"
                )
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    # An expired lock was already released; nothing to undo.
                    await shared.release()
