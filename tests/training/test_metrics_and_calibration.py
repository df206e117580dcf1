"""Metrics, threshold calibration and the validation split."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.base.datasets import Example
from training.calibration import calibrate_threshold
from training.metrics import (
    canonical,
    classification_metrics,
    most_confused,
    per_label_scores,
)
from training.split import split_examples


def test_rejections_and_oos_gold_labels_share_one_name() -> None:
    assert canonical("nlu_fallback") == canonical("oos") == canonical("out_of_scope")
    assert canonical("greet") == "greet"


def test_metrics_without_oos_rows_have_no_oos_keys() -> None:
    metrics = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"])

    assert metrics["accuracy"] == 0.75
    assert metrics["n"] == 4
    assert metrics["macro_recall"] == pytest.approx(0.75)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert "oos_f1" not in metrics and "in_scope_accuracy" not in metrics


def test_metrics_with_oos_rows_count_rejected_in_scope_rows_as_errors() -> None:
    gold = ["a", "a", "out_of_scope", "out_of_scope"]
    predicted = ["a", "out_of_scope", "out_of_scope", "a"]

    metrics = classification_metrics(gold, predicted)

    assert metrics["in_scope_accuracy"] == 0.5
    assert metrics["oos_precision"] == 0.5
    assert metrics["oos_recall"] == 0.5
    assert metrics["oos_f1"] == 0.5
    assert metrics["rejection_rate"] == 0.5


def test_per_label_scores_and_most_confused_pairs() -> None:
    gold = ["a", "a", "b", "c", "c"]
    predicted = ["b", "b", "b", "a", "c"]

    scores = {s.label: s for s in per_label_scores(gold, predicted)}

    assert scores["b"].precision == pytest.approx(1 / 3) and scores["b"].support == 1
    assert most_confused(gold, predicted) == [("a", "b", 2), ("c", "a", 1)]


def test_threshold_without_oos_rows_is_the_5th_percentile_of_correct_confidences() -> None:
    correct = np.linspace(0.5, 0.99, 20)
    probs = np.stack([correct, 1 - correct], axis=1)

    calibration = calibrate_threshold(probs, ["a"] * 20, ["a", "b"], {"oos"})

    assert calibration.threshold == pytest.approx(np.percentile(correct, 5))
    assert calibration.method == "p5_correct_confidence"


def test_threshold_with_oos_rows_rejects_them_and_keeps_confident_in_scope_rows() -> None:
    # Confident in-scope rows, unsure out-of-scope rows: any cut between 0.45 and 0.8 is
    # perfect and the lowest one is placed midway between the two groups.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.45, 0.55], [0.4, 0.6]])
    gold = ["a", "a", "out_of_scope", "out_of_scope"]

    calibration = calibrate_threshold(probs, gold, ["a", "b"], {"oos", "out_of_scope"})

    assert calibration.validation_accuracy == 1.0
    assert 0.6 < calibration.threshold < 0.8
    assert calibration.method == "max_oos_accuracy"


def test_threshold_stays_zero_when_rejecting_more_would_only_hurt() -> None:
    # The oos row is already rejected by its predicted oos label; the in-scope row is right.
    probs = np.array([[0.6, 0.4], [0.3, 0.7]])

    calibration = calibrate_threshold(
        probs, ["a", "out_of_scope"], ["a", "out_of_scope"], {"out_of_scope"}
    )

    assert calibration.threshold == 0.0
    assert calibration.validation_accuracy == 1.0


def _examples(counts: dict[str, int]) -> list[Example]:
    return [
        Example(f"{label} {i}", label, "f.csv", i)
        for label, count in counts.items()
        for i in range(count)
    ]


def test_split_is_stratified_so_every_label_is_validated() -> None:
    split = split_examples(_examples({"a": 20, "b": 20, "c": 4}), seed=1)

    assert split.method == "stratified"
    assert {e.label for e in split.validation} == {"a", "b", "c"}
    assert len(split.train) + len(split.validation) == 44


def test_split_falls_back_to_random_when_a_label_has_one_example() -> None:
    split = split_examples(_examples({"a": 10, "b": 1}), seed=1)

    assert split.method == "random"
    assert len(split.validation) == 2


def test_split_refuses_too_little_data() -> None:
    with pytest.raises(ValueError, match=r"^data: only 2 example"):
        split_examples(_examples({"a": 1, "b": 1}), seed=1)


def test_split_of_tiny_data_holds_out_one_row_per_label_to_stay_stratified() -> None:
    split = split_examples(_examples({"a": 4, "b": 4, "c": 4}), seed=1)

    assert split.method == "stratified"
    assert sorted(e.label for e in split.validation) == ["a", "b", "c"]


def test_prior_shift_finds_the_rare_class_a_skewed_model_misses() -> None:
    from training.calibration import calibrate_prior_shift

    labels = ["negative", "neutral", "positive"]
    # The model leans to 'neutral': positives get 0.4 against neutral's 0.5.
    probabilities = [[0.1, 0.5, 0.4]] * 4 + [[0.1, 0.8, 0.1]] * 4 + [[0.8, 0.1, 0.1]] * 4
    gold = ["positive"] * 4 + ["neutral"] * 4 + ["negative"] * 4
    shift = calibrate_prior_shift(probabilities, gold, labels, train_counts=[300, 500, 200])
    assert shift.strength > 0
    assert shift.validation_macro_recall == 1.0
    assert shift.logit_bias[2] > shift.logit_bias[1], "the rare class is pushed up most"


def test_prior_shift_stays_off_when_the_model_is_already_balanced() -> None:
    from training.calibration import calibrate_prior_shift

    labels = ["negative", "neutral", "positive"]
    probabilities = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]
    shift = calibrate_prior_shift(
        probabilities, ["negative", "neutral", "positive"], labels, train_counts=[100, 100, 100]
    )
    assert shift.strength == 0.0 and shift.logit_bias == (0.0, 0.0, 0.0)
