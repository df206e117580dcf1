"""BANKING77 through the CLI, exactly as a user would train and score it.

Runs, with the user's defaults and nothing of its own:

1. ``frontdesk train intent --data ../shared/data/banking77/train.csv --out WORK/model
   --max-minutes 30``
2. ``frontdesk eval intent --model WORK/model --data ../shared/data/banking77/test.csv``

and prints one JSON line of what they printed:

* ``accuracy``: what ``frontdesk serve`` would answer, a question turned into
  ``nlu_fallback`` counting as an error (the test set has no out-of-scope rows);
* ``top1_accuracy``: the top label with nothing rejected, as published BANKING77 results
  are counted;
* ``rejection_rate``: the share of (in-scope) test questions rejected;
* the training run: epochs planned and run, what stopped it, the refit on every example
  (training.refit), minutes.

``--svm`` adds a TF-IDF (word 1-2 + char_wb 2-5 grams) LinearSVC trained on the same file,
as a point of comparison; it takes no part in the model. ``--limit N`` trains on a
stratified subsample (a smoke run). Progress goes to stderr.
Usage: python bench/intent_banking77.py [--max-minutes 30] [--limit 1000] [--svm]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BANKING77 = REPO.parent / "shared" / "data" / "banking77"
FRONTDESK = [sys.executable, "-m", "bot"]
sys.path.insert(0, str(REPO))


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
    """Score with the thread count training used (busy cores: fewer threads, less waiting).
    bench/sentiment.py scores its model in-process with it."""
    import torch

    from training.device import cpu_threads

    previous = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(cpu_threads())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def frontdesk(args: list[str]) -> dict[str, Any]:
    """Run the CLI as a user would; its JSON line (its progress goes to stderr)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [*FRONTDESK, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"frontdesk {' '.join(args)} failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=BANKING77)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--limit", type=int, default=None, help="stratified subsample of train")
    parser.add_argument("--seed", type=int, default=42, help="for --limit's subsample")
    parser.add_argument("--out", type=Path, default=None, help="model dir (default: temporary)")
    parser.add_argument("--svm", action="store_true", help="add the TF-IDF SVM comparison")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    train_path, test_path = args.data_dir / "train.csv", args.data_dir / "test.csv"
    missing = [str(p) for p in (train_path, test_path) if not p.is_file()]
    if missing:
        return {"bench": "intent_banking77", "skipped": f"missing {', '.join(missing)}"}
    scratch = Path(tempfile.mkdtemp(prefix="bench-banking77-"))
    try:
        train_rows = read_rows(train_path)
        train_csv = train_path
        if args.limit is not None:
            train_rows = stratified_subsample(train_rows, args.limit, seed=args.seed)
            train_csv = write_rows(scratch / "train.csv", train_rows)
        out = args.out if args.out is not None else scratch / "model"
        if args.out is not None:
            shutil.rmtree(out, ignore_errors=True)
        log(f"frontdesk train intent on {len(train_rows)} rows, --max-minutes {args.max_minutes:g}")
        started = time.monotonic()
        trained = frontdesk(
            [
                *("train", "intent", "--data", str(train_csv), "--out", str(out)),
                *("--max-minutes", f"{args.max_minutes:g}"),
            ]
        )
        train_minutes = (time.monotonic() - started) / 60
        log("frontdesk eval intent on test.csv")
        scored = frontdesk(["eval", "intent", "--model", str(out), "--data", str(test_path)])
        result: dict[str, Any] = {
            "bench": "intent_banking77",
            "train_rows": len(train_rows),
            "test_rows": scored["n"],
            "max_minutes": args.max_minutes,
            "accuracy": round(scored["accuracy"], 4),
            "top1_accuracy": round(scored["accuracy_without_rejection"], 4),
            "rejection_rate": round(scored.get("rejection_rate", 0.0), 4),
            "macro_f1": round(scored["macro_f1_without_rejection"], 4),
            "rejection": trained.get("rejection"),
            "epochs_planned": trained.get("epochs_planned"),
            "epochs_run": trained.get("epochs_run"),
            "stopped_by": trained.get("stopped_by"),
            "refit": trained.get("refit"),
            "batch_size": trained.get("batch_size"),
            "train_minutes": round(train_minutes, 1),
            "ms_per_message": scored.get("ms_per_message"),
        }
        if args.svm:
            log("training the TF-IDF + LinearSVC comparison")
            result.update(svm_baseline(train_rows, read_rows(test_path)))
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(main()), flush=True)
