"""Fine-tuning a sequence classifier with the Hugging Face ``Trainer``.

This module knows nothing of files or model directories: it gets examples and
hyperparameters and returns the best model it found.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from retrieval.base.datasets import Example
from training.device import TrainingDevice
from training.metrics import argmax_macro_f1


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    epochs: float
    batch_size: int
    learning_rate: float
    max_length: int
    seed: int
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    # Two evaluations without a better macro-F1: on small data that is noise, not a trend
    # yet, while a third would mostly waste CPU time.
    patience: int = 2
    max_minutes: float | None = None
    # A share of the target probability spread over the other labels (0 = off).
    label_smoothing: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FitResult:
    model: Any
    epochs_run: float
    steps: int
    stopped_by: str  # "schedule", "early_stopping" or "time_budget"
    best_validation_macro_f1: float | None
    seconds: float
    resumed_from: str | None
    # Where the time budget moved the end of the learning-rate schedule (None: not moved).
    schedule_shortened_to: int | None = None
    # The step of the checkpoint returned (None without validation: the last step's weights).
    best_step: int | None = None


class EncodedExamples:
    """Tokenised examples in the map-style dataset shape the Trainer's DataLoader wants."""

    def __init__(
        self,
        tokenizer: Any,
        examples: Sequence[Example],
        label_ids: dict[str, int],
        max_length: int,
    ) -> None:
        # No padding here: the collator pads each batch to its longest row, which on short
        # customer messages is several times cheaper than padding everything to max_length.
        if not examples:
            self.rows: list[dict[str, Any]] = []
            return
        encoded = tokenizer(
            [e.text for e in examples], truncation=True, max_length=max_length, padding=False
        )
        self.rows = [
            {**{key: values[i] for key, values in encoded.items()}, "labels": label_ids[e.label]}
            for i, e in enumerate(examples)
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


@contextlib.contextmanager
def transformers_verbosity(quiet: bool) -> Iterator[None]:
    """Silence transformers' info/warning logs and weight-loading bars when ``quiet``."""
    from transformers.utils import logging as hf_logging

    if not quiet:
        yield
        return
    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def load_base_model(base_model: Path, labels: Sequence[str]) -> Any:
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        str(base_model),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        local_files_only=True,
        # Lets a previous Frontdesk model (another label set) serve as the base: its head
        # is replaced instead of failing on the shape mismatch.
        ignore_mismatched_sizes=True,
    )


