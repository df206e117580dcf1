"""BANKING77: the fine-tuned intent model against a TF-IDF linear SVM, in one run.

Trains ``training.train.train`` (the default base model unless told otherwise) on
``../shared/data/banking77/train.csv``, scores it on ``test.csv`` through
``training.evaluate.evaluate`` (which also writes its report and confusion matrix into the model
directory), and trains a TF-IDF (word 1-2 grams + char_wb 2-5 grams, sublinear tf)
LinearSVC on the same training rows as the baseline.

Accuracy figures:

* ``bert_accuracy`` / ``bert_macro_f1``: the top label of the served model, as published
  BANKING77 results are counted (the test set has no out-of-scope rows, so there is
  nothing to reject). The served model is the fine-tuned encoder with the TF-IDF n-gram
  model fused in where validation says it helps (``sparse_fusion``; retrieval.models.ngrams);
* ``bert_encoder_only_accuracy``: the fine-tuned encoder alone, without that fusion;
* ``bert_served_accuracy``: what ``frontdesk serve`` would answer, where the calibrated
  rejection threshold turns the least confident answers into ``nlu_fallback`` and those
  count as errors; ``bert_rejection_rate`` says how many.

The fine-tuned model trains on 85% of train.csv (15% is its validation split, for early
stopping and the threshold); the SVM needs no validation and gets all of it.

Prints one JSON line on stdout; progress goes to stderr. Smoke run:
``python bench/intent_banking77.py --limit 1000 --max-minutes 3``
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from retrieval.base.modeldir import CARD_NAME  # noqa: E402

DATA_DIR = REPO.parent / "shared" / "data"
BANKING77 = DATA_DIR / "banking77"
# The recipe this bench proposes for the 30-minute CPU run (everything else: train()'s
# defaults). train()'s own epoch default (enough for ~6000 examples seen, at least 2) is
# sized for the demo's few dozen examples per intent; BANKING77 has ~110 per intent and a
# 30-minute budget fits far more than 2 epochs once batches are grouped by length.
BENCH_EPOCHS = 10.0
BENCH_LABEL_SMOOTHING = 0.1
# Batch 32 rather than train()'s CPU default of 16: with length-grouped batches a step of 32
# cost 0.54 CPU-seconds and one of 16 0.38 (one thread, measured), so an epoch of 8,503
# rows costs ~144 instead of ~203 CPU-seconds and more epochs fit in the budget.
BENCH_BATCH_SIZE = 32


def log(message: str) -> None:
    print(f"[banking77] {message}", file=sys.stderr, flush=True)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The ``text,category`` rows of a BANKING77 CSV (``intent``/``label`` also accepted)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        label = next((name for name in ("category", "intent", "label") if name in fields), None)
        if "text" not in fields or label is None:
            raise ValueError(f"{path}: expected a text column and a category column, got {fields}")
        return [{"text": row["text"], "category": row[label]} for row in reader]


def stratified_subsample(
    rows: Sequence[dict[str, str]], limit: int, *, seed: int, label: str = "category"
) -> list[dict[str, str]]:
    """``limit`` rows in the label proportions of ``rows`` (every label kept, 2+ rows each).

    Every label keeps at least two rows so that training can still hold out a stratified
    validation row per label; the rest of the quota goes by proportion (largest remainders
    first), ties broken by a seeded shuffle. Order of the result: the original order.
    """
    import random

    by_label: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_label.setdefault(row[label], []).append(index)
    if limit >= len(rows):
        return list(rows)
    floor = {name: min(2, len(idx)) for name, idx in by_label.items()}
    if limit < sum(floor.values()):
        raise ValueError(
            f"--limit {limit} is too small: {len(by_label)} labels need at least "
            f"{sum(floor.values())} rows (two each)"
        )
    share = {name: limit * len(idx) / len(rows) for name, idx in by_label.items()}
    quota = {name: max(floor[name], math.floor(share[name])) for name in by_label}
    rng = random.Random(seed)
    names = sorted(by_label)
    rng.shuffle(names)
    # Hand out what is left by largest remainder; take back from the largest quotas if the
    # two-per-label floor overshot.
    order = sorted(names, key=lambda n: share[n] - math.floor(share[n]), reverse=True)
    while sum(quota.values()) < limit:
        for name in order:
            if sum(quota.values()) >= limit:
                break
            if quota[name] < len(by_label[name]):
                quota[name] += 1
    while sum(quota.values()) > limit:
        name = max(names, key=lambda n: quota[n] - floor[n])
        quota[name] -= 1
    chosen: list[int] = []
    for name in sorted(by_label):
        indices = list(by_label[name])
        rng.shuffle(indices)
        chosen.extend(indices[: quota[name]])
    return [rows[i] for i in sorted(chosen)]


def write_rows(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "category": r["category"]} for r in rows)
    return path


def svm_baseline(
    train_rows: Sequence[dict[str, str]], test_rows: Sequence[dict[str, str]]
) -> dict[str, Any]:
    """TF-IDF (word 1-2 grams + char_wb 2-5 grams, sublinear tf) and a LinearSVC."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    model = make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LinearSVC(C=1.0),
    )
    started = time.perf_counter()
    model.fit([r["text"] for r in train_rows], [r["category"] for r in train_rows])
    train_seconds = time.perf_counter() - started
    texts = [r["text"] for r in test_rows]
    gold = [r["category"] for r in test_rows]
    started = time.perf_counter()
    predicted = list(model.predict(texts))
    elapsed = time.perf_counter() - started
    return {
        "svm_accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "svm_macro_f1": round(
            float(f1_score(gold, predicted, labels=sorted(set(gold)), average="macro")), 4
        ),
        "svm_train_seconds": round(train_seconds, 2),
        "svm_ms_per_message": round(1000 * elapsed / max(1, len(texts)), 3),
    }


