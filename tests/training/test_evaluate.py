"""Evaluation through the serving classifier, and the report it writes (training.evaluate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.base.datasets import Example
from tests.training.conftest import TrainedModel, write_intents_csv
from training.evaluate import evaluate
from training.report import Scored, write_report

EVAL_DATA = {
    "greet": ["hello there", "hi"],
    "track_order": ["where is my parcel", "status of my order"],
    "oos": ["what time is it in Tokyo"],
}


@pytest.mark.slow
def test_evaluate_returns_metrics_and_writes_report_and_confusion_png(
    tiny_intent_model: TrainedModel, tmp_path: Path
) -> None:
    data = write_intents_csv(tmp_path / "test.csv", EVAL_DATA)

    result = evaluate("intent", tiny_intent_model.out, data, report_dir=tmp_path / "report")

    expected = {"accuracy", "macro_f1", "macro_recall", "weighted_f1", "n", "ms_per_message"}
    expected |= {"accuracy_without_rejection", "macro_f1_without_rejection"}
    oos_keys = {"in_scope_accuracy", "oos_precision", "oos_recall", "oos_f1"}
    oos_keys |= {"in_scope_rejection_rate", "oos_curve"}
    assert expected | oos_keys <= set(result)
    assert result["n"] == 5
    assert json.loads(json.dumps(result)) == result
    report = (tmp_path / "report" / "report.md").read_text()
    for heading in ("## Per label", "## Most confused pairs", "## Misclassified examples"):
        assert heading in report
    assert "## Out-of-scope trade-off" in report
    rates = [point["in_scope_rejection"] for point in result["oos_curve"]]
    assert rates == sorted(rates) and rates[0] == 0.0
    assert (tmp_path / "report" / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_evaluate_refuses_a_model_trained_for_the_other_task(
    tiny_intent_model: TrainedModel, tmp_path: Path
) -> None:
    data = tmp_path / "s.csv"
    data.write_text("text,sentiment\ngreat,positive\n", encoding="utf-8")

    with pytest.raises(ValueError, match="holds a model for intent, not sentiment"):
        evaluate("sentiment", tiny_intent_model.out, data, report_dir=tmp_path)


def test_evaluate_reports_a_missing_model_directory_as_bad_input(tmp_path: Path) -> None:
    data = write_intents_csv(tmp_path / "test.csv", EVAL_DATA)

    with pytest.raises(ValueError, match=r"^model: .* does not exist"):
        evaluate("intent", tmp_path / "nowhere", data)


def test_report_escapes_table_cells_and_draws_many_labels(tmp_path: Path) -> None:
    labels = [f"intent_{i:02d}" for i in range(45)]
    scored = [
        Scored(Example(f"text | {i}", label, "f.csv", i), label, labels[(i + 1) % 45], label, 0.5)
        for i, label in enumerate(labels)
    ]

    path = write_report(tmp_path, title="t", metrics={"accuracy": 0.0}, scored=scored)

    text = path.read_text()
    assert "| text \\| 0 | intent_00 | intent_01 |" in text
    assert text.count("\n| intent_") >= 45 + 10  # per-label rows and confused pairs
    assert (tmp_path / "confusion.png").stat().st_size > 10_000
