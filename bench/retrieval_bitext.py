"""Answer retrieval on Bitext's customer-support Q&A, measured through ``frontdesk`` itself.

Uses ``../shared/data/bitext_support/Bitext_Sample_Customer_Support_Training_Dataset_4514.csv``
(4,514 instructions, 27 intents, a response each). The rows are split in two by a seeded
shuffle (by row, not by intent): one part is the Q&A file, the other the questions a
customer asks. Then, as a user would, with the user's defaults (no settings file, no
``FRONTDESK_*`` variables unless named below):

1. ``frontdesk index build --data qa.csv --out index`` builds the index; the build chooses
   how the index answers (plain, vote or the intent head) on questions it holds out of the
   Q&A file, and the manifest records the choice and its figures;
2. ``frontdesk eval retrieval --index index --data queries.csv --out-of-domain ood.csv``
   answers every held-out question on its own, the way the served bot does, and reports
   the method, hit@1/hit@5/MRR (right = the answer's intent is the question's), latency
   and the share of off-topic questions answered at the serving threshold;
3. ``--compare plain,vote`` repeats step 2 with ``--method plain`` (and so on), the
   option a user has for comparing methods on their own questions;
4. the threshold check: step 2 on half of the questions with the repository's off-topic
   questions (``data/eval/out_of_domain.csv``) recommends a threshold; step 2 on the other
   half with this file's own off-topic questions, served at that threshold
   (``FRONTDESK_RETRIEVAL_THRESHOLD``), checks it.

Every command's JSON line goes to stderr as it comes; one JSON line with all of them goes
to stdout. Usage:
    python bench/retrieval_bitext.py [--seed 0] [--build-share 0.5] [--compare plain]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

DATA = (
    REPO.parent
    / "shared"
    / "data"
    / "bitext_support"
    / "Bitext_Sample_Customer_Support_Training_Dataset_4514.csv"
)
REPO_OFF_TOPIC = REPO / "data" / "eval" / "out_of_domain.csv"
TARGET_HIT_AT_1 = 0.985
TARGET_MRR = 0.99
TARGET_BUILD_SECONDS = 60.0
TARGET_P99_MS = 25.0
TARGET_OOD = 0.05

OFF_TOPIC = (
    "how many legs does a spider have",
    "what is the tallest building in the world",
    "can you recommend a good science fiction novel",
    "what's the best way to learn to play guitar",
    "how do volcanoes form",
    "who painted the mona lisa",
    "what is the speed of sound",
    "how do i make sourdough starter",
    "what's the difference between a crocodile and an alligator",
    "how long does it take to fly to australia",
    "what year did the titanic sink",
    "is coffee bad for your heart",
    "how many hours of sleep does an adult need",
    "what's a good stretching routine for runners",
    "why is the sky blue",
    "how do airplanes stay in the air",
    "what is the largest ocean on earth",
    "recommend a board game for four players",
    "how do i knit a scarf",
    "what language is spoken in brazil",
    "how do i descale a kettle",
    "what are the rules of chess castling",
    "how do i improve my handwriting",
    "what's the population of canada",
    "who discovered penicillin",
    "how do solar panels work",
    "what should i pack for a camping trip",
    "how do i teach my dog to sit",
    "what is photosynthesis",
    "explain the theory of relativity in simple words",
    "how many bones are in the human body",
    "what's the boiling point of water at altitude",
    "write a haiku about autumn",
    "tell me a joke about penguins",
    "what's your favourite colour",
    "do you dream",
    "are you a robot or a human",
    "what's the best pizza topping",
    "how do i meditate",
    "what is the stock market",
    "how does compound interest work",
    "what's the longest river in africa",
    "how do i remove a red wine stain from a carpet",
    "how often should i water a cactus",
    "what causes thunder",
    "how do bees make honey",
    "what's the difference between weather and climate",
    "how do i start running as a beginner",
    "which planet is closest to the sun",
    "what is the pythagorean theorem",
    "how do i solve a rubik's cube",
    "who wrote pride and prejudice",
    "what's the capital of kenya",
    "how do i make cold brew coffee",
    "what's a black hole",
    "how do vaccines work",
    "what is machine learning",
    "how do i write a haiku",
    "what's the best time to visit iceland",
    "how tall is the eiffel tower",
    "what does dna stand for",
    "how do i play sudoku",
    "what are the primary colours",
    "how do i clean a cast iron pan",
    "is it going to snow tonight",
    "how far is mars from earth",
    "what's the best exercise for back pain",
    "how do i fold a paper crane",
    "what's the origin of halloween",
    "why do leaves change colour in autumn",
    "who invented the telephone",
    "how do i calculate the area of a circle",
    "what is inflation",
    "how do i brew green tea properly",
    "which animals hibernate",
    "what is the fastest land animal",
    "how do i change a bicycle chain",
    "how do noise cancelling headphones work",
    "what's the plot of hamlet",
    "how do i stop procrastinating",
    "what are the symptoms of dehydration",
    "how do i make a paper airplane",
    "what's the meaning of carpe diem",
    "how do i prune a rose bush",
    "what's the difference between a virus and a bacterium",
    "who was the first person on the moon",
    "how many players are on a rugby team",
    "what is the greenhouse effect",
    "how do i memorise a speech",
    "what is a prime number",
    "how do magnets work",
    "where do penguins live",
    "how do i get rid of hiccups",
    "what's a good name for a band",
    "how is glass made",
    "what is the internet made of",
    "how do i tie a bow tie",
    "what's the difference between baking soda and baking powder",
    "how many stars are in the milky way",
    "what should i name my houseplant",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_bitext(path: Path) -> list[dict[str, str]]:
    # The responses hold quoted \r\n line breaks: a real CSV parser, with newline="".
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            {k: row[k] for k in ("instruction", "intent", "response")}
            for row in csv.DictReader(handle)
        ]


def split_by_row(count: int, build_share: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded shuffle of the row numbers, cut in two: (Q&A rows, question rows)."""
    rows = list(range(count))
    random.Random(seed).shuffle(rows)
    cut = round(count * build_share)
    return sorted(rows[:cut]), sorted(rows[cut:])


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def frontdesk_command() -> list[str]:
    """The ``frontdesk`` script of this environment (what a user types), or its module."""
    script = Path(sys.executable).with_name("frontdesk")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bot.cli"]


