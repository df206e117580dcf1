"""3-class sentiment on held-out tweets: TweetEval, optionally plus CR / SST sentences.

The shared TweetEval copy has no training split (its texts are over the snapshot limit; see
``../shared/data/sentiment_tweeteval/SOURCES.md``): only ``val`` (2,000) and ``test``
(12,284) are there. Both are pooled, and a fixed 15% stratified slice of the pool (seed
``HOLDOUT_SEED``, whatever ``--seed`` says) is held out and never trained on; every figure is
computed on it. Scores are therefore not comparable with the TweetEval leaderboard, whose
test tweets are in our training pool.

Extra training data (``--extra cr,sst``), all after removing any text that is also held out:

* ``cr``: customer-review sentences (Hu & Liu 2004), 0/1 = negative/positive, no neutral;
* ``sst``: SST-5 training sentences mapped to 3 classes ({0,1} negative, 2 neutral,
  {3,4} positive);
* ``sst2``: SST-2 training sentences, negative/positive only.

CR and SST are lower-cased and PTB-tokenised; they are detokenised (``-lrb-`` → ``(``,
``do n't`` → ``don't``) so that they look more like the text the model will see.

Prints one JSON line on stdout (3-class macro_recall, accuracy, macro_f1 on the held-out
tweets, train seconds, n); progress goes to stderr. Smoke run:
``python bench/sentiment.py --limit 1000 --max-minutes 3 --holdout-limit 1000``
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from intent_banking77 import scoring_threads, stratified_subsample  # noqa: E402

from retrieval.base.modeldir import CARD_NAME  # noqa: E402

DATA_DIR = REPO.parent / "shared" / "data"
LABELS = ("negative", "neutral", "positive")
HOLDOUT_FRACTION = 0.15
HOLDOUT_SEED = 0
EXTRAS = ("cr", "sst", "sst2")
SST5_TO_3 = {"0": "negative", "1": "negative", "2": "neutral", "3": "positive", "4": "positive"}
BINARY = {"0": "negative", "1": "positive"}
Row = dict[str, str]


def log(message: str) -> None:
    print(f"[sentiment] {message}", file=sys.stderr, flush=True)


def read_mapping(directory: Path) -> dict[str, str]:
    """TweetEval's ``mapping.txt`` (``0<TAB>negative`` ...), checked against our labels."""
    mapping: dict[str, str] = {}
    for number, line in enumerate(
        (directory / "mapping.txt").read_text(encoding="utf-8").splitlines(), 1
    ):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in LABELS:
            raise ValueError(f"{directory / 'mapping.txt'}:{number}: unexpected line {line!r}")
        mapping[parts[0]] = parts[1]
    if sorted(mapping.values()) != sorted(LABELS):
        raise ValueError(f"{directory / 'mapping.txt'}: expected the labels {LABELS}")
    return mapping


def tweeteval_splits(directory: Path) -> list[str]:
    """The splits present as both ``{split}_text.txt`` and ``{split}_labels.txt``."""
    return [
        split
        for split in ("train", "val", "test")
        if (directory / f"{split}_text.txt").is_file()
        and (directory / f"{split}_labels.txt").is_file()
    ]


