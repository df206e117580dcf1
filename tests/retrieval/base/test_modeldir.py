"""retrieval.base.modeldir: the card and labels of a model directory, written and read back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from retrieval.base import modeldir
from retrieval.base.modeldir import (
    CARD_NAME,
    ENCODER_REJECTION,
    LABELS_NAME,
    METRICS_NAME,
    ModelCard,
    ModelDirError,
    Rejection,
    SparseModel,
)

RETRAIN = "retrain the model with this version of Frontdesk"

CARD = ModelCard(
    task="intent",
    labels=("greet", "out_of_scope", "track_order"),
    base_model="sentence-transformers/all-MiniLM-L6-v2",
    max_length=48,
    rejection=Rejection(ENCODER_REJECTION, 0.4375),
    oos_labels=("oos", "out_of_scope"),
    training={"settings": {"epochs": 1}, "calibration": "oos_accuracy"},
    data_fingerprint="f" * 64,
    created_at="2025-01-02T03:04:05+00:00",
    sparse=SparseModel(weight=0.3, scale=5.0, blocks=(("word", (1, 2)), ("char_wb", (2, 5)))),
    logit_bias=(0.5, -0.25, 0.0),
)

# Byte for byte what Frontdesk wrote before the card had a module of its own: directories
# trained then must keep loading, and rewriting one must not change it.
EARLIER_CARD = """{
  "format_version": 1,
  "task": "sentiment",
  "base_model": "sentence-transformers/all-MiniLM-L6-v2",
  "max_length": 48,
  "rejection": {
    "method": "max_softmax",
    "threshold": 0.0
  },
  "oos_labels": [],
  "training": {
    "settings": {
      "task": "sentiment",
      "data": "data/sentiment.csv"
    },
    "epochs_run": 6.0,
    "sparse": {
      "weight": 0.0,
      "scale": 1.0,
      "validation_accuracy": 0.7,
      "encoder_validation_accuracy": 0.7
    },
    "prior_shift": 0.3,
    "calibration": "none"
  },
  "data_fingerprint": "0123abcd",
  "created_at": "2025-05-01T10:00:00+00:00",
  "logit_bias": [
    0.4,
    -0.1,
    0.2
  ]
}
"""
EARLIER_LABELS = '[\n  "negative",\n  "neutral",\n  "positive"\n]\n'


def written(path: Path, card: Any, labels: Any = ("a", "b")) -> Path:
    path.mkdir(exist_ok=True)
    (path / CARD_NAME).write_text(json.dumps(card), encoding="utf-8")
    (path / LABELS_NAME).write_text(json.dumps(labels), encoding="utf-8")
    return path


def test_modeldir_round_trips_the_card(tmp_path: Path) -> None:
    modeldir.write(tmp_path, CARD)

    read = modeldir.read(tmp_path)

    assert read == CARD
    assert read.path == tmp_path
    assert json.loads((tmp_path / LABELS_NAME).read_text()) == list(CARD.labels)


def test_a_card_written_by_an_earlier_frontdesk_reads_and_rewrites_byte_for_byte(
    tmp_path: Path,
) -> None:
    (tmp_path / CARD_NAME).write_text(EARLIER_CARD, encoding="utf-8")
    (tmp_path / LABELS_NAME).write_text(EARLIER_LABELS, encoding="utf-8")

    card = modeldir.read(tmp_path)
    assert (card.task, card.labels, card.logit_bias) == (
        "sentiment",
        ("negative", "neutral", "positive"),
        (0.4, -0.1, 0.2),
    )
    assert (card.rejection, card.sparse, card.oos_labels) == (Rejection(), None, ())

    again = tmp_path / "again"
    again.mkdir()
    modeldir.write(again, card)
    assert (again / CARD_NAME).read_text(encoding="utf-8") == EARLIER_CARD
    assert (again / LABELS_NAME).read_text(encoding="utf-8") == EARLIER_LABELS


def test_a_card_without_the_optional_keys_reads_with_the_defaults(tmp_path: Path) -> None:
    card = modeldir.read(written(tmp_path, {"format_version": 1}))

    assert card == ModelCard(
        task="intent",
        labels=("a", "b"),
        base_model="",
        max_length=64,
        rejection=Rejection("max_softmax", 0.0),
        oos_labels=("oos", "out_of_scope"),
    )


def test_metrics_are_written_beside_the_card_when_given(tmp_path: Path) -> None:
    modeldir.write(tmp_path, CARD, metrics={"split": "validation", "accuracy": 1.0})

    assert json.loads((tmp_path / METRICS_NAME).read_text()) == {
        "split": "validation",
        "accuracy": 1.0,
    }


# --- what a broken directory says ---------------------------------------------------------


def test_a_missing_directory_says_how_to_train_one(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "intent"

    with pytest.raises(ModelDirError) as caught:
        modeldir.read(missing)

    assert str(caught.value) == (
        f"model directory {missing} does not exist; train one with "
        f"'frontdesk train intent --data data/nlu.yml --out {missing}'"
    )


def test_a_directory_without_labels_names_the_missing_file(tmp_path: Path) -> None:
    written(tmp_path, {"format_version": 1})
    (tmp_path / LABELS_NAME).unlink()

    with pytest.raises(ModelDirError) as caught:
        modeldir.read(tmp_path)

    assert str(caught.value) == (
        f"{tmp_path} is not a Frontdesk model directory: labels.json is missing; "
        "point the setting at a directory written by 'frontdesk train'"
    )


def test_a_corrupt_card_is_refused_with_the_fix(tmp_path: Path) -> None:
    written(tmp_path, {"format_version": 1})
    (tmp_path / CARD_NAME).write_text('{"format_version": 1,', encoding="utf-8")

    with pytest.raises(ModelDirError) as caught:
        modeldir.read(tmp_path)

    message = str(caught.value)
    assert message.startswith(f"{tmp_path / CARD_NAME}: expected JSON, got unreadable text (")
    assert message.endswith(f"); {RETRAIN}")


def test_a_card_of_another_format_version_is_refused_with_the_fix(tmp_path: Path) -> None:
    written(tmp_path, {"format_version": 2})

    with pytest.raises(ModelDirError) as caught:
        modeldir.read(tmp_path)

    assert str(caught.value) == f"{tmp_path / CARD_NAME}: format_version 2, expected 1; {RETRAIN}"


@pytest.mark.parametrize(
    ("card", "labels", "problem"),
    [
        ([1], ["a", "b"], "expected a JSON object, got a list"),
        ({"format_version": 1}, [], "expected a non-empty JSON list of label names, got []"),
        ({"format_version": 1}, {"a": 0}, "expected a non-empty JSON list of label names"),
        ({"format_version": 1, "max_length": "64"}, ["a"], "max_length expected a whole number"),
        ({"format_version": 1, "task": 3}, ["a"], "task expected a string, got 3"),
        (
            {"format_version": 1, "rejection": {"threshold": "high"}},
            ["a"],
            "rejection.threshold expected a number, got 'high'",
        ),
        (
            {"format_version": 1, "rejection": {"method": "magic"}},
            ["a"],
            "rejection.method 'magic', expected one of max_softmax, encoder_max_softmax",
        ),
        (
            {"format_version": 1, "logit_bias": [0.1, 0.2]},
            ["a"],
            "logit_bias must list one number per label (1), got 2",
        ),
        (
            {"format_version": 1, "logit_bias": ["x"]},
            ["a"],
            "logit_bias expected a list of numbers, one per label, got ['x']",
        ),
        ({"format_version": 1, "oos_labels": "oos"}, ["a"], "oos_labels expected a list"),
        ({"format_version": 1, "training": []}, ["a"], "training expected an object, got []"),
        (
            {"format_version": 1, "sparse": {"scale": 1, "blocks": [["word", [1, 2]]]}},
            ["a"],
            "sparse.blocks expected a list of",
        ),
        (
            {
                "format_version": 1,
                "sparse": {"scale": 1, "blocks": [{"analyzer": "word", "ngram_range": [1, 2]}]},
            },
            ["a"],
            "sparse.weight expected a number, got None",
        ),
        (
            {
                "format_version": 1,
                "sparse": {
                    "file": "../elsewhere.npz",
                    "weight": 0.2,
                    "scale": 1,
                    "blocks": [{"analyzer": "word", "ngram_range": [1, 2]}],
                },
            },
            ["a"],
            "sparse.file expected a file name inside the model directory",
        ),
    ],
)
def test_a_card_that_does_not_fit_the_format_names_the_key_and_the_fix(
    tmp_path: Path, card: Any, labels: Any, problem: str
) -> None:
    written(tmp_path, card, labels)

    with pytest.raises(ModelDirError) as caught:
        modeldir.read(tmp_path)

    message = str(caught.value)
    assert message.startswith(f"{tmp_path}/")
    assert problem in message
    assert message.endswith(RETRAIN)


def test_a_card_that_read_would_refuse_is_never_written(tmp_path: Path) -> None:
    wrong = ModelCard(task="intent", labels=("a",), base_model="", max_length=8, logit_bias=())

    with pytest.raises(ModelDirError, match=re.escape("logit_bias must list one number")):
        modeldir.write(tmp_path, wrong)

    assert list(tmp_path.iterdir()) == []
