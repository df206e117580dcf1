"""The time budget and the model-directory swap (training.callbacks, retrieval.base.modeldir)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from retrieval.base.modeldir import check_out_dir, make_staging_dir, publish


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


def budget_behind_schedule(warmup_steps: int) -> tuple[Any, Any, Any, Any, Any]:
    """A 100 s budget, 1000 planned steps, and 10 s already gone: 0.5 s a step once
    ``REPLAN_EVERY_STEPS`` are done, so only about 160 steps fit."""
    import torch
    from transformers import TrainerControl, TrainerState, get_linear_schedule_with_warmup

    from training.callbacks import TimeBudget

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, num_training_steps=1000)
    budget = TimeBudget(seconds=100)
    state, control = TrainerState(), TrainerControl()
    state.max_steps = 1000
    budget.on_train_begin(None, state, control)
    budget.started -= 10
    return optimizer, scheduler, budget, state, control


def test_time_budget_shortens_the_schedule_to_end_within_the_budget() -> None:
    from training.callbacks import REPLAN_EVERY_STEPS

    optimizer, scheduler, budget, state, control = budget_behind_schedule(warmup_steps=0)
    for _ in range(REPLAN_EVERY_STEPS):
        optimizer.step()
        scheduler.step()
    state.global_step = REPLAN_EVERY_STEPS
    before = scheduler.lr_lambdas[0](REPLAN_EVERY_STEPS)

    budget.on_step_end(None, state, control, lr_scheduler=scheduler)

    end = budget.planned_end
    assert end is not None and 150 < end < 200  # (100 s * 0.93 - 10 s) / 0.5 s per step
    factor = scheduler.lr_lambdas[0]
    assert factor(REPLAN_EVERY_STEPS) == before  # no jump where it was replanned
    assert factor(end) == 0.0 and 0 < factor((REPLAN_EVERY_STEPS + end) // 2) < before
    assert not control.should_training_stop

    state.global_step = 2 * REPLAN_EVERY_STEPS  # the machine got faster: 40 steps in 12 s
    budget.started -= 2
    at_40 = factor(state.global_step)
    budget.on_step_end(None, state, control, lr_scheduler=scheduler)

    longer = budget.planned_end
    assert longer is not None and 300 < longer < 320  # (93 s - 12 s) / 0.3 s per step
    assert scheduler.lr_lambdas[0](state.global_step) == at_40
    state.global_step = end = longer
    budget.on_step_end(None, state, control, lr_scheduler=scheduler)
    assert control.should_training_stop and budget.exceeded


def test_time_budget_replanned_during_warmup_still_reaches_the_peak_rate() -> None:
    from training.callbacks import REPLAN_EVERY_STEPS

    _, scheduler, budget, state, control = budget_behind_schedule(warmup_steps=100)
    state.global_step = REPLAN_EVERY_STEPS

    budget.on_step_end(None, state, control, lr_scheduler=scheduler)

    end = budget.planned_end
    assert end is not None and end < 200
    factor = scheduler.lr_lambdas[0]
    rates = [factor(step) for step in range(REPLAN_EVERY_STEPS, end + 1)]
    assert max(rates) > 0.95, "the warm-up still climbs to the full learning rate"
    assert rates[0] == pytest.approx(REPLAN_EVERY_STEPS / 100) and rates[-1] == 0.0


def test_time_budget_leaves_a_schedule_that_fits_alone() -> None:
    import torch
    from transformers import TrainerControl, TrainerState, get_linear_schedule_with_warmup

    from training.callbacks import REPLAN_EVERY_STEPS, TimeBudget

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, num_training_steps=100)
    original = scheduler.lr_lambdas[0]
    budget = TimeBudget(seconds=3600)
    state = TrainerState()
    state.max_steps, state.global_step = 100, REPLAN_EVERY_STEPS

    budget.on_step_end(None, state, TrainerControl(), lr_scheduler=scheduler)

    assert budget.planned_end is None and scheduler.lr_lambdas[0] is original


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
