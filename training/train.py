"""``frontdesk train``: read data, fine-tune, write the calibrated model directory.

The jobs live in their own modules: :mod:`training.settings` (what can be asked, the
defaults), :mod:`training.finetune` (the Trainer run), :mod:`training.write` (the model
directory, calibrated on what serving loads) and :mod:`training.ngrams` (the n-gram model
fused with the encoder). This module reads and checks the data and runs them in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.base import modeldir
from retrieval.base.datafiles import DataFileError
from retrieval.base.datasets import (
    Example,
    check_examples,
    deduplicate,
    find_conflicts,
    fingerprint,
    label_order,
    load_examples,
)
from retrieval.base.modeldir import RUN_NAME
from retrieval.base.nlu_entities import load_entity_data
from training.settings import (
    TrainSettings,
    base_model_path,
    check_peft,
    default_learning_rate,
    default_max_length,
    default_patience,
    default_recipe,
    plans_refit,
)

if TYPE_CHECKING:
    from training.device import TrainingDevice
    from training.entities import EntityJob
    from training.finetune import FitResult, Hyperparameters
    from training.refit import Refit
    from training.split import Split

__all__ = ["TrainSettings", "train"]

MAX_LISTED_CONFLICTS = 20


def train(settings: TrainSettings) -> dict[str, Any]:
    """Fine-tune a classifier as ``settings`` say and write its model directory.

    Returns a JSON-serialisable summary (counts, the chosen hyperparameters, validation
    metrics, the threshold, data warnings). Bad input raises DataFileError or ValueError.
    Checkpoints go to ``.{out.name}.checkpoints`` next to ``out``; they are deleted when
    the model directory is written and kept when training fails or is interrupted, so that
    ``resume=True`` can continue from the last one.
    """
    from training.device import training_device

    started = time.monotonic()
    modeldir.check_out_dir(settings.out)
    check_peft(settings.peft)
    with _offline(), training_device() as device, _quiet(settings.quiet):
        return _train(settings, device, started)


def _train(settings: TrainSettings, device: TrainingDevice, started: float) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from training.finetune import Hyperparameters, fit
    from training.write import new_card, write_model_dir

    say = _reporter(settings.quiet)
    examples = load_examples(
        settings.data,
        text_column=settings.text_column,
        label_column=settings.label_column,
        task=settings.task,
    )
    warnings = check_examples(examples)
    report_conflicts(examples, say)
    for message in warnings:
        say(message)
    split = _split(settings, deduplicate(examples))
    # Read before the long fine-tuning, so that a malformed annotation stops the run early.
    entities = _entity_job(settings, split, say)
    labels = label_order(settings.task, [*split.train, *split.validation])
    if len(labels) < 2:
        raise ValueError(
            f"data: every example is labelled {labels[0]!r}; a classifier needs at least two labels"
        )
    say(
        f"{len(split.train)} training and {len(split.validation)} validation examples "
        f"({split.method} split), {len(labels)} labels"
    )

    base_model = base_model_path(settings.base_model)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    max_length = settings.max_length or default_max_length(tokenizer, [e.text for e in split.train])
    planned_at = time.monotonic()
    recipe = default_recipe(
        settings, len(split.train), on_gpu=device.on_gpu, spent_seconds=planned_at - started
    )
    hyper = Hyperparameters(
        epochs=recipe.epochs,
        patience=default_patience(recipe.epochs),
        batch_size=recipe.batch_size,
        learning_rate=settings.learning_rate or default_learning_rate(base_model),
        max_length=max_length,
        seed=settings.seed,
        max_minutes=None if recipe.train_seconds is None else recipe.train_seconds / 60.0,
        label_smoothing=recipe.label_smoothing,
    )
    refit = plans_refit(settings, len(split.train)) and bool(split.validation)
    if refit and hyper.max_minutes is not None:
        from training.refit import selection_share

        share = selection_share(len(split.train), len(split.train) + len(split.validation))
        hyper = replace(hyper, max_minutes=hyper.max_minutes * share)
    plan = (
        f"as many epochs as {hyper.max_minutes:.1f} minutes fit (at most {hyper.epochs:g})"
        if recipe.fills_budget and hyper.max_minutes is not None
        else f"{hyper.epochs:g} epochs"
    )
    if refit:
        plan += ", then the same on all examples (refit)"
    threads = f", {device.cpu_threads} threads" if device.cpu_threads else ""
    say(
        f"training on {device.device} ({device.precision}{threads}): {plan}, "
        f"batch {hyper.batch_size}, lr {hyper.learning_rate:g}, max_length {hyper.max_length}"
        + (f", label smoothing {hyper.label_smoothing:g}" if hyper.label_smoothing else "")
    )
    data_fingerprint = fingerprint(examples)
    checkpoints = modeldir.checkpoints_dir(settings.out)
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
        device=device,
        checkpoints=checkpoints,
        resume=settings.resume,
        quiet=settings.quiet,
        peft=settings.peft,
    )
    refitted = None
    if refit:
        budget_end = None if recipe.train_seconds is None else planned_at + recipe.train_seconds
        refitted = _refit(
            settings, base_model, tokenizer, labels, split, hyper, result, device, budget_end, say
        )
    if rank != 0:
        # Under torchrun every process trains; only the first writes the model directory.
        return {"task": settings.task, "out": str(settings.out), "rank": rank}
    steps_per_epoch = max(1, -(-len(split.train) // hyper.batch_size))
    planned = hyper.epochs
    if result.schedule_shortened_to is not None:
        planned = round(result.schedule_shortened_to / steps_per_epoch, 2)
    record = {
        "settings": settings.as_dict(),
        "hyperparameters": hyper.as_dict(),
        "device": device.device,
        "precision": device.precision,
        "cpu_threads": device.cpu_threads,
        "peft": settings.peft,
        "train_examples": len(split.train),
        "validation_examples": len(split.validation),
        "validation_split": split.method,
        "epochs_planned": planned,
        "epochs_run": round(result.epochs_run, 3),
        "steps": result.steps,
        "stopped_by": result.stopped_by,
        "schedule_shortened_to": result.schedule_shortened_to,
        "resumed_from": result.resumed_from,
        "train_seconds": round(result.seconds, 1),
        "refit": refitted.record if refitted else None,
        "versions": _versions(),
    }
    card = new_card(settings, labels, hyper.max_length, record, data_fingerprint)
    written = write_model_dir(
        settings,
        result.model,
        tokenizer,
        card,
        split.train,
        split.validation,
        entities,
        refit=refitted,
    )
    # Only a model directory that made it into place makes the checkpoints unnecessary.
    modeldir.discard(checkpoints)
    summary = {
        "task": settings.task,
        "out": str(settings.out),
        "labels": len(labels),
        "train_examples": len(split.train),
        "validation_examples": len(split.validation),
        "validation_split": split.method,
        "device": device.device,
        "cpu_threads": device.cpu_threads,
        "epochs": hyper.epochs,
        "epochs_planned": planned,
        "epochs_run": round(result.epochs_run, 3),
        "stopped_by": result.stopped_by,
        "refit": refitted.record if refitted else None,
        "batch_size": hyper.batch_size,
        "learning_rate": hyper.learning_rate,
        "max_length": hyper.max_length,
        **written,
        "warnings": warnings,
        "seconds": round(time.monotonic() - started, 1),
    }
    if "entities" in written:
        for message in written["entities"]["training"]["warnings"]:
            say(message)
        figures = written["entities"]["validation"]
        say(
            f"entities: validation precision {figures['precision']:.3f}, recall "
            f"{figures['recall']:.3f}, F1 {figures['f1']:.3f} ({figures['support']} entities)"
        )
    say(f"model written to {settings.out} in {summary['seconds']} s")
    return summary


def _refit(
    settings: TrainSettings,
    base_model: Path,
    tokenizer: Any,
    labels: Sequence[str],
    split: Split,
    hyper: Hyperparameters,
    selection: FitResult,
    device: TrainingDevice,
    budget_end: float | None,
    say: Any,
) -> Refit:
    """Train the served model again on every example, for the epochs the selection run
    chose (training.refit), within what is left of the budget."""
    from training.finetune import fit
    from training.refit import Refit, refit_epochs

    examples = [*split.train, *split.validation]
    epochs = refit_epochs(selection.best_step, selection.steps, selection.epochs_run)
    left = None if budget_end is None else max(1.0, budget_end - time.monotonic()) / 60.0
    say(f"refit: {epochs:g} epochs on all {len(examples)} examples")
    result = fit(
        base_model=base_model,
        tokenizer=tokenizer,
        labels=labels,
        train=examples,
        validation=[],
        hyper=replace(hyper, epochs=epochs, max_minutes=left),
        device=device,
        # Its own directory: a resumed run finds the selection run's checkpoints as they
        # were, and trains the refit again from the start.
        checkpoints=modeldir.checkpoints_dir(settings.out) / "refit",
        resume=False,
        quiet=settings.quiet,
        peft=settings.peft,
    )
    record = {
        "examples": len(examples),
        "epochs": epochs,
        "epochs_run": round(result.epochs_run, 3),
        "steps": result.steps,
        "stopped_by": result.stopped_by,
        "train_seconds": round(result.seconds, 1),
    }
    return Refit(model=result.model, examples=examples, record=record)


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


def _entity_job(settings: TrainSettings, split: Split, say: Any) -> EntityJob | None:
    """The entity extractor to train beside an intent model whose data annotates entities."""
    if settings.task != "intent":
        return None
    from training.entities import plan_entities

    data = load_entity_data(settings.data)
    given = settings.validation_data
    job = plan_entities(
        data, split.train, split.validation, load_entity_data(given) if given else None
    )
    if job is not None:
        say(
            f"entities: {', '.join(data.entity_names)} from "
            f"{sum(1 for e in job.train if e.entities)} annotated examples"
        )
    return job


def report_conflicts(examples: Sequence[Example], say: Any) -> None:
    """One text under two labels is trained as written, as Rasa trains it (the model learns
    that it could be either), and reported so that a person can decide."""
    conflicts = find_conflicts(examples)
    if conflicts:
        listed = [c.describe().replace("error: ", "", 1) for c in conflicts[:MAX_LISTED_CONFLICTS]]
        more = len(conflicts) - len(listed)
        say(
            f"warning: {len(conflicts)} text(s) carry more than one label; training keeps "
            "them all, as Rasa does:\n  "
            + "\n  ".join(listed)
            + (f"\n  ... and {more} more" if more else "")
        )


def _prepare_checkpoints(
    checkpoints: Path, settings: TrainSettings, labels: Sequence[str], data: str, say: Any
) -> None:
    """Start clean, or check that the checkpoints to resume from belong to this data."""
    run_file = checkpoints / RUN_NAME
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
    modeldir.discard(checkpoints)
    checkpoints.mkdir(parents=True)
    modeldir.write_json(run_file, run)


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
def _quiet(quiet: bool) -> Iterator[None]:
    from training.finetune import transformers_verbosity

    with transformers_verbosity(quiet):
        yield