@contextlib.contextmanager
def scoring_threads() -> Iterator[None]:
    """Score with the thread count training used (busy cores: fewer threads, less waiting)."""
    import torch

    from training.device import cpu_threads

    previous = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(cpu_threads())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def bert_run(
    args: argparse.Namespace, train_csv: Path, test_csv: Path, out: Path
) -> dict[str, Any]:
    """Fine-tune, then score the model directory on the test file as serving would."""
    from training.evaluate import evaluate
    from training.train import TrainSettings, train

    settings = TrainSettings(
        task="intent",
        data=train_csv,
        out=out,
        base_model=args.base_model,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_length=args.max_length,
        label_smoothing=args.label_smoothing,
        seed=args.seed,
        quiet=args.quiet,
    )
    log(f"fine-tuning into {out}")
    summary = train(settings)
    card = json.loads((out / CARD_NAME).read_text(encoding="utf-8"))
    log("scoring test.csv through training.evaluate")
    with scoring_threads():
        served = evaluate("intent", out, test_csv)
        encoder_only = encoder_only_accuracy(out, test_csv)
    training_card = card["training"]
    fit_seconds = float(training_card["train_seconds"])
    examples_seen = summary["train_examples"] * float(summary["epochs_run"])
    recipe = {
        **{k: v for k, v in training_card["hyperparameters"].items() if k != "max_minutes"},
        "max_minutes": args.max_minutes,
        "epochs_run": summary["epochs_run"],
        "steps": training_card["steps"],
        "stopped_by": summary["stopped_by"],
        "schedule_shortened_to": training_card.get("schedule_shortened_to"),
        "precision": training_card["precision"],
        "cpu_threads": training_card["cpu_threads"],
        "validation_split": summary["validation_split"],
        "base_model": card["base_model"],
    }
    return {
        "bert_accuracy": round(served["accuracy_without_rejection"], 4),
        "bert_macro_f1": round(served["macro_f1_without_rejection"], 4),
        "bert_encoder_only_accuracy": encoder_only,
        "sparse_fusion": training_card.get("sparse"),
        "bert_served_accuracy": round(served["accuracy"], 4),
        "bert_rejection_rate": round(served.get("rejection_rate", 0.0), 4),
        "bert_threshold": round(float(summary["threshold"]), 4),
        "bert_validation_macro_f1": round(summary["validation"].get("macro_f1", 0.0), 4),
        "bert_train_seconds": round(fit_seconds, 1),
        "bert_total_seconds": summary["seconds"],
        "bert_ms_per_message": served["ms_per_message"],
        "bert_train_examples": summary["train_examples"],
        "bert_validation_examples": summary["validation_examples"],
        "bert_examples_per_second": round(examples_seen / fit_seconds, 1) if fit_seconds else None,
        "device": summary["device"],
        "report": served["report"],
        "recipe": recipe,
    }


def encoder_only_accuracy(model_dir: Path, test_csv: Path) -> float:
    """Top-label test accuracy of the fine-tuned encoder without the fused n-gram model."""
    from retrieval.models.classifier import TextClassifier

    classifier = TextClassifier.load(model_dir, sparse=False)
    rows = read_rows(test_csv)
    right = 0
    for start in range(0, len(rows), 64):
        chunk = rows[start : start + 64]
        probabilities = classifier.probabilities([r["text"] for r in chunk])
        right += sum(
            classifier.labels[int(p.argmax())] == r["category"]
            for p, r in zip(probabilities, chunk, strict=True)
        )
    return round(right / max(1, len(rows)), 4)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=BANKING77)
    parser.add_argument("--limit", type=int, default=None, help="stratified subsample of train")
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument(
        "--epochs",
        type=float,
        default=BENCH_EPOCHS,
        help="planned epochs; a time budget that cannot fit them shortens the schedule",
    )
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=BENCH_BATCH_SIZE)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--label-smoothing", type=float, default=BENCH_LABEL_SMOOTHING)
    parser.add_argument("--base-model", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="model dir (default: temporary)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-svm", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no training log on stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    train_path, test_path = args.data_dir / "train.csv", args.data_dir / "test.csv"
    for path in (train_path, test_path):
        if not path.is_file():
            raise SystemExit(f"missing {path} (the shared BANKING77 copy)")
    scratch = Path(tempfile.mkdtemp(prefix="bench-banking77-"))
    try:
        train_rows = read_rows(train_path)
        test_rows = read_rows(test_path)
        train_csv = train_path
        if args.limit is not None:
            train_rows = stratified_subsample(train_rows, args.limit, seed=args.seed)
            train_csv = write_rows(scratch / "train.csv", train_rows)
        log(f"{len(train_rows)} training rows, {len(test_rows)} test rows")
        result: dict[str, Any] = {
            "bench": "intent_banking77",
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
            "limit": args.limit,
            "seed": args.seed,
        }
        out = args.out if args.out is not None else scratch / "model"
        result.update(bert_run(args, train_csv, test_path, out))
        if args.out is None:
            result["report"] = None  # it lived in the temporary directory
        if not args.skip_svm:
            log("training the TF-IDF + LinearSVC baseline")
            result.update(svm_baseline(train_rows, test_rows))
            result["delta_points"] = round(
                100 * (result["bert_accuracy"] - result["svm_accuracy"]), 2
            )
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    # Anything a library prints goes to stderr: stdout carries the one JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        figures = main()
    print(json.dumps(figures), flush=True)
