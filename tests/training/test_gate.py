"""training.gate: the candidate is promoted only when it is measurably no worse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.training.conftest import TINY_INTENTS, TrainedModel, write_intents_csv
from training.gate import Tolerances, compare, gate

STRICT = Tolerances(
    accuracy=0.0, oos_recall=0.0, max_intent_drop=0.2, min_intent_support=2, significance=1.0
)


def test_the_report_counts_what_each_intent_gained_and_lost() -> None:
    gold = ["a", "a", "b", "b", "b", "b", "out_of_scope"]
    serving = ["a", "b", "b", "b", "b", "b", "out_of_scope"]
    candidate = ["a", "a", "b", "a", "a", "a", "out_of_scope"]
    result = compare(gold, serving, candidate, {"accuracy": 0.8}, {"accuracy": 0.8}, STRICT)
    rows = {row["intent"]: row for row in result["intents"]}
    assert (rows["a"]["fixed"], rows["a"]["broken"]) == (1, 0)
    assert (rows["b"]["fixed"], rows["b"]["broken"]) == (0, 3)
    assert rows["b"]["change"] == pytest.approx(-0.75)
    assert result["passed"] is False
    assert result["reasons"] == [
        "intent b: recall fell from 1.000 to 0.250 (3 rows broken, 0 fixed; p=0.12 below 0.5; "
        "at most 0.2 allowed)"
    ]
    changes = [
        ((c["gold"], c["predicted"]), (c["serving"], c["candidate"]))
        for c in result["confusion_changes"]
    ]
    assert changes == [(("b", "a"), (0, 3)), (("a", "b"), (1, 0))], "biggest change first"


def test_accuracy_and_out_of_scope_recall_may_fall_only_within_the_tolerance() -> None:
    gold = ["a"] * 4
    same = ["a"] * 4
    serving = {"accuracy": 0.900, "oos_recall": 0.80}
    within = {"accuracy": 0.896, "oos_recall": 0.795}
    beyond = {"accuracy": 0.890, "oos_recall": 0.70}
    loose = Tolerances(accuracy=0.005, oos_recall=0.01)
    assert compare(gold, same, same, serving, within, loose)["passed"] is True
    reasons = compare(gold, same, same, serving, beyond, loose)["reasons"]
    assert [r.split(" fell")[0] for r in reasons] == ["accuracy", "out-of-scope recall"]


def test_an_intent_with_too_few_held_out_rows_does_not_decide(tmp_path: Path) -> None:
    result = compare(
        ["a", "b"], ["a", "b"], ["b", "b"], {"accuracy": 1}, {"accuracy": 1}, Tolerances(accuracy=1)
    )
    assert result["passed"] is True, "one row of 'a' is below min_intent_support"


@pytest.mark.slow
def test_a_model_against_itself_passes_and_the_report_is_written(
    tiny_intent_model: TrainedModel, tmp_path: Path
) -> None:
    candidate = tmp_path / "intent.candidate"
    shutil.copytree(tiny_intent_model.out, candidate)
    holdout = write_intents_csv(tmp_path / "holdout.csv", TINY_INTENTS)
    (candidate / "corrections_holdout.csv").write_text("text,intent\nhello bot,greet\n")
    report = gate(serving=tiny_intent_model.out, candidate=candidate, holdout=[holdout])
    assert report["passed"] is True
    assert report["serving"]["accuracy"] == report["candidate"]["accuracy"]
    assert (report["fixed"], report["broken"]) == (0, 0)
    assert report["held_out"]["corrections"]["n"] == 1
    written = json.loads((candidate / "gate" / "gate.json").read_text())
    assert written["candidate_created_at"] == report["candidate_created_at"]
    assert "# Regression gate: passed" in (candidate / "gate" / "gate.md").read_text()


def test_a_missing_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"serving: .* is not a model directory"):
        gate(serving=tmp_path / "nope", candidate=tmp_path / "nope", holdout=[])


def test_figures_count_a_rejection_as_an_out_of_scope_answer() -> None:
    from training.gate import canonical, figures

    gold = ["a", "a", "out_of_scope", "out_of_scope"]
    predicted = [canonical(p) for p in ["a", "nlu_fallback", "nlu_fallback", "a"]]
    result = figures(gold, predicted)
    assert (result["accuracy"], result["n"]) == (0.5, 4)
    assert (result["oos_precision"], result["oos_recall"]) == (0.5, 0.5)
    assert "oos_recall" not in figures(["a"], ["a"])


def test_an_intent_refuses_only_a_drop_that_is_more_than_chance() -> None:
    from training.gate import sign_test

    assert sign_test(2, 0) == 0.25
    assert sign_test(5, 0) == 1 / 32
    assert sign_test(0, 0) == 1.0
    gold = ["a"] * 10 + ["b"] * 10
    serving = ["a"] * 10 + ["b"] * 10
    two_lost = ["a"] * 8 + ["b"] * 12
    six_lost = ["a"] * 4 + ["b"] * 16
    figures = {"accuracy": 1.0}
    tolerances = Tolerances(accuracy=1.0, max_intent_drop=0.1, min_intent_support=5)
    assert compare(gold, serving, two_lost, figures, figures, tolerances)["passed"] is True
    [reason] = compare(gold, serving, six_lost, figures, figures, tolerances)["reasons"]
    assert reason.startswith("intent a: recall fell from 1.000 to 0.400 (6 rows broken")


def test_the_chance_level_is_shared_among_the_intents_tested() -> None:
    """Five of ten rows lost (p = 1/32) refuses with one intent tested, not with two."""
    figures = {"accuracy": 1.0}
    tolerances = Tolerances(accuracy=1.0, max_intent_drop=0.1, min_intent_support=5)
    one = compare(["a"] * 10, ["a"] * 10, ["a"] * 5 + ["x"] * 5, figures, figures, tolerances)
    assert one["passed"] is False
    gold = ["a"] * 10 + ["b"] * 10
    two = compare(gold, gold, ["a"] * 5 + ["x"] * 5 + ["b"] * 10, figures, figures, tolerances)
    assert two["passed"] is True