def read_tweeteval(directory: Path, split: str) -> list[Row]:
    """One split's tweets and labels (line-aligned files), mapped through mapping.txt."""
    mapping = read_mapping(directory)
    texts = (directory / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (directory / f"{split}_labels.txt").read_text(encoding="utf-8").splitlines()
    if len(texts) != len(labels):
        raise ValueError(
            f"{directory}: {split}_text.txt has {len(texts)} lines but "
            f"{split}_labels.txt has {len(labels)}"
        )
    rows = []
    for number, (text, label) in enumerate(zip(texts, labels, strict=True), 1):
        if label.strip() not in mapping:
            raise ValueError(f"{directory / f'{split}_labels.txt'}:{number}: label {label!r}")
        if text.strip():
            rows.append({"text": text.strip(), "label": mapping[label.strip()], "source": split})
    return rows


_PTB = [
    (re.compile(r"-lrb-"), "("),
    (re.compile(r"-rrb-"), ")"),
    (re.compile(r"\s+n\s+'t\b"), "n't"),  # CR writes "does n 't"
    (re.compile(r"\s+(n't|'s|'re|'ve|'m|'ll|'d)\b"), r"\1"),
    (re.compile(r"``\s*|\s*''"), '"'),
    (re.compile(r"\s+([.,!?;:%)])"), r"\1"),
    (re.compile(r"([($])\s+"), r"\1"),
    (re.compile(r"\s+"), " "),
]


def detokenise(text: str) -> str:
    """Undo the PTB tokenisation of the CR/SST files, roughly (``do n't`` → ``don't``)."""
    for pattern, replacement in _PTB:
        text = pattern.sub(replacement, text)
    return text.strip()


def read_labelled_lines(path: Path, mapping: dict[str, str], source: str) -> list[Row]:
    """``LABEL<space>sentence`` lines (the CR and SST files); unmapped labels are skipped."""
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        label, _, text = line.partition(" ")
        if label in mapping and text.strip():
            rows.append({"text": detokenise(text), "label": mapping[label], "source": source})
    return rows


def read_extra(name: str, data_dir: Path) -> list[Row]:
    if name == "cr":
        return read_labelled_lines(data_dir / "sentiment_cr" / "custrev.all", BINARY, "cr")
    if name == "sst":
        return read_labelled_lines(data_dir / "sentiment_sst" / "stsa.fine.train", SST5_TO_3, "sst")
    if name == "sst2":
        return read_labelled_lines(data_dir / "sentiment_sst" / "stsa.binary.train", BINARY, "sst2")
    raise ValueError(f"--extra: unknown set {name!r}, expected some of {', '.join(EXTRAS)}")


def holdout_split(
    rows: Sequence[Row], *, fraction: float = HOLDOUT_FRACTION
) -> tuple[list[Row], list[Row]]:
    """(pool, held_out): a stratified ``fraction`` of ``rows``, always the same for a pool."""
    from sklearn.model_selection import train_test_split

    indices = list(range(len(rows)))
    pool_idx, held_idx = train_test_split(
        indices,
        test_size=fraction,
        random_state=HOLDOUT_SEED,
        stratify=[r["label"] for r in rows],
    )
    return [rows[i] for i in sorted(pool_idx)], [rows[i] for i in sorted(held_idx)]


def clean(rows: Sequence[Row], *, exclude: Sequence[Row] = ()) -> list[Row]:
    """Drop repeated texts, texts with conflicting labels, and texts in ``exclude``.

    Texts are compared as retrieval.base.datasets compares them (case, spacing and punctuation
    ignored), so nothing held out reaches training under a slightly different spelling,
    and training never refuses the file for contradicting itself.
    """
    from retrieval.base.datasets import normalise_text

    excluded = {normalise_text(r["text"]) for r in exclude}
    labels: dict[str, set[str]] = {}
    for row in rows:
        labels.setdefault(normalise_text(row["text"]), set()).add(row["label"])
    seen: set[str] = set()
    kept = []
    for row in rows:
        key = normalise_text(row["text"])
        if not key or key in excluded or key in seen or len(labels[key]) > 1:
            continue
        seen.add(key)
        kept.append(row)
    return kept


def write_rows(path: Path, rows: Sequence[Row]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "label": r["label"]} for r in rows)
    return path


