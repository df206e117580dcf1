"""Out-of-scope rejection without out-of-scope training data, through the CLI only.

The protocol of issue #18: BANKING77 with a quarter of its intents (19 of 77, chosen by a
seeded shuffle) held out. Training gets 50 examples of each of the other 58 intents and no
out-of-scope example; the test file is BANKING77's test split, where the held-out intents'
questions are labelled ``oos``, plus the demo's off-topic questions
(``data/eval/out_of_domain.csv``), also ``oos``. So most out-of-scope questions are about
banking, just not about anything the bot was taught: the hard case.

Runs what a user runs, with the user's defaults:

1. ``frontdesk train intent --data WORK/train.csv --out WORK/model --max-minutes 30``
2. ``frontdesk eval intent --model WORK/model --data WORK/test.csv``

and prints one JSON line: in-scope accuracy (a rejected in-scope question is an error),
out-of-scope recall, the in-scope rejection rate, top-1 accuracy, and the trade-off curve
``eval`` reports. ``by_source`` gives the out-of-scope recall of each kind apart (the same
model scoring only the held-out intents' questions, then only the off-topic ones), because
the two are different problems: a question from another domain is what most
customer-service bots must turn away, a banking question the bot was not taught is the hard
case. Progress goes to stderr.
Usage: python bench/intent_oos.py [--max-minutes 30] [--keep WORK]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BANKING77 = REPO.parent / "shared" / "data" / "banking77"
OFF_TOPIC = REPO / "data" / "eval" / "out_of_domain.csv"
FRONTDESK = [sys.executable, "-m", "bot"]
HELD_OUT_SHARE = 0.25
PER_INTENT = 50
OOS = "oos"


def log(message: str) -> None:
    print(f"[intent_oos] {message}", file=sys.stderr, flush=True)


def read_rows(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def write_rows(path: Path, rows: Sequence[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "intent"])
        writer.writerows(rows)
    return path


def make_split(
    train: Sequence[tuple[str, str]],
    test: Sequence[tuple[str, str]],
    off_topic: Sequence[str],
    *,
    seed: int,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """(training rows, test rows, held-out intents): the protocol described above."""
    rng = random.Random(seed)
    intents = sorted({label for _, label in train})
    rng.shuffle(intents)
    held_out = sorted(intents[: int(len(intents) * HELD_OUT_SHARE)])
    unseen = set(held_out)
    by_intent: dict[str, list[tuple[str, str]]] = {}
    for row in train:
        if row[1] not in unseen:
            by_intent.setdefault(row[1], []).append(row)
    chosen: list[tuple[str, str]] = []
    for intent in sorted(by_intent):
        rows = list(by_intent[intent])
        rng.shuffle(rows)
        chosen.extend(rows[:PER_INTENT])
    test_rows = [(text, OOS if label in unseen else label) for text, label in test]
    test_rows += [(text, OOS) for text in off_topic]
    return chosen, test_rows, held_out


def frontdesk(args: list[str]) -> dict[str, Any]:
    """Run the CLI as a user would; its JSON line, with its progress passed to stderr."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [*FRONTDESK, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"frontdesk {' '.join(args)} failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=BANKING77)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    args = parser.parse_args(argv)
    train_path, test_path = args.data_dir / "train.csv", args.data_dir / "test.csv"
    missing = [p for p in (train_path, test_path, OFF_TOPIC) if not p.is_file()]
    if missing:
        skipped = {"bench": "intent_oos", "skipped": f"missing {', '.join(map(str, missing))}"}
        return skipped
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-intent-oos-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        with OFF_TOPIC.open(newline="", encoding="utf-8") as handle:
            off_topic = [row["text"] for row in csv.DictReader(handle)]
        train_rows, test_rows, held_out = make_split(
            read_rows(train_path), read_rows(test_path), off_topic, seed=args.seed
        )
        train_csv = write_rows(work / "train.csv", train_rows)
        test_csv = write_rows(work / "test.csv", test_rows)
        model = work / "model"
        shutil.rmtree(model, ignore_errors=True)
        log(
            f"{len(train_rows)} training rows ({len(held_out)} intents held out), "
            f"{len(test_rows)} test rows ({sum(1 for _, g in test_rows if g == OOS)} oos)"
        )
        started = time.monotonic()
        trained = frontdesk(
            [
                "train",
                "intent",
                "--data",
                str(train_csv),
                "--out",
                str(model),
                "--max-minutes",
                f"{args.max_minutes:g}",
            ]
        )
        train_seconds = time.monotonic() - started
        scored = frontdesk(["eval", "intent", "--model", str(model), "--data", str(test_csv)])
        # Each kind scored alone (recall is per question, so no in-scope rows are needed),
        # with its report kept apart from the main one in the model directory.
        by_source: dict[str, dict[str, float]] = {}
        off_topic_texts = set(off_topic)
        sources = {
            "held_out_intents": [
                row for row in test_rows if row[1] == OOS and row[0] not in off_topic_texts
            ],
            "off_topic": [(text, OOS) for text in off_topic],
        }
        for source, oos_rows in sources.items():
            part = write_rows(work / f"test_{source}.csv", oos_rows)
            report = work / f"report_{source}"
            part_scored = frontdesk(
                [
                    *("eval", "intent", "--model", str(model)),
                    *("--data", str(part), "--report-dir", str(report)),
                ]
            )
            by_source[source] = {
                "oos_rows": len(oos_rows),
                "oos_recall": round(part_scored["oos_recall"], 4),
            }
        return {
            "bench": "intent_oos",
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
            "held_out_intents": len(held_out),
            "max_minutes": args.max_minutes,
            "in_scope_accuracy": round(scored["in_scope_accuracy"], 4),
            "oos_recall": round(scored["oos_recall"], 4),
            "oos_precision": round(scored["oos_precision"], 4),
            "in_scope_rejection_rate": round(scored["in_scope_rejection_rate"], 4),
            "accuracy": round(scored["accuracy"], 4),
            "accuracy_without_rejection": round(scored["accuracy_without_rejection"], 4),
            "by_source": by_source,
            "oos_curve": scored.get("oos_curve"),
            "rejection": trained.get("rejection"),
            "epochs_run": trained.get("epochs_run"),
            "stopped_by": trained.get("stopped_by"),
            "refit": trained.get("refit"),
            "train_seconds": round(train_seconds, 1),
        }
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(main()), flush=True)
