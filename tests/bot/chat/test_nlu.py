"""bot.chat.nlu: the two classifiers batched side by side on two model workers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.chat.nlu import NluModels, NluService
from tests.conftest import TinyModels

TEXTS = ["hello there", "where is my order", "this is terrible", "I want to talk to a human"]


@pytest.fixture(scope="module")
def models(tiny_models: TinyModels) -> NluModels:
    return NluModels.load(tiny_models.intent, tiny_models.sentiment, device="cpu")


@pytest.fixture
async def service(models: NluModels) -> AsyncIterator[NluService]:
    executor = ThreadPoolExecutor(max_workers=2)
    nlu = NluService(models, executor=executor, max_wait_s=0.01)
    nlu.start()
    yield nlu
    await nlu.stop()
    executor.shutdown()


async def test_concurrent_parses_get_both_models_answers_for_their_own_text(
    service: NluService, models: NluModels
) -> None:
    parsed = await asyncio.gather(*(service.parse(text) for text in TEXTS))
    expected = models.classify(TEXTS)
    assert [p.text for p in parsed] == TEXTS
    assert [p.intent.label for p in parsed] == [intent.label for intent, _ in expected]
    assert [p.sentiment.label if p.sentiment else None for p in parsed] == [
        sentiment.label if sentiment else None for _, sentiment in expected
    ]
    assert parsed[2].sentiment is not None and parsed[2].sentiment.label == "negative"


async def test_a_failing_sentiment_model_leaves_the_intent_and_logs_the_error(
    models: NluModels, caplog: pytest.LogCaptureFixture
) -> None:
    assert models.sentiment is not None
    # A sentiment model whose label list no longer matches its outputs fails on every batch.
    broken = dataclasses.replace(models.sentiment.card, labels=())
    sentiment = object.__new__(type(models.sentiment))
    sentiment.__dict__.update(models.sentiment.__dict__, card=broken)
    executor = ThreadPoolExecutor(max_workers=2)
    service = NluService(NluModels(models.intent, sentiment), executor=executor)
    service.start()
    try:
        with caplog.at_level(logging.ERROR, logger="bot.chat.nlu"):
            parsed = await service.parse("where is my order")
    finally:
        await service.stop()
        executor.shutdown()
    assert parsed.intent.label == "order_status"
    assert parsed.sentiment is None
    assert "the sentiment model failed" in caplog.text


async def test_queue_depth_is_zero_when_idle(service: NluService) -> None:
    await service.parse("hi")
    assert service.queue_depth == 0
