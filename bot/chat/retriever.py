"""Searching the answer index from the chat path: off the event loop, in the model worker,
with the queries of concurrent requests batched into one encoder pass like the classifiers'.

The answers come from :meth:`AnswerIndex.answer_many`, the way the index was built to answer
(its manifest's method: plain, vote or the intent head), which is also what
``frontdesk eval retrieval`` scores; the hits' scores stay cosine similarities, so the
engine's ``retrieval_threshold`` applies to them whatever the method."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from bot.chat.batching import MicroBatcher
from retrieval.index import AnswerIndex, Hit


class IndexRetriever:
    """Answers from the index in the model worker, off the event loop, batching the
    queries of concurrent requests into one encoder pass like the classifiers do."""

    K = 5

    def __init__(
        self, index: AnswerIndex, executor: Executor, *, max_batch: int, max_wait_s: float
    ) -> None:
        self.index = index
        self._batcher: MicroBatcher[str, list[Hit]] = MicroBatcher(
            self._search_many, executor=executor, max_size=max_batch, max_wait_s=max_wait_s
        )
        self._batcher.start()

    def _search_many(self, texts: Sequence[str]) -> list[list[Hit]]:
        # Read the attribute per batch so that a reload swaps indexes between batches (and
        # with them the method each one answers with).
        return self.index.answer_many(texts, k=self.K)

    async def search(self, text: str, k: int = 5) -> list[Hit]:
        return (await self._batcher.submit(text))[:k]

    async def close(self) -> None:
        await self._batcher.stop()
