"""training.refit: how the refit run is planned from the run on the split."""

from __future__ import annotations

import pytest

from training.refit import refit_epochs, selection_share


def test_the_refit_trains_as_many_epochs_as_the_chosen_checkpoint_had() -> None:
    # BANKING77 at batch 32: 266 steps an epoch; 12 epochs run, the best checkpoint at 9.
    assert refit_epochs(best_step=2394, steps_run=3192, epochs_run=12.0) == 9.0
    # A budget that stopped mid-epoch: the partial epoch counts, rounded up to 1/100.
    assert refit_epochs(best_step=2500, steps_run=2500, epochs_run=9.398) == 9.4


def test_without_a_chosen_checkpoint_the_refit_trains_what_the_split_run_trained() -> None:
    assert refit_epochs(best_step=None, steps_run=532, epochs_run=2.0) == 2.0
    assert refit_epochs(best_step=None, steps_run=3, epochs_run=0.01) == 1.0  # at least one


def test_the_budget_splits_as_the_examples_do() -> None:
    # The split run trains 85% of the examples, the refit all of them, for the same epochs.
    assert selection_share(8502, 10003) == pytest.approx(8502 / 18505)
    assert selection_share(0, 0) == 0.0
