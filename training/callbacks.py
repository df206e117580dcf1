"""Trainer callbacks Frontdesk adds to the Hugging Face ones."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback


class TimeBudget(TrainerCallback):
    """Stops training once ``seconds`` of wall time have passed (``--max-minutes``).

    It only raises ``should_training_stop``: the Trainer then ends the epoch early, and the
    usual end-of-epoch evaluation and checkpoint still run, so the best-checkpoint choice
    sees the last weights too.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.exceeded = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.started = time.monotonic()
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if time.monotonic() - self.started >= self.seconds:
            self.exceeded = True
            control.should_training_stop = True
        return control