def user_environment(**settings: str) -> dict[str, str]:
    """This environment without any ``FRONTDESK_*`` setting but ``settings``: the defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update({f"FRONTDESK_{k.upper()}": v for k, v in settings.items()})
    return env


def frontdesk(args: Sequence[str], workdir: Path, **settings: str) -> tuple[dict[str, Any], float]:
    """Run ``frontdesk ARGS`` in ``workdir`` (no settings file there); (its JSON, seconds)."""
    command = [*frontdesk_command(), *args]
    shown = " ".join(["frontdesk", *args])
    if settings:
        shown = " ".join(f"FRONTDESK_{k.upper()}={v}" for k, v in settings.items()) + " " + shown
    log(f"$ {shown}")
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=workdir,
        env=user_environment(**settings),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{shown} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    line = done.stdout.strip().splitlines()[-1]
    log(line)
    return json.loads(line), seconds


def evaluation(
    workdir: Path, queries: Path, ood: Path, *extra: str, **settings: str
) -> dict[str, Any]:
    args = ["eval", "retrieval", "--index", "index", "--data", queries.name]
    args += ["--out-of-domain", ood.name, "--report-dir", "reports", *extra]
    result, _ = frontdesk(args, workdir, **settings)
    return result


def brief(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("method", "hit_at_1", "hit_at_5", "mrr", "latency_ms_per_query", "ood_answered")
    return {k: result[k] for k in keys if k in result}


def threshold_check(
    workdir: Path, rows: Sequence[dict[str, str]], questions: Sequence[int], seed: int
) -> dict[str, Any]:
    """Recommend a threshold on half the questions and the repository's off-topic set;
    serve the other half and this file's off-topic set at it."""
    order = list(questions)
    random.Random(seed + 1).shuffle(order)
    halves = order[: len(order) // 2], order[len(order) // 2 :]
    files = [
        write_csv(
            workdir / f"queries_{name}.csv",
            ["text", "intent"],
            [[rows[i]["instruction"], rows[i]["intent"]] for i in sorted(half)],
        )
        for name, half in zip(("calibration", "check"), halves, strict=True)
    ]
    own = write_csv(workdir / "ood_check.csv", ["text"], [[t] for t in OFF_TOPIC])
    repo_ood = write_csv(
        workdir / "ood_calibration.csv",
        ["text"],
        [[t] for t in read_texts(REPO_OFF_TOPIC)],
    )
    calibration = evaluation(workdir, files[0], repo_ood)
    threshold = calibration["recommended_threshold"]
    check = evaluation(workdir, files[1], own, retrieval_threshold=str(threshold))
    return {
        "recommended": threshold,
        "met_on_calibration": calibration["calibration"]["met"],
        "calibration": {
            "n": calibration["n"],
            "ood_n": calibration.get("ood_n"),
            "coverage": calibration["calibration"]["coverage"],
            "precision": calibration["calibration"]["precision"],
            "ood_answered": calibration["calibration"].get("ood_answered"),
        },
        "check": {
            "n": check["n"],
            "ood_n": check["ood_n"],
            "coverage": check["coverage"],
            "precision": check["precision"],
            "ood_answered": check["ood_answered"],
        },
        "ood_target": TARGET_OOD,
        "ood_met": check["ood_answered"] <= TARGET_OOD,
    }


def read_texts(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the split by row")
    parser.add_argument(
        "--build-share", type=float, default=0.5, help="share of the rows in the Q&A file"
    )
    parser.add_argument(
        "--compare",
        default="plain",
        help="methods also evaluated with 'frontdesk eval retrieval --method' (comma list)",
    )
    parser.add_argument(
        "--no-threshold-check", action="store_true", help="skip the threshold calibration/check"
    )
    args = parser.parse_args()
    if not DATA.is_file():
        log(f"skipped: {DATA} is not there (Bitext's 4,514-row customer-support sample)")
        print(json.dumps({"bench": "retrieval_bitext", "skipped": f"{DATA} not found"}))
        return

    rows = read_bitext(DATA)
    qa_rows, questions = split_by_row(len(rows), args.build_share, args.seed)
    result: dict[str, Any] = {
        "bench": "retrieval_bitext",
        "data": DATA.name,
        "rows": len(rows),
        "intents": len({r["intent"] for r in rows}),
        "split": {"by": "row", "seed": args.seed, "qa": len(qa_rows), "questions": len(questions)},
        "cores": os.cpu_count(),
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="bitext-bench-") as tmp:
        workdir = Path(tmp)
        write_csv(
            workdir / "qa.csv",
            ["id", "question", "answer", "intent"],
            [
                [f"bitext-{i}", rows[i]["instruction"], rows[i]["response"], rows[i]["intent"]]
                for i in qa_rows
            ],
        )
        queries = write_csv(
            workdir / "queries.csv",
            ["text", "intent"],
            [[rows[i]["instruction"], rows[i]["intent"]] for i in questions],
        )
        ood = write_csv(
            workdir / "ood.csv",
            ["text"],
            [[t] for t in [*read_texts(REPO_OFF_TOPIC), *OFF_TOPIC]],
        )
        build, build_wall = frontdesk(
            ["index", "build", "--data", "qa.csv", "--out", "index", "--quiet"], workdir
        )
        result["build"] = {
            k: build[k]
            for k in (
                "count",
                "merged",
                "method",
                "method_chosen_by",
                "validation",
                "encode_seconds",
                "method_seconds",
                "seconds",
            )
            if k in build
        }
        # The command as a whole: interpreter start and encoder load included.
        result["build"]["command_seconds"] = round(build_wall, 2)
        served = evaluation(workdir, queries, ood)
        result["eval"] = served
        result["compare"] = {
            method: brief(evaluation(workdir, queries, ood, "--method", method))
            for method in [m.strip() for m in args.compare.split(",") if m.strip()]
            if method != served["method"]
        }
        if not args.no_threshold_check:
            result["threshold"] = threshold_check(workdir, rows, questions, args.seed)
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    p99 = served["latency_ms_per_query"]["p99"]
    result["targets"] = {
        "hit_at_1": [TARGET_HIT_AT_1, served["hit_at_1"] >= TARGET_HIT_AT_1],
        "mrr": [TARGET_MRR, served["mrr"] >= TARGET_MRR],
        "build_seconds": [TARGET_BUILD_SECONDS, build["seconds"] <= TARGET_BUILD_SECONDS],
        "p99_ms": [TARGET_P99_MS, p99 <= TARGET_P99_MS],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
