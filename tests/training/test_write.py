"""training.write: the model directory a training run leaves, and calibration on it."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retrieval.base import modeldir
from retrieval.base.datasets import Example
from retrieval.base.modeldir import ENCODER_REJECTION, ModelCard, Rejection
from tests.training.conftest import TINY_INTENTS, TrainedModel, tiny_settings
from training.evaluate import Scores
from training.finetune import tensorboard_available

MODEL_FILES = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "labels.json",
    "frontdesk.json",
    "metrics.json",
    "report.md",
    "confusion.png",
    "oos.json",
    "oos.npz",
}


@pytest.mark.slow
def test_training_writes_a_complete_model_directory(tiny_intent_model: TrainedModel) -> None:
    names = {path.name for path in tiny_intent_model.out.iterdir()}

    assert names >= MODEL_FILES


@pytest.mark.slow
def test_labels_json_lists_the_labels_in_the_model_output_order(
    tiny_intent_model: TrainedModel,
) -> None:
    out = tiny_intent_model.out
    labels = json.loads((out / "labels.json").read_text())
    config = json.loads((out / "config.json").read_text())

    assert labels == sorted(TINY_INTENTS)
    assert [config["id2label"][str(i)] for i in range(len(labels))] == labels


@pytest.mark.slow
def test_frontdesk_json_follows_the_serving_schema(tiny_intent_model: TrainedModel) -> None:
    card = json.loads((tiny_intent_model.out / "frontdesk.json").read_text())

    assert list(card)[:9] == [
        "format_version",
        "task",
        "base_model",
        "max_length",
        "rejection",
        "oos_labels",
        "training",
        "data_fingerprint",
        "created_at",
    ]
    assert card["format_version"] == 1
    assert card["task"] == "intent"
    assert card["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert card["max_length"] == 16
    # With a fused n-gram model the rejection reads the encoder's own confidence.
    fused = "sparse" in card
    assert (fused, card["rejection"]["method"]) in {
        (False, "max_softmax"),
        (True, "encoder_max_softmax"),
    }
    assert (tiny_intent_model.out / "sparse.npz").is_file() is fused
    assert set(card["training"]["sparse"]) == {
        "weight",
        "scale",
        "validation_accuracy",
        "encoder_validation_accuracy",
    }
    assert 0.0 <= card["rejection"]["threshold"] < 1.0
    assert card["oos_labels"] == ["oos", "out_of_scope"]
    assert re.fullmatch(r"[0-9a-f]{64}", card["data_fingerprint"])
    assert datetime.fromisoformat(card["created_at"]).utcoffset() == timedelta(0)
    assert card["training"]["settings"]["epochs"] == 1
    assert card["training"]["validation_split"] == "stratified"
    assert card["training"]["calibration"]


@pytest.mark.slow
def test_the_written_card_reads_back_through_modeldir_as_written(
    tiny_intent_model: TrainedModel, tmp_path: Path
) -> None:
    card = modeldir.read(tiny_intent_model.out)

    modeldir.write(tmp_path, card)

    for name in ("frontdesk.json", "labels.json"):
        assert (tmp_path / name).read_bytes() == (tiny_intent_model.out / name).read_bytes()


@pytest.mark.slow
def test_training_leaves_no_checkpoints_or_staging_directories(
    tiny_intent_model: TrainedModel,
) -> None:
    assert [p.name for p in tiny_intent_model.out.parent.iterdir()] == ["intent"]


@pytest.mark.slow
@pytest.mark.skipif(not tensorboard_available(), reason="tensorboard is not installed")
def test_tensorboard_logs_are_kept_in_runs(tiny_intent_model: TrainedModel) -> None:
    assert list((tiny_intent_model.out / "runs").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_sentiment_model_never_rejects_and_keeps_the_fixed_label_order(tmp_path: Path) -> None:
    from training.train import train

    rows = [
        *({"text": t, "label": 0} for t in ["awful", "terrible service", "so bad", "hate it"]),
        *({"text": t, "label": 1} for t in ["it arrived", "ok", "order placed", "noted"]),
        *({"text": t, "label": 2} for t in ["love it", "great", "superb help", "thanks a lot"]),
    ]
    data = tmp_path / "sentiment.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    out = tmp_path / "sentiment"

    result = train(tiny_settings(data, out, task="sentiment"))

    card = json.loads((out / "frontdesk.json").read_text())
    assert (card["task"], card["rejection"]["threshold"], card["oos_labels"]) == (
        "sentiment",
        0.0,
        [],
    )
    assert json.loads((out / "labels.json").read_text()) == ["negative", "neutral", "positive"]
    assert result["validation_split"] == "stratified"


# --- calibration on scores, without a model ----------------------------------------------


def scores(probabilities: Any, encoder_confidence: Any) -> Scores:
    return Scores([], probabilities, encoder_confidence, 0.0)


def rows(labels: list[str]) -> list[Example]:
    return [Example(f"text {i}", label, "data.csv", i + 2) for i, label in enumerate(labels)]


def card_for(task: str, labels: tuple[str, ...], method: str = "max_softmax") -> ModelCard:
    return ModelCard(
        task=task,
        labels=labels,
        base_model="base",
        max_length=16,
        rejection=Rejection(method, 0.0),
        training={"validation_split": "given"},
    )


def test_intent_calibration_sets_the_threshold_and_records_the_method() -> None:
    import numpy as np

    from training.write import calibrate

    labels = ("greet", "out_of_scope", "track_order")
    gold = ["greet", "track_order", "out_of_scope", "out_of_scope"]
    probabilities = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.5, 0.1, 0.4], [0.3, 0.3, 0.4]])

    card, method = calibrate(
        card_for("intent", labels), scores(probabilities, None), rows(gold), rows(gold)
    )

    assert 0.5 < card.rejection.threshold <= 0.8, "rejects both oos rows, keeps the others"
    assert card.training == {"validation_split": "given", "calibration": method}
    assert card.logit_bias is None


def test_with_the_encoder_rule_calibration_reads_the_encoders_confidence() -> None:
    import numpy as np

    from training.write import calibrate

    labels = ("a", "b")
    gold = ["a", "b", "a", "b"]
    fused = np.array([[0.99, 0.01], [0.01, 0.99], [0.99, 0.01], [0.01, 0.99]])
    encoder = np.array([0.6, 0.7, 0.8, 0.9])

    by_encoder, _ = calibrate(
        card_for("intent", labels, ENCODER_REJECTION),
        scores(fused, encoder),
        rows(gold),
        rows(gold),
    )
    by_fused, _ = calibrate(
        card_for("intent", labels), scores(fused, encoder), rows(gold), rows(gold)
    )

    assert by_encoder.rejection.threshold < 0.9 < by_fused.rejection.threshold


def test_sentiment_calibration_keeps_every_label_and_records_the_prior_shift() -> None:
    import numpy as np

    from training.write import calibrate

    labels = ("negative", "neutral", "positive")
    train = rows(["neutral"] * 8 + ["negative", "positive"])
    gold = ["negative", "neutral", "positive"]
    # The model leans to the frequent neutral class, as one trained on skewed data does.
    probabilities = np.array([[0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.1, 0.5, 0.4]])

    card, method = calibrate(
        card_for("sentiment", labels), scores(probabilities, None), train, rows(gold)
    )

    assert (card.rejection.threshold, method) == (0.0, "none")
    assert card.training["prior_shift"] > 0
    assert card.logit_bias is not None and len(card.logit_bias) == len(labels)


@pytest.mark.slow
def test_an_intent_model_carries_its_out_of_scope_rule_and_reports_the_tradeoff(
    tiny_intent_model: TrainedModel,
) -> None:
    result = tiny_intent_model.result
    rule = json.loads((tiny_intent_model.out / "oos.json").read_text())
    report = (tiny_intent_model.out / "report.md").read_text()

    assert result["rejection"]["method"] == "oos_scorer"
    # The tiny data has out_of_scope examples, so the most accurate rule was chosen.
    assert result["rejection"]["oos_questions"] == "validation"
    assert rule["threshold"] == pytest.approx(result["rejection"]["threshold"], abs=1e-4)
    assert "## Out-of-scope trade-off" in report
    assert "| in-scope rejected | in-scope accuracy | out-of-scope recall |" in report
