"""bot.chat.nlu: the two classifiers batched side by side on two model workers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.chat.nlu import NluModels, NluService
from retrieval.models.entities import EntityExtractor
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


# --- learned entities ------------------------------------------------------------------

ROUTES = (("Berlin", "Paris"), ("Rome", "Oslo"), ("Madrid", "Vienna"))
FLIGHTS = "".join(
    f'    - fly from [{a}]{{"entity": "city", "role": "departure"}} '
    f'to [{b}]{{"entity": "city", "role": "destination"}}\n'
    for a, b in ROUTES
)
ENTITY_NLU = f"""\
nlu:
- intent: book
  examples: |
    - a table for [4](guests) please
    - a table for [2](guests) please
    - a table for [6](guests) tonight
{FLIGHTS}- intent: greet
  examples: |
    - hello there
    - good morning
"""


def learn_entities(directory: Path) -> None:
    """Train the entity extractor of a model directory from ENTITY_NLU, as training does."""
    from retrieval.base.nlu_entities import load_entity_data
    from training.entities import train_entity_model

    (directory / "nlu.yml").write_text(ENTITY_NLU, encoding="utf-8")
    data = load_entity_data(directory / "nlu.yml")
    train_entity_model(directory, data, data.examples)


async def test_the_parse_carries_learned_entities_first_and_nonoverlapping_builtins(
    models: NluModels, tmp_path: Path
) -> None:
    learn_entities(tmp_path)
    extractor = EntityExtractor.load(tmp_path)
    executor = ThreadPoolExecutor(max_workers=2)
    service = NluService(NluModels(models.intent, None, extractor), executor=executor)
    service.start()
    try:
        table, flight = await asyncio.gather(
            service.parse("a table for 4 please, order NW-12345"),
            service.parse("fly from Berlin to Paris"),
        )
    finally:
        await service.stop()
        executor.shutdown()
    # The learned "guests" covers the 4, so the built-in number 4 gives way; the order
    # number overlaps nothing learned and stays.
    assert [(e["entity"], e["value"], e["extractor"]) for e in table.entities] == [
        ("guests", "4", "CRFEntityExtractor"),
        ("order_id", "NW-12345", "RegexEntityExtractor"),
    ]
    assert [(e["value"], e.get("role")) for e in flight.entities] == [
        ("Berlin", "departure"),
        ("Paris", "destination"),
    ]
    assert flight.to_rasa()["entities"] == flight.entities


def test_models_load_the_entity_extractor_of_the_intent_model_directory(
    tiny_models: TinyModels, models: NluModels, tmp_path: Path
) -> None:
    assert models.entities is None  # trained from a CSV: nothing annotated
    intent_dir = tmp_path / "intent"
    shutil.copytree(tiny_models.intent, intent_dir)
    learn_entities(intent_dir)

    loaded = NluModels.load(intent_dir, None, device="cpu")

    assert loaded.entities is not None
    assert loaded.learned_entities(["a table for 6 tonight", "hello"]) == [
        [
            {
                "entity": "guests",
                "start": 12,
                "end": 13,
                "value": "6",
                "confidence_entity": pytest.approx(1.0, abs=0.5),
                "extractor": "CRFEntityExtractor",
            }
        ],
        [],
    ]
