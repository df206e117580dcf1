"""bot.ops.priors: a topic's usual level is known from the training data on day one, so the
share rule does not alert on a topic for being what it always is."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.ops.config import AlertsConfig, ShareRule, ShiftRule, SurgeRule
from bot.ops.engine import OVERALL, SHARE_RULE, AlertEngine, Observation
from bot.ops.priors import LabelledText, count_by_topic, read_priors, training_texts, weigh
from bot.server.app import create_app
from bot.server.appkeys import OPS, RUNTIME
from retrieval.base.domain import Domain
from retrieval.models.classifier import TextClassifier
from tests.conftest import REPO, TinyModels, app_config

T0 = 1_700_000_000.0
DOMAIN = Domain(categories={"order_status": "orders", "greet": "conversation"})
# Read by the tiny sentiment model, which memorised these rows (tests/fixtures).
ORDERS = ["this is terrible", "I am so angry with you", "where is my order"]
GREETINGS = ["thank you so much", "great service"]


def share_only(**rule: Any) -> AlertsConfig:
    return AlertsConfig(
        negative_share=ShareRule(threshold=0.75, min_volume=20, **rule),
        surge=SurgeRule(enabled=False),
        shift=ShiftRule(enabled=False),
        overall=False,
    )


def window(engine: AlertEngine, topic: str, negatives: int, calm: int, start: float) -> list[str]:
    opened = []
    for i in range(negatives + calm):
        obs = Observation(start + i * 5, topic, i < negatives)
        opened += [c.alert.rule for c in engine.observe(obs) if c.kind == "open"]
    return opened


def test_priors_count_each_topic_as_the_sentiment_model_reads_its_examples(
    tiny_models: TinyModels,
) -> None:
    sentiment = TextClassifier.load(tiny_models.sentiment)
    intent = TextClassifier.load(tiny_models.intent)
    texts = [LabelledText(t, "order_status") for t in ORDERS]
    texts += [LabelledText(t, "greet") for t in GREETINGS]
    texts.append(LabelledText("hello there", None))  # a Q&A question: the intent model reads it

    priors = read_priors(
        texts,
        DOMAIN,
        read_intents=lambda batch: [p.label for p in intent.predict(batch)],
        read_negative=lambda batch: [p.label == "negative" for p in sentiment.predict(batch)],
        weight=30,
    )

    assert priors["orders"] == (3.0, 2.0)
    assert priors["conversation"] == (3.0, 0.0), "hello there is read as greet"
    assert priors[OVERALL] == (6.0, 2.0)


def test_a_topic_read_from_many_examples_counts_as_prior_weight_messages() -> None:
    counts = count_by_topic([("feedback", True)] * 90 + [("feedback", False)] * 10, overall=False)
    assert counts == {"feedback": (100, 90)}
    assert weigh(counts, 30) == {"feedback": (30.0, 27.0)}, "the share kept, the weight capped"
    assert weigh(counts, 0) == {}


def test_training_texts_are_the_intent_examples_and_the_qa_questions() -> None:
    texts = training_texts(REPO / "data")
    intents = {t.intent for t in texts}
    assert "complaint" in intents and "order_status" in intents
    assert any(t.text.startswith("Can I put the stainless steel") for t in texts), "qa.csv"


def test_a_topic_negative_by_nature_is_left_alone_from_its_first_window() -> None:
    engine = AlertEngine(share_only())
    engine.priors = {"feedback": (30.0, 24.0)}  # complaints read 80% negative in training
    # An ordinary first ten minutes of complaints: 80% negative.
    assert window(engine, "feedback", negatives=24, calm=6, start=T0) == []

    without = AlertEngine(share_only())
    assert window(without, "feedback", negatives=24, calm=6, start=T0) == [SHARE_RULE], (
        "without the prior the same window is judged on the threshold alone"
    )


def test_a_topic_calm_by_nature_still_alerts_on_the_threshold() -> None:
    engine = AlertEngine(share_only())
    engine.priors = {"payments": (30.0, 6.0)}  # 20% negative in training
    assert window(engine, "payments", negatives=24, calm=6, start=T0) == [SHARE_RULE]


def test_history_outweighs_the_prior() -> None:
    engine = AlertEngine(share_only())
    engine.priors = {"feedback": (30.0, 24.0)}
    # A day of real traffic says this shop's feedback is calm (20% negative)...
    for i in range(600):
        engine.observe(Observation(T0 + i * 120, "feedback", i % 5 == 0))
    # ...so a window at 80% is news after all.
    assert window(engine, "feedback", negatives=24, calm=6, start=T0 + 600 * 120) == [SHARE_RULE]


async def test_the_server_reads_its_priors_from_the_data_it_was_trained_on(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    examples = "\n".join(f"    - {t}" for t in ORDERS)
    (data / "nlu.yml").write_text(
        f'version: "3.1"\nnlu:\n- intent: order_status\n  examples: |\n{examples}\n'
    )
    config = app_config(
        tmp_path,
        models_dir=tiny_models.models_dir,
        data_dir=data,
        domain=REPO / "data" / "domain.yml",
        responses=REPO / "data" / "responses.yml",
    )
    client = await aiohttp_client(create_app(config))
    await client.app[RUNTIME].ready.wait()
    service = client.app[OPS]
    async with asyncio.timeout(30):
        while not service.engine.priors:
            await asyncio.sleep(0.05)
    assert service.engine.priors["orders"] == (3.0, 2.0)
