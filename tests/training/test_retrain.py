"""training.retrain: a candidate from the training data plus staff's corrections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.conftest import TrainedModel
from training.retrain import candidate_dir, held_out, read_corrections, retrain


def test_a_correction_is_held_out_by_its_text_alone() -> None:
    texts = [f"message number {n}" for n in range(2000)]
    kept = [t for t in texts if held_out(t, 0.2)]
    assert 0.17 < len(kept) / len(texts) < 0.23
    assert kept == [t for t in texts if held_out(t.upper() + "  ", 0.2)], "case and spacing"
    assert not any(held_out(t, 0.0) for t in texts)


def test_the_latest_correction_of_a_text_wins_and_export_quoting_is_undone(tmp_path: Path) -> None:
    path = tmp_path / "corrections.csv"
    path.write_text(
        "text,intent\nmy card,lost_card\nMy  card,card_arrival\n'=1+1,oos\n", encoding="utf-8"
    )
    rows = read_corrections(path)
    assert [(r.text, r.label) for r in rows] == [
        ("My  card", "card_arrival"),
        ("=1+1", "out_of_scope"),
    ]
    assert read_corrections(tmp_path / "none.csv") == []


@pytest.mark.slow
def test_retrain_starts_from_the_serving_model_and_writes_the_candidate_beside_it(
    tiny_intent_model: TrainedModel, tmp_path: Path
) -> None:
    corrections = tmp_path / "corrections.csv"
    corrections.write_text("text,intent\nhowdy,greet\nciao for now,goodbye\n", encoding="utf-8")
    summary = retrain(
        serving=tiny_intent_model.out,
        data=tiny_intent_model.data,
        corrections=corrections,
        out=tmp_path / "intent.candidate",
        holdout_share=0.0,
        warm_start=True,
        warm_start_epochs=1,
        quiet=True,
    )
    assert summary["warm_start"] is True
    assert summary["warm_start_declined"] is None
    assert (summary["corrections_trained"], summary["corrections_held_out"]) == (2, 0)
    candidate = tmp_path / "intent.candidate"
    card = json.loads((candidate / "frontdesk.json").read_text())
    assert card["training"]["settings"]["seed"] == 42
    assert card["training"]["train_examples"] > 0
    assert json.loads((candidate / "retrain.json").read_text())["corrections"] == 2
    assert not list(tmp_path.glob(".intent.candidate.data")), "the work folder is gone"
    assert candidate_dir(Path("models/intent")) == Path("models/intent.candidate")


@pytest.mark.slow
def test_a_warm_start_from_a_refit_serving_model_trains_afresh_and_says_why(
    tiny_intent_model: TrainedModel, tmp_path: Path
) -> None:
    from tests.training.conftest import tiny_settings
    from training.train import train

    serving = tmp_path / "intent"
    train(tiny_settings(tiny_intent_model.data, serving, refit=True))
    corrections = tmp_path / "corrections.csv"
    corrections.write_text("text,intent\nhowdy,greet\n", encoding="utf-8")
    summary = retrain(
        serving=serving,
        data=tiny_intent_model.data,
        corrections=corrections,
        holdout_share=0.0,
        warm_start=True,
        warm_start_epochs=1,
        quiet=True,
    )
    assert summary["warm_start"] is False
    assert "refit on every example" in summary["warm_start_declined"]
    assert "--no-refit" in summary["warm_start_declined"]
    card = json.loads((candidate_dir(serving) / "frontdesk.json").read_text())
    assert card["base_model"] != str(serving), "the candidate starts from the base, not the model"


def test_a_serving_path_without_a_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"serving: .* is not a model directory"):
        retrain(serving=tmp_path, data=tmp_path, corrections=tmp_path / "c.csv")
