"""Trainer callbacks Frontdesk adds to the Hugging Face ones."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

# Re-plan the schedule every this many steps once the step rate is known.
REPLAN_EVERY_STEPS = 20
# Aim to finish the decay by this share of the budget: the last epoch's evaluation and
# checkpoint, the calibration and the report still have to fit after it.
BUDGET_SHARE_FOR_STEPS = 0.93
# Move a shortened schedule's end only when the new estimate differs by more than this.
REPLAN_TOLERANCE = 0.03


class TimeBudget(TrainerCallback):
    """Stops training once ``seconds`` of wall time have passed (``--max-minutes``).

    It only raises ``should_training_stop``: the Trainer then ends the epoch early, and the
    usual end-of-epoch evaluation and checkpoint still run, so the best-checkpoint choice
    sees the last weights too.

    When the measured step rate says the planned schedule will not fit, the rest of the
    learning-rate schedule (what is left of the warm-up, then the decay) is compressed in
    time to end when the budget does, and training stops there. Cutting a linear decay off
    at, say, half the peak rate leaves the weights noisier than a decay that completes;
    BANKING77 on a busy 2-core CPU is the case this is for. Compressing rather than drawing
    a line down from the current rate matters when the re-plan comes during the warm-up: a
    line from there would never reach the peak rate, and the model would train at a small
    fraction of the intended one. The end is re-estimated as the step rate
    changes, but never moved past the planned schedule.
    """

    def __init__(self, seconds: float, *, fit_schedule: bool = True) -> None:
        self.seconds = seconds
        self.fit_schedule = fit_schedule
        self.started = time.monotonic()
        self.first_step = 0
        self.exceeded = False
        self.planned_end: int | None = None  # the step the shortened schedule ends at

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.started = time.monotonic()
        self.first_step = int(state.global_step or 0)  # above 0 when resuming
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        elapsed = time.monotonic() - self.started
        if elapsed >= self.seconds:
            self.exceeded = True
            control.should_training_stop = True
            return control
        step = int(state.global_step or 0)
        if self.planned_end is not None and step >= self.planned_end:
            self.exceeded = True
            control.should_training_stop = True
            return control
        done = step - self.first_step
        scheduler = kwargs.get("lr_scheduler")
        if self.fit_schedule and scheduler is not None and done and done % REPLAN_EVERY_STEPS == 0:
            self._replan(scheduler, step, int(state.max_steps or 0), elapsed / done, elapsed)
        return control

    def _replan(
        self, scheduler: Any, step: int, max_steps: int, per_step: float, elapsed: float
    ) -> None:
        """Make the schedule end when the budget does if ``max_steps`` would overrun it."""
        # accelerate may wrap the scheduler; the multipliers live on the LambdaLR inside.
        scheduler = getattr(scheduler, "scheduler", scheduler)
        lambdas = getattr(scheduler, "lr_lambdas", None)
        if not lambdas or per_step <= 0 or max_steps <= 0:
            return
        steps_left = int((self.seconds * BUDGET_SHARE_FOR_STEPS - elapsed) / per_step)
        end = min(max_steps, step + max(1, steps_left))
        current_end = self.planned_end or max_steps
        if self.planned_end is None and end >= current_end:
            return  # the planned schedule fits
        # Follow the step rate both ways (a busy machine speeds up and slows down), but not
        # for every small wobble, and never past the planned schedule.
        if abs(end - current_end) <= max(1, REPLAN_TOLERANCE * current_end):
            return
        self.planned_end = end
        scheduler.lr_lambdas = [shortened(fn, step, current_end, end) for fn in lambdas]


def shortened(
    schedule: Callable[[int], float], anchor: int, old_end: int, new_end: int
) -> Callable[[int], float]:
    """``schedule`` up to step ``anchor``; after it, the rest of ``schedule`` (which ended
    at ``old_end``) played faster so that it ends at ``new_end`` (a LambdaLR multiplier)."""
    stretch = (old_end - anchor) / max(1, new_end - anchor)

    def factor(step: int) -> float:
        if step <= anchor:
            return schedule(step)
        return schedule(min(old_end, round(anchor + (step - anchor) * stretch)))

    return factor