def fit(
    *,
    base_model: Path,
    tokenizer: Any,
    labels: Sequence[str],
    train: Sequence[Example],
    validation: Sequence[Example],
    hyper: Hyperparameters,
    device: TrainingDevice,
    checkpoints: Path,
    resume: bool,
    quiet: bool,
    peft: str | None = None,
) -> FitResult:
    """Fine-tune ``base_model`` and return the checkpoint with the best validation macro-F1.

    With no ``validation`` (a refit on every example, training.refit) nothing is evaluated
    or saved along the way: the run trains its planned epochs and returns the last weights.
    """
    from transformers import (
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.trainer_utils import get_last_checkpoint

    from training.callbacks import TimeBudget

    set_seed(hyper.seed)
    label_ids = {label: i for i, label in enumerate(labels)}
    model = load_base_model(base_model, labels)
    if peft == "lora":
        model = _with_lora(model)
    train_set = EncodedExamples(tokenizer, train, label_ids, hyper.max_length)
    validation_set = EncodedExamples(tokenizer, validation, label_ids, hyper.max_length)
    selecting = len(validation_set) > 0
    steps_per_epoch = max(1, -(-len(train_set) // hyper.batch_size))

    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=hyper.epochs,
        per_device_train_batch_size=hyper.batch_size,
        per_device_eval_batch_size=hyper.batch_size * 2,
        **_length_grouping(),
        learning_rate=hyper.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=hyper.warmup_ratio,  # a float below 1 is a share of all steps
        weight_decay=hyper.weight_decay,
        label_smoothing_factor=hyper.label_smoothing,
        eval_strategy="epoch" if selecting else "no",
        save_strategy="epoch" if selecting else "no",
        # With load_best_model_at_end the Trainer keeps the best checkpoint plus the latest
        # (for resuming), so disk use stays at two checkpoints.
        save_total_limit=1,
        load_best_model_at_end=selecting,
        metric_for_best_model="macro_f1" if selecting else None,
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 4),
        seed=hyper.seed,
        data_seed=hyper.seed,
        bf16=device.precision == "bf16",
        fp16=device.precision == "fp16",
        use_cpu=not device.on_gpu,
        dataloader_pin_memory=device.on_gpu,
        disable_tqdm=quiet,
        log_level="error" if quiet else "passive",
        report_to="none",  # TensorBoard is attached below, with an explicit log directory
    )
    budget = TimeBudget(hyper.max_minutes * 60) if hyper.max_minutes else None
    callbacks: list[Any] = []
    if selecting:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=hyper.patience))
    if budget is not None:
        callbacks.append(budget)
    if tensorboard_available():
        callbacks.append(_tensorboard(checkpoints / "runs"))

    def compute_metrics(prediction: Any) -> dict[str, float]:
        predicted = prediction.predictions.argmax(axis=-1)
        gold = prediction.label_ids
        return {
            "macro_f1": argmax_macro_f1(list(gold), list(predicted)),
            "accuracy": float((predicted == gold).mean()),
        }

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=validation_set if selecting else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    if quiet:
        trainer.remove_callback(PrinterCallback)  # it prints every log line otherwise
    last = get_last_checkpoint(str(checkpoints)) if resume and checkpoints.is_dir() else None
    started = time.monotonic()
    # The CLI prints its result as one JSON line on stdout; the Trainer's log lines go to
    # stderr with the progress bars so that stdout stays machine-readable.
    with contextlib.redirect_stdout(sys.stderr):
        trainer.train(resume_from_checkpoint=last)
    seconds = time.monotonic() - started
    state = trainer.state
    if budget is not None and budget.exceeded:
        stopped_by = "time_budget"
    elif state.global_step < state.max_steps:
        stopped_by = "early_stopping"
    else:
        stopped_by = "schedule"
    trained: Any = trainer.model
    if peft == "lora":
        # Serving loads plain transformers models; fold the adapters into the weights.
        trained = trained.merge_and_unload()
    return FitResult(
        model=trained,
        epochs_run=float(state.epoch or 0.0),
        steps=int(state.global_step),
        stopped_by=stopped_by,
        best_validation_macro_f1=state.best_metric,
        seconds=seconds,
        resumed_from=last,
        schedule_shortened_to=budget.planned_end if budget is not None else None,
        best_step=_best_step(state) if selecting else None,
    )


def _best_step(state: Any) -> int | None:
    """The step of the checkpoint load_best_model_at_end chose (transformers before 4.47
    names it only in the checkpoint's directory name)."""
    step = getattr(state, "best_global_step", None)
    if step:
        return int(step)
    tail = Path(state.best_model_checkpoint or "").name.rpartition("-")[2]
    return int(tail) if tail.isdigit() else None


def _length_grouping() -> dict[str, Any]:
    """TrainingArguments that batch rows of similar length together (shuffled batches).

    Batches are padded to their longest row, and customer messages vary so much in length
    that random batches are mostly padding while length-grouped ones are nearly all real
    tokens. On the CPU a training step then costs far less, so more epochs fit in a time
    budget. transformers 5 names the option ``train_sampling_strategy``, 4.x
    ``group_by_length``.
    """
    from transformers import TrainingArguments

    names = {f.name for f in dataclass_fields(TrainingArguments)}
    if "train_sampling_strategy" in names:
        return {"train_sampling_strategy": "group_by_length"}
    if "group_by_length" in names:
        return {"group_by_length": True}
    return {}


def _with_lora(model: Any) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    # peft picks the attention projections for known families (query/value for BERT) and
    # keeps the new classification head fully trainable for SEQ_CLS.
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=16, lora_alpha=32, lora_dropout=0.1)
    with warnings.catch_warnings():
        # peft asks transformers 5 for is_gradient_checkpointing, which it renamed; the
        # answer is the same, only the name is deprecated.
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing", category=FutureWarning
        )
        return get_peft_model(model, config)


def _tensorboard(log_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))
