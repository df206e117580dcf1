"""A candidate intent model from the training data plus staff's reviewed corrections.

``frontdesk retrain`` exports the corrections from the store and runs this module as a
program (``python -m training.retrain``): serving code never imports ``training/``.

- The corrections are split once, by a hash of each text, into a training share and a
  held-out share (``holdout_share``) that the gate scores both models on; the same text
  always lands on the same side, so a correction is never trained on in one run and judged
  on in the next.
- The candidate trains on the original data (a file or a folder, copied as it is: Rasa YAML
  keeps its entity annotations) plus the training share, with the serving model's recorded
  settings (max length, batch size, learning rate, n-gram fusion) and a fixed seed.
- By default the candidate trains afresh from the serving model's own base. With
  ``warm_start`` (and every label already known to the serving model) it starts from the
  serving model's weights instead: a couple of epochs (``warm_start_epochs``) at a share of
  its learning rate (``warm_start_lr_factor``), much faster, but the candidate's validation
  split then holds rows the serving model trained on, which skews what is calibrated on it.
  On BANKING77 (bench/learning_loop.py) a warm-started candidate no longer fused the n-gram
  model, its threshold fell from 0.13 to 0.016, and it was 0.8 points worse.
  A serving model that was refit (training.refit) has trained on every validation row, so
  nothing would be held out at all: the candidate then trains afresh, and the summary's
  ``warm_start_declined`` says why.
- The candidate is written beside the serving model (``models/intent.candidate``), with
  ``retrain.json`` (what went in) and ``corrections_holdout.csv`` (for the gate).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retrieval.base import modeldir
from retrieval.base.datasets import Example, load_examples
from retrieval.base.labels import FALLBACK_INTENT, OOS_LABELS

RETRAIN_RECORD = "retrain.json"
CORRECTIONS_HOLDOUT = "corrections_holdout.csv"
OUT_OF_SCOPE = "out_of_scope"


def candidate_dir(serving: Path) -> Path:
    """Where the candidate of ``serving`` is written: beside it."""
    return serving.with_name(serving.name + ".candidate")


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def held_out(text: str, share: float) -> bool:
    """Whether a correction is held out for the gate: a fixed function of its text."""
    digest = hashlib.sha256(normalised(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def read_corrections(path: Path) -> list[Example]:
    """The exported corrections (``text,intent``); the latest label of a text wins."""
    if not path.is_file() or path.stat().st_size == 0:
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and ("text" not in rows[0] or "intent" not in rows[0]):
        raise ValueError(f"corrections: {path} needs the columns text,intent")
    latest: dict[str, Example] = {}
    for line, row in enumerate(rows, start=2):
        text, label = (row.get("text") or "").strip(), (row.get("intent") or "").strip()
        if not text or not label:
            continue
        # The export neutralises spreadsheet formulas with a leading apostrophe.
        if text.startswith("'") and text[1:2] in ("=", "+", "-", "@"):
            text = text[1:]
        if label in OOS_LABELS or label == FALLBACK_INTENT:
            label = OUT_OF_SCOPE
        latest[normalised(text)] = Example(text, label, str(path), line)
    return list(latest.values())


def write_examples(path: Path, examples: Sequence[Example]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["text", "intent"])
        for example in examples:
            writer.writerow([example.text, example.label])


def serving_settings(serving: Path) -> dict[str, Any]:
    """What the serving model was trained with (its card), for the candidate to repeat."""
    card = modeldir.read(serving)
    training = dict(card.training or {})
    settings = dict(training.get("settings") or {})
    hyper = dict(training.get("hyperparameters") or {})
    # A warm-started model records the model it started from; its own base is the one
    # its first ancestor was trained from, which retrain.json carries forward.
    record = serving / RETRAIN_RECORD
    origin = json.loads(record.read_text()).get("base_model") if record.is_file() else None
    return {
        "labels": tuple(card.labels),
        "base_model": origin or settings.get("base_model"),
        "max_length": hyper.get("max_length") or settings.get("max_length"),
        "batch_size": hyper.get("batch_size") or settings.get("batch_size"),
        "learning_rate": hyper.get("learning_rate") or settings.get("learning_rate"),
        "sparse": settings.get("sparse", True),
        "label_smoothing": settings.get("label_smoothing"),
        "refit": bool(training.get("refit")),
    }


REFIT_DECLINE = (
    "the serving model was refit on every example, its validation split included, so a "
    "candidate started from it would be calibrated on rows it has already learned (a refit "
    "model calibrated that way turned away 99.5% of BANKING77's test questions); trained "
    "afresh from the base instead. To warm-start, train the serving model with "
    "'frontdesk train intent --no-refit'"
)


def retrain(
    *,
    serving: Path,
    data: Path,
    corrections: Path,
    out: Path | None = None,
    holdout_share: float = 0.2,
    warm_start_epochs: float = 2.0,
    warm_start_lr_factor: float = 0.25,
    max_minutes: float | None = None,
    seed: int = 42,
    warm_start: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train the candidate; returns a JSON-serialisable summary (also in retrain.json)."""
    from training.train import TrainSettings, train

    started = time.monotonic()
    out = out or candidate_dir(serving)
    if not (serving / modeldir.CARD_NAME).is_file():
        raise ValueError(
            f"serving: {serving} is not a model directory (no {modeldir.CARD_NAME}); "
            "train one first with 'frontdesk train intent'"
        )
    if not data.exists():
        raise ValueError(f"data: {data} does not exist; point [learning] training_data at it")
    if not 0 <= holdout_share < 1:
        raise ValueError(f"holdout_share: expected a number from 0 to below 1, got {holdout_share}")
    reviewed = read_corrections(corrections)
    trained_on = [c for c in reviewed if not held_out(c.text, holdout_share)]
    kept_back = [c for c in reviewed if held_out(c.text, holdout_share)]
    base = serving_settings(serving)
    # The original data and the corrections, side by side in one folder the trainer reads
    # whole; hidden, so that nothing else mistakes it for a project's data.
    work = out.with_name(f".{out.name}.data")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if data.is_dir():
        shutil.copytree(data, work / "data")
    else:
        (work / "data").mkdir()
        shutil.copy2(data, work / "data" / data.name)
    if trained_on:
        write_examples(work / "corrections.csv", trained_on)
    labels = {e.label for e in load_examples(work, task="intent")}
    warm = warm_start and labels <= set(base["labels"]) | {OUT_OF_SCOPE}
    declined = REFIT_DECLINE if warm and base["refit"] else None
    warm = warm and declined is None
    if declined and not quiet:
        print(f"frontdesk retrain: no warm start: {declined}", file=sys.stderr)
    if warm and (serving / modeldir.HF_CONFIG_NAME).is_file():
        base_model: Path | None = serving
        epochs: float | None = warm_start_epochs
        learning_rate = (
            base["learning_rate"] * warm_start_lr_factor if base["learning_rate"] else None
        )
    else:
        warm = False
        base_model = Path(base["base_model"]) if base["base_model"] else None
        epochs = None
        learning_rate = base["learning_rate"]
    if out.exists():
        shutil.rmtree(out)
    settings = TrainSettings(
        task="intent",
        data=work,
        out=out,
        base_model=base_model,
        epochs=epochs,
        max_minutes=max_minutes,
        batch_size=base["batch_size"],
        learning_rate=learning_rate,
        max_length=base["max_length"],
        label_smoothing=base["label_smoothing"],
        sparse=bool(base["sparse"]),
        seed=seed,
        quiet=quiet,
    )
    result = train(settings)
    write_examples(out / CORRECTIONS_HOLDOUT, kept_back)
    summary = {
        "candidate": str(out),
        "serving": str(serving),
        "data": str(data),
        "corrections": len(reviewed),
        "corrections_trained": len(trained_on),
        "corrections_held_out": len(kept_back),
        "warm_start": warm,
        "warm_start_declined": declined,
        "epochs": result.get("epochs"),
        "learning_rate": result.get("learning_rate"),
        "epochs_run": result.get("epochs_run"),
        "train_examples": result.get("train_examples"),
        "seed": seed,
        "base_model": base["base_model"],
        "seconds": round(time.monotonic() - started, 1),
    }
    modeldir.write_json(out / RETRAIN_RECORD, summary)
    shutil.rmtree(work, ignore_errors=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.retrain", description=__doc__)
    parser.add_argument("--serving", type=Path, required=True, help="the serving model dir")
    parser.add_argument("--data", type=Path, required=True, help="its training data")
    parser.add_argument("--corrections", type=Path, required=True, help="CSV text,intent")
    parser.add_argument("--out", type=Path, help="default: beside the serving model")
    parser.add_argument("--holdout-share", type=float, default=0.2)
    parser.add_argument("--warm-start-epochs", type=float, default=2.0)
    parser.add_argument("--warm-start-lr-factor", type=float, default=0.25)
    parser.add_argument("--max-minutes", type=float)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--warm-start", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        summary = retrain(
            serving=args.serving,
            data=args.data,
            corrections=args.corrections,
            out=args.out,
            holdout_share=args.holdout_share,
            warm_start_epochs=args.warm_start_epochs,
            warm_start_lr_factor=args.warm_start_lr_factor,
            max_minutes=args.max_minutes,
            seed=args.seed,
            warm_start=args.warm_start,
            quiet=args.quiet,
        )
    except ValueError as exc:
        print(f"frontdesk retrain: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
