"""The time budget and the model-directory swap (training.callbacks, training.modeldir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.modeldir import check_out_dir, make_staging_dir, publish


def test_time_budget_stops_training_once_exceeded() -> None:
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from training.callbacks import TimeBudget

    budget = TimeBudget(seconds=0)
    control = TrainerControl()
    budget.on_train_begin(TrainingArguments(output_dir="unused"), TrainerState(), control)

    budget.on_step_end(None, TrainerState(), control)

    assert control.should_training_stop and budget.exceeded


def test_time_budget_lets_training_run_while_time_is_left() -> None:
    from transformers import TrainerControl, TrainerState

    from training.callbacks import TimeBudget

    budget = TimeBudget(seconds=3600)
    control = TrainerControl()

    budget.on_step_end(None, TrainerState(), control)

    assert not control.should_training_stop and not budget.exceeded


def test_publish_replaces_an_older_model_and_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "frontdesk.json").write_text(json.dumps({"old": True}))
    staging = make_staging_dir(out)
    (staging / "frontdesk.json").write_text(json.dumps({"old": False}))

    publish(staging, out)

    assert json.loads((out / "frontdesk.json").read_text()) == {"old": False}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert out.stat().st_mode & 0o755 == 0o755  # readable by a server running as another user


def test_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model").write_text("x")

    with pytest.raises(ValueError, match=r"^out: .* is a file"):
        check_out_dir(tmp_path / "model")
