"""bot.chat.retriever: the served bot answers from the index the way the index was built to
answer (its manifest's method), which is what ``frontdesk eval retrieval`` scores."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.chat.retriever import IndexRetriever
from retrieval.index import AnswerIndex, build_index
from retrieval.models.encoder import Encoder, load_encoder
from tests.retrieval.helpers import KETTLE_PAIRS, KETTLE_QUERY, kettle_csv


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return load_encoder(device="cpu")


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retriever-test")
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


def _built(encoder: Encoder, directory: Path, method: str) -> AnswerIndex:
    """An index as the server gets it: built by ``frontdesk index build``'s code, loaded."""
    data = kettle_csv(directory.with_suffix(".csv"))
    build_index(data, directory, progress=False, encoder=encoder, method=method)
    return AnswerIndex.load(directory, encoder)


async def test_the_served_answer_is_the_head_answer_when_the_manifest_says_head(
    encoder: Encoder, executor: ThreadPoolExecutor, tmp_path: Path
) -> None:
    index = _built(encoder, tmp_path / "head", "head")
    assert index.answering["method"] == "head"
    retriever = IndexRetriever(index, executor, max_batch=8, max_wait_s=0.001)
    try:
        hits = await retriever.search(KETTLE_QUERY, k=5)
    finally:
        await retriever.close()
    # Plain search would serve a cancellation (the nearest question mentions the kettle).
    assert index.search(KETTLE_QUERY, k=1)[0].intent == "cancel_order"
    assert hits[0].intent == "track_order"
    assert hits[0].answer == "Follow it under My orders."
    # What `frontdesk eval retrieval` scores for this question, answer for answer.
    scored = index.answer(KETTLE_QUERY, k=10)
    assert [h.id for h in hits] == [h.id for h in scored[: len(hits)]]
    # The engine holds the score against retrieval_threshold: it stays the cosine of the
    # query to the answer's own question.
    nearest = {h.id: h.score for h in index.search(KETTLE_QUERY, k=len(KETTLE_PAIRS))}
    assert hits[0].score == pytest.approx(nearest[hits[0].id], abs=1e-5)


async def test_a_reloaded_index_brings_its_own_method(
    encoder: Encoder, executor: ThreadPoolExecutor, tmp_path: Path
) -> None:
    retriever = IndexRetriever(
        _built(encoder, tmp_path / "head", "head"), executor, max_batch=8, max_wait_s=0.001
    )
    try:
        assert (await retriever.search(KETTLE_QUERY, k=1))[0].intent == "track_order"
        retriever.index = _built(encoder, tmp_path / "plain", "plain")  # what a reload does
        assert (await retriever.search(KETTLE_QUERY, k=1))[0].intent == "cancel_order"
    finally:
        await retriever.close()
