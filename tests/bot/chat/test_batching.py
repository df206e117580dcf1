"""bot.chat.batching: concurrent submits share one call of the batch function, off the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.chat.batching import MicroBatcher

MakeBatcher = Callable[..., MicroBatcher[Any, Any]]


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-test")
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


class Recorder:
    """A batch function that doubles numbers and records the size of every batch."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.threads: set[str] = set()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.sizes.append(len(items))
        self.threads.add(threading.current_thread().name)
        return [item * 2 for item in items]


@pytest.fixture
async def make_batcher(executor: ThreadPoolExecutor) -> AsyncIterator[MakeBatcher]:
    made: list[MicroBatcher[Any, Any]] = []

    def make(fn: Callable[[Sequence[Any]], Sequence[Any]], **kwargs: Any) -> MicroBatcher[Any, Any]:
        batcher: MicroBatcher[Any, Any] = MicroBatcher(fn, executor=executor, **kwargs)
        batcher.start()
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        await batcher.stop()


async def test_concurrent_submits_share_one_batch(make_batcher: MakeBatcher) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, max_size=32, max_wait_s=0.05)

    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))

    assert results == [i * 2 for i in range(10)]
    assert recorder.sizes == [10]
    assert batcher.stats.batches == 1
    assert batcher.stats.items == 10
    assert batcher.stats.last_batch_size == 10


async def test_each_caller_gets_its_own_result_in_submission_order(
    make_batcher: MakeBatcher,
) -> None:
    batcher = make_batcher(lambda items: [f"r{i}" for i in items], max_wait_s=0.02)

    assert await asyncio.gather(batcher.submit(3), batcher.submit(1)) == ["r3", "r1"]


async def test_a_batch_never_exceeds_max_size(make_batcher: MakeBatcher) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, max_size=4, max_wait_s=0.05)

    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))

    assert results == [i * 2 for i in range(10)]
    assert max(recorder.sizes) <= 4
    assert sum(recorder.sizes) == 10
    assert recorder.sizes == [4, 4, 2]


async def test_the_batch_function_runs_in_the_executor_not_on_the_event_loop(
    make_batcher: MakeBatcher,
) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, max_wait_s=0.0)

    await batcher.submit(1)

    assert len(recorder.threads) == 1
    assert next(iter(recorder.threads)).startswith("batch-test")


async def test_on_batch_is_told_the_size_and_duration_of_each_batch(
    executor: ThreadPoolExecutor,
) -> None:
    seen: list[tuple[int, float]] = []
    batcher: MicroBatcher[int, int] = MicroBatcher(
        Recorder(), executor=executor, max_wait_s=0.02, on_batch=lambda n, s: seen.append((n, s))
    )
    batcher.start()
    try:
        await asyncio.gather(batcher.submit(1), batcher.submit(2))
    finally:
        await batcher.stop()

    assert [n for n, _ in seen] == [2]
    assert seen[0][1] >= 0


async def test_an_exception_in_the_batch_fn_fails_its_callers_but_the_batcher_keeps_serving(
    make_batcher: MakeBatcher,
) -> None:
    calls: list[list[int]] = []

    def flaky(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            raise ValueError("model blew up")
        return [item + 100 for item in items]

    batcher = make_batcher(flaky, max_wait_s=0.02)

    failed = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    later = await asyncio.gather(batcher.submit(3), batcher.submit(4))

    assert [type(r) for r in failed] == [ValueError, ValueError]
    assert str(failed[0]) == "model blew up"
    assert later == [103, 104]
    assert calls == [[1, 2], [3, 4]]
    assert batcher.stats.batches == 1  # only the successful batch counts


async def test_a_batch_fn_returning_the_wrong_number_of_results_fails_callers_not_the_batcher(
    make_batcher: MakeBatcher,
) -> None:
    calls = 0

    def short(items: Sequence[int]) -> list[int]:
        nonlocal calls
        calls += 1
        return list(items)[:-1] if calls == 1 else list(items)

    batcher = make_batcher(short, max_wait_s=0.02)

    failed = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    later = await asyncio.wait_for(batcher.submit(3), 5)

    assert all(isinstance(r, RuntimeError) for r in failed)
    assert str(failed[0]) == "the batch function returned 1 results for 2 items"
    assert later == 3


async def test_a_cancelled_caller_is_left_out_of_the_batch(make_batcher: MakeBatcher) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, max_wait_s=0.05)

    doomed = asyncio.ensure_future(batcher.submit(1))
    kept = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)  # both are queued
    doomed.cancel()

    assert await kept == 4
    assert recorder.sizes == [1]


async def test_submit_before_start_is_an_error(executor: ThreadPoolExecutor) -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(Recorder(), executor=executor)

    with pytest.raises(RuntimeError, match=r"start\(\) was not called"):
        await batcher.submit(1)


async def test_stop_fails_callers_still_waiting_in_the_queue(executor: ThreadPoolExecutor) -> None:
    release = threading.Event()

    def blocked(items: Sequence[int]) -> list[int]:
        release.wait(5)
        return list(items)

    batcher: MicroBatcher[int, int] = MicroBatcher(
        blocked, executor=executor, max_size=1, max_wait_s=0.0
    )
    batcher.start()
    first = asyncio.ensure_future(batcher.submit(1))
    queued = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3)]
    await asyncio.sleep(0.05)  # the consumer is inside blocked([1]); 2 and 3 wait in the queue
    assert batcher.queue_depth == 2

    await batcher.stop()
    release.set()

    for future in [first, *queued]:
        with pytest.raises(RuntimeError, match="the model worker stopped"):
            await asyncio.wait_for(future, 5)


async def test_stop_fails_callers_of_a_batch_that_was_still_being_collected(
    executor: ThreadPoolExecutor,
) -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(Recorder(), executor=executor, max_wait_s=10.0)
    batcher.start()
    waiting = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.02)  # taken off the queue; the consumer waits for more items
    assert batcher.queue_depth == 0

    await batcher.stop()

    with pytest.raises(RuntimeError, match="the model worker stopped"):
        await asyncio.wait_for(waiting, 5)


async def test_a_stopped_batcher_can_be_started_again(executor: ThreadPoolExecutor) -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(Recorder(), executor=executor, max_wait_s=0.0)
    batcher.start()
    await batcher.stop()
    batcher.start()
    try:
        assert await batcher.submit(21) == 42
    finally:
        await batcher.stop()


async def test_a_lone_submit_goes_at_once_when_no_one_else_is_on_the_way(
    make_batcher: MakeBatcher,
) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, max_size=32, max_wait_s=30.0, upcoming=lambda: 0)

    result = await asyncio.wait_for(batcher.submit(4), timeout=10)

    assert result == 8 and recorder.sizes == [1]


async def test_the_batch_waits_for_a_caller_that_is_on_its_way(make_batcher: MakeBatcher) -> None:
    recorder = Recorder()
    on_the_way = [1]
    batcher = make_batcher(recorder, max_size=32, max_wait_s=30.0, upcoming=lambda: on_the_way[0])

    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.05)
    assert not first.done(), "one more caller was announced: the batch waits for it"
    on_the_way[0] = 0
    second = await asyncio.wait_for(batcher.submit(2), timeout=10)

    assert (await first, second) == (2, 4)
    assert recorder.sizes == [2]
