"""training.oos: the out-of-scope rule is chosen on held-out data for the trade-off asked
for, and costs in-scope customers no more than that."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrieval.base.datasets import Example
from retrieval.models.classifier import TextClassifier
from tests.training.conftest import TINY_INTENTS, TrainedModel
from training.oos import (
    DEFAULT_IN_SCOPE_COST,
    RejectTarget,
    below_ceiling,
    bundled_questions,
    fit_scorer,
    most_accurate_threshold,
    threshold_for_cost,
    tradeoff_curve,
)

STAND_INS = [
    "how tall is mount everest",
    "what is the capital of canada",
    "write me a poem about the ocean",
    "how do I bake sourdough bread",
    "what is the square root of 144",
    "who painted the mona lisa",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, RejectTarget("auto")),
        ("auto", RejectTarget("auto")),
        ("0.02", RejectTarget("in_scope", 0.02)),
        ("in-scope=0.05", RejectTarget("in_scope", 0.05)),
        ("in_scope=0", RejectTarget("in_scope", 0.0)),
        ("recall=0.9", RejectTarget("recall", 0.9)),
    ],
)
def test_reject_target_reads_a_cost_a_recall_or_auto(
    text: str | None, expected: RejectTarget
) -> None:
    assert RejectTarget.parse(text) == expected


@pytest.mark.parametrize("text", ["2%", "recall=1.5", "precision=0.9", "in-scope=", "nan"])
def test_a_bad_reject_target_names_the_key_the_value_and_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"^reject_target: got .* expected auto, an in-scope"):
        RejectTarget.parse(text)


def test_a_cost_threshold_rejects_at_most_that_share_and_rests_on_no_example() -> None:
    scores = [float(i) for i in range(100)]

    threshold = threshold_for_cost(scores, 0.02)

    assert sum(s < threshold for s in scores) == 2
    assert threshold not in scores
    # Too few examples for even one rejection: below all of them.
    assert threshold_for_cost(scores[:10], 0.02) < min(scores)


def test_the_default_cost_is_a_ceiling_on_new_questions_not_an_average() -> None:
    rng = np.random.default_rng(7)
    over = {"at 2%": 0, "below the ceiling": 0}
    for _ in range(400):
        # Validation and new questions drawn alike: the scores of one model on one domain.
        validation, new = rng.normal(size=1500), rng.normal(size=3000)
        for name, cost in (
            ("at 2%", DEFAULT_IN_SCOPE_COST),
            ("below the ceiling", below_ceiling(DEFAULT_IN_SCOPE_COST, len(validation))),
        ):
            threshold = threshold_for_cost(validation, cost)
            over[name] += float((new < threshold).mean()) > DEFAULT_IN_SCOPE_COST

    assert over["at 2%"] >= 150, "a threshold at exactly 2% turns away more about half the time"
    assert over["below the ceiling"] <= 60, over  # about one draw in ten
    assert below_ceiling(0.02, 1500) == pytest.approx(0.0154, abs=1e-4)
    assert below_ceiling(0.02, 40) == 0.0, "too few questions to reject any safely"


def test_the_most_accurate_threshold_stays_within_the_in_scope_cost_it_is_given() -> None:
    # A validation split rich in out-of-scope rows: turning away the 20 least sure in-scope
    # questions catches all 40 out-of-scope ones, which accuracy alone would take.
    inside = np.array([float(i) for i in range(100)] + [i / 2 + 0.25 for i in range(40)])
    in_scope = np.arange(140) < 100
    nothing, right = np.zeros(140, dtype=bool), np.ones(140, dtype=bool)

    def turned_away(threshold: float) -> tuple[int, int]:
        below = inside < threshold
        return int(below[in_scope].sum()), int(below[~in_scope].sum())

    assert turned_away(most_accurate_threshold(inside, in_scope, nothing, right, None)) == (20, 40)
    assert turned_away(most_accurate_threshold(inside, in_scope, nothing, right, 0.02)) == (2, 4)
    assert turned_away(most_accurate_threshold(inside, in_scope, nothing, right, 0.0)) == (0, 0)


def test_the_curve_trades_in_scope_accuracy_for_out_of_scope_recall() -> None:
    inside = [float(i) for i in range(100)]
    right = [i >= 5 for i in range(100)]  # the five least sure answers are also wrong
    outside = [-1.0, 0.5, 3.5, 50.0]

    curve = tradeoff_curve(inside, right, outside, rates=(0.0, 0.05, 0.2))

    assert [p["in_scope_rejection"] for p in curve] == [0.0, 0.05, 0.2]
    assert [p["in_scope_accuracy"] for p in curve] == [0.95, 0.95, 0.8]
    assert [p["oos_recall"] for p in curve] == [0.25, 0.75, 0.75]


def test_bundled_stand_ins_are_many_distinct_questions() -> None:
    questions = bundled_questions()

    assert len(questions) >= 200
    assert len(set(questions)) == len(questions)
    assert not any(q.startswith("#") for q in questions)


def in_scope_examples() -> list[Example]:
    pairs = [
        (label, text)
        for label, texts in TINY_INTENTS.items()
        if label != "out_of_scope"
        for text in texts
    ]
    return [Example(text, label, "tiny.csv", i + 2) for i, (label, text) in enumerate(pairs)]


@pytest.mark.slow
def test_without_oos_data_the_rule_turns_away_at_most_the_target_share_of_in_scope_questions(
    tiny_intent_model: TrainedModel,
) -> None:
    classifier = TextClassifier.load(tiny_intent_model.out)
    examples = in_scope_examples()

    fitted = fit_scorer(
        classifier, examples, examples, RejectTarget("in_scope", 0.1), stand_ins=STAND_INS
    )

    assert fitted is not None
    scores = fitted.scorer.scores(*_signals(classifier, [e.text for e in examples]))
    rejected = sum(float(s) < fitted.scorer.threshold for s in scores)
    assert rejected <= math.floor(0.1 * len(examples))
    assert fitted.record["target"] == "in-scope=0.1"
    assert fitted.record["oos_questions"].startswith("bundled (")
    assert fitted.record["validation_in_scope_rejection"] <= 0.1
    assert [p["in_scope_rejection"] for p in fitted.curve][:2] == [0.0, 0.0]


@pytest.mark.slow
def test_with_oos_validation_rows_the_most_accurate_rule_is_chosen(
    tiny_intent_model: TrainedModel,
) -> None:
    classifier = TextClassifier.load(tiny_intent_model.out)
    examples = in_scope_examples()
    validation = [
        *examples,
        *(Example(q, "oos", "stand-ins", i + 1) for i, q in enumerate(STAND_INS)),
    ]

    fitted = fit_scorer(classifier, examples, validation, RejectTarget())

    assert fitted is not None
    assert fitted.record["oos_questions"] == "validation"
    assert fitted.record["target"] == "auto"
    # On the rows the model was trained on, rejecting is free where it catches oos rows.
    assert fitted.record["validation_in_scope_rejection"] <= 1 / len(examples)


@pytest.mark.slow
def test_a_recall_target_catches_that_share_of_the_stand_ins(
    tiny_intent_model: TrainedModel,
) -> None:
    classifier = TextClassifier.load(tiny_intent_model.out)
    examples = in_scope_examples()

    fitted = fit_scorer(
        classifier, examples, examples, RejectTarget("recall", 1.0), stand_ins=STAND_INS
    )

    assert fitted is not None
    assert fitted.record["validation_oos_recall"] == 1.0


def _signals(classifier: TextClassifier, texts: list[str]) -> tuple[object, object]:
    analysed = classifier.analyse(texts)
    return analysed.encoder_confidence, analysed.embeddings
