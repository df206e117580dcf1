"""Micro-batching: concurrent requests share one forward pass.

Each caller awaits its own result; a single consumer task collects whatever arrived within
``max_wait_s`` of the first item (up to ``max_size``) and runs the batch function once in a
worker thread, so the event loop never waits on a model.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class BatchStats:
    batches: int = 0
    items: int = 0
    last_batch_size: int = 0
    last_batch_seconds: float = 0.0


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        fn: Callable[[Sequence[T]], Sequence[R]],
        *,
        executor: Executor,
        max_size: int = 32,
        max_wait_s: float = 0.002,
        on_batch: Callable[[int, float], None] | None = None,
        upcoming: Callable[[], int] | None = None,
    ) -> None:
        self._fn = fn
        # How many callers are on their way to submit (None: unknown). When none are, the
        # batch goes at once: waiting max_wait_s for company that is not coming only adds
        # latency, which is all a lone request at concurrency 1 would get from it.
        self.upcoming = upcoming
        self._executor = executor
        self._max_size = max_size
        self._max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # The batch the consumer holds (collecting or running), so stop() can fail it too.
        self._batch: list[tuple[T, asyncio.Future[R]]] = []
        self.stats = BatchStats()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._consume())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        pending = self._batch
        self._batch = []
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for _, future in pending:
            if not future.done():
                future.set_exception(RuntimeError("the model worker stopped"))

    async def submit(self, item: T) -> R:
        return await self.enqueue(item)

    def enqueue(self, item: T) -> asyncio.Future[R]:
        """Queue ``item`` now, without yielding to the event loop; await the future."""
        if self._task is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return future

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._batch = []
            batch = self._batch
            batch.append(await self._queue.get())
            deadline = loop.time() + self._max_wait_s
            while len(batch) < self._max_size:
                if self.upcoming is not None and self._queue.empty() and self.upcoming() <= 0:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    # Take what is already waiting without sleeping again.
                    while len(batch) < self._max_size and not self._queue.empty():
                        batch.append(self._queue.get_nowait())
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            live = [(item, fut) for item, fut in batch if not fut.cancelled()]
            if not live:
                continue
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(
                    self._executor, self._fn, [item for item, _ in live]
                )
            except Exception as exc:  # a model failure fails this batch's callers, not the loop
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            if len(results) != len(live):
                error = RuntimeError(
                    f"the batch function returned {len(results)} results for {len(live)} items"
                )
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(error)
                continue
            elapsed = time.perf_counter() - started
            self.stats.batches += 1
            self.stats.items += len(live)
            self.stats.last_batch_size = len(live)
            self.stats.last_batch_seconds = elapsed
            if self._on_batch:
                self._on_batch(len(live), elapsed)
            for (_, fut), result in zip(live, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