def counts(rows: Sequence[Row]) -> dict[str, int]:
    return {label: sum(r["label"] == label for r in rows) for label in LABELS}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--extra", default="", help=f"comma-separated: {', '.join(EXTRAS)}")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="stratified cap on the training tweets and on each extra set (a smoke run)",
    )
    parser.add_argument(
        "--holdout-limit",
        type=int,
        default=None,
        help="stratified cap on the held-out tweets (always the same subset of the same split)",
    )
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--base-model", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="model dir (default: temporary)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quiet", action="store_true", help="no training log on stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from training.evaluate import evaluate
    from training.train import TrainSettings, train

    args = parse_args(argv)
    extras = [name.strip() for name in args.extra.split(",") if name.strip()]
    for name in extras:
        if name not in EXTRAS:
            raise SystemExit(f"--extra: unknown set {name!r}, expected some of {', '.join(EXTRAS)}")
    tweeteval = args.data_dir / "sentiment_tweeteval"
    splits = tweeteval_splits(tweeteval)
    if not splits:
        raise SystemExit(f"no TweetEval splits in {tweeteval}")
    tweets = clean([row for split in splits for row in read_tweeteval(tweeteval, split)])
    pool, held_out = holdout_split(tweets)
    pool = clean(pool, exclude=held_out)
    every_tweet = [*pool, *held_out]  # extras never repeat a tweet, held out or not
    if args.limit is not None:
        pool = stratified_subsample(pool, args.limit, seed=args.seed, label="label")
    if args.holdout_limit is not None:
        held_out = stratified_subsample(
            held_out, args.holdout_limit, seed=HOLDOUT_SEED, label="label"
        )
    training_rows = list(pool)
    sources = {"tweeteval": len(pool)}
    for name in extras:
        extra = clean(read_extra(name, args.data_dir), exclude=[*every_tweet, *training_rows])
        if args.limit is not None:
            extra = stratified_subsample(extra, args.limit, seed=args.seed, label="label")
        sources[name] = len(extra)
        training_rows.extend(extra)
    log(f"training rows {sources} {counts(training_rows)}; held out {counts(held_out)}")

    scratch = Path(tempfile.mkdtemp(prefix="bench-sentiment-"))
    try:
        train_csv = write_rows(scratch / "train.csv", training_rows)
        held_csv = write_rows(scratch / "heldout.csv", held_out)
        out = args.out if args.out is not None else scratch / "model"
        summary = train(
            TrainSettings(
                task="sentiment",
                data=train_csv,
                out=out,
                base_model=args.base_model,
                epochs=args.epochs,
                max_minutes=args.max_minutes,
                batch_size=args.batch_size,
                learning_rate=args.lr,
                max_length=args.max_length,
                seed=args.seed,
                quiet=args.quiet,
            )
        )
        card = json.loads((out / CARD_NAME).read_text(encoding="utf-8"))
        log("scoring the held-out tweets through training.evaluate")
        with scoring_threads():
            scores = evaluate("sentiment", out, held_csv)
        fit_seconds = float(card["training"]["train_seconds"])
        return {
            "bench": "sentiment",
            "macro_recall": round(scores["macro_recall"], 4),
            "accuracy": round(scores["accuracy"], 4),
            "macro_f1": round(scores["macro_f1"], 4),
            "n": scores["n"],
            "held_out": (
                f"{HOLDOUT_FRACTION:.0%} stratified of the TweetEval {'+'.join(splits)} pool, "
                f"seed {HOLDOUT_SEED}"
                + (f", capped at {args.holdout_limit}" if args.holdout_limit else "")
            ),
            "held_out_labels": counts(held_out),
            "train_rows": sources,
            "train_labels": counts(training_rows),
            "extra": extras,
            "train_seconds": round(fit_seconds, 1),
            "total_seconds": summary["seconds"],
            "ms_per_message": scores["ms_per_message"],
            "validation_macro_f1": round(summary["validation"].get("macro_f1", 0.0), 4),
            "device": summary["device"],
            "recipe": {
                **card["training"]["hyperparameters"],
                "epochs_run": summary["epochs_run"],
                "stopped_by": summary["stopped_by"],
                "precision": card["training"]["precision"],
            },
            "limit": args.limit,
            "holdout_limit": args.holdout_limit,
            "target_macro_recall": 0.70,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):
        figures = main()
    print(json.dumps(figures), flush=True)
