"""Answer retrieval on Bitext's customer-support Q&A: does the right kind of answer come first?

Uses ``../shared/data/bitext_support/Bitext_Sample_Customer_Support_Training_Dataset_4514.csv``
(4,514 instructions, 27 intents, a response each). The instructions are split by intent
(stratified, seeded, 80/20); the training part is indexed with ``frontdesk index build``'s
own code (duplicates merged, responses and intents kept), and every held-out instruction is
asked on its own. A hit counts when its intent is the held-out instruction's intent.

Three ways of answering are measured:
- ``plain``: ``AnswerIndex.search``, the nearest questions as they come (the baseline);
- ``vote``: ``search_intent(method="vote")``, the 20 nearest questions vote for an intent;
- ``head``: ``search_intent(method="head")``, a logistic-regression intent head fitted on
  the indexed vectors ranks the intents; the answer is the nearest question of the winner.
hit@k and MRR are taken over the answers each way returns (10 at most), so a wrong first
answer followed by three more of the same wrong intent counts as such.

Knowing when not to answer: the similarity threshold is calibrated (``calibrate_threshold``)
on half of the held-out questions plus the repository's off-topic questions
(``data/eval/out_of_domain.csv``), then checked on the other half and on a second,
independent set of off-topic questions written below.

``--fine-tune`` also fine-tunes the encoder on the training pairs first (slow on a CPU; see
``training/encoder_finetune.py``) and reports the same figures with it.

Prints one JSON line (progress goes to stderr). Usage:
    python bench/retrieval_bitext.py [--seed 0] [--fine-tune [--fine-tune-seconds 120]]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = (
    REPO.parent
    / "shared"
    / "data"
    / "bitext_support"
    / "Bitext_Sample_Customer_Support_Training_Dataset_4514.csv"
)
TARGET_HIT_AT_1 = 0.985
TARGET_MRR = 0.99
TARGET_OOD = 0.05
K = 10

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


def stratified_split(
    rows: Sequence[dict[str, str]], test_share: float, seed: int
) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    by_intent: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_intent.setdefault(row["intent"], []).append(i)
    train: list[int] = []
    test: list[int] = []
    for intent in sorted(by_intent):
        members = by_intent[intent][:]
        rng.shuffle(members)
        cut = round(len(members) * test_share)
        test += members[:cut]
        train += members[cut:]
    return sorted(train), sorted(test)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Encode single queries on ``count`` intra-op threads (0: leave torch's default).

    A one-sentence forward pass gains nothing from a second thread and, on a machine whose
    cores are busy, loses a lot waiting for it: measured here, 250-520 ms per query on two
    threads against 29-40 ms on one (the same queries, the same load).
    """
    import torch

    if count <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    import numpy as np

    values = np.array(seconds) * 1000
    return {
        "p50": round(float(np.percentile(values, 50)), 2),
        "p99": round(float(np.percentile(values, 99)), 2),
    }


def first_rank(intents: Sequence[str | None], gold: str) -> int | None:
    return next((n for n, intent in enumerate(intents, start=1) if intent == gold), None)


def measure(
    index: Any, queries: Sequence[str], gold: Sequence[str]
) -> tuple[dict[str, Any], dict[str, list[tuple[float, bool]]]]:
    """Metrics and latency per way of answering, and each query's (top score, top right)."""
    from retrieval.evaluate import rank_metrics

    ways: dict[str, Callable[[str], list[Any]]] = {
        "plain": lambda q: index.search(q, k=K),
        "vote": lambda q: list(index.search_intent(q, k=K, method="vote").hits),
        "head": lambda q: list(index.search_intent(q, k=K, method="head").hits),
    }
    figures: dict[str, Any] = {}
    outcomes: dict[str, list[tuple[float, bool]]] = {}
    for name, answer in ways.items():
        answer(queries[0])  # warm up
        ranks: list[int | None] = []
        seconds: list[float] = []
        tops: list[tuple[float, bool]] = []
        for query, intent in zip(queries, gold, strict=True):
            started = time.perf_counter()
            hits = answer(query)
            seconds.append(time.perf_counter() - started)
            ranks.append(first_rank([h.intent for h in hits], intent))
            tops.append((hits[0].score if hits else -1.0, bool(hits) and hits[0].intent == intent))
        figures[name] = {**rank_metrics(ranks), "latency_ms": percentiles(seconds)}
        outcomes[name] = tops
        log(f"  {name}: {figures[name]}")
    return figures, outcomes


def threshold_figures(index: Any, tops: Sequence[tuple[float, bool]], seed: int) -> dict[str, Any]:
    """Calibrate on half the held-out questions + the repo's off-topic set; check on the
    other half + this file's off-topic set."""
    from retrieval.evaluate import at_threshold, calibrate_threshold, read_texts

    rng = random.Random(seed + 1)
    order = list(range(len(tops)))
    rng.shuffle(order)
    calib = [tops[i] for i in order[: len(order) // 2]]
    check = [tops[i] for i in order[len(order) // 2 :]]
    repo_ood = read_texts(REPO / "data" / "eval" / "out_of_domain.csv")
    ood_calib = [h[0].score if h else -1.0 for h in index.search_many(repo_ood, k=1)]
    ood_check = [h[0].score if h else -1.0 for h in index.search_many(list(OFF_TOPIC), k=1)]
    chosen = calibrate_threshold([s for s, _ in calib], [c for _, c in calib], ood_calib)
    held = at_threshold(
        chosen["threshold"], [s for s, _ in check], [c for _, c in check], ood_check
    )
    return {
        "recommended": chosen["threshold"],
        "met_on_calibration": chosen["met"],
        "calibration": {
            "n": len(calib),
            "ood_n": len(ood_calib),
            "coverage": chosen["coverage"],
            "precision": chosen["precision"],
            "ood_answered": chosen.get("ood_answered"),
        },
        "check": {
            "n": len(check),
            "ood_n": len(ood_check),
            "coverage": held["coverage"],
            "precision": held["precision"],
            "ood_answered": held["ood_answered"],
        },
        "ood_target": TARGET_OOD,
        "ood_met": held["ood_answered"] <= TARGET_OOD,
    }


def run(
    rows: Sequence[dict[str, str]],
    train: Sequence[int],
    test: Sequence[int],
    encoder: Any,
    workdir: Path,
    seed: int,
    query_threads: int,
) -> dict[str, Any]:
    from retrieval.index import AnswerIndex, build_index

    qa = workdir / "train.csv"
    with qa.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "answer", "intent"])
        for i in train:
            writer.writerow(
                [f"bitext-{i}", rows[i]["instruction"], rows[i]["response"], rows[i]["intent"]]
            )
    log(f"building the index of {len(train)} training pairs")
    summary = build_index(qa, workdir / "index", progress=False, encoder=encoder)
    index = AnswerIndex.load(workdir / "index", encoder)
    started = time.perf_counter()
    index.intent_head()
    head_seconds = time.perf_counter() - started
    log(
        f"built in {summary['seconds']} s ({summary['count']} entries); head fitted in "
        f"{head_seconds:.1f} s; asking {len(test)} held-out questions"
    )
    with torch_threads(query_threads):
        figures, outcomes = measure(
            index, [rows[i]["instruction"] for i in test], [rows[i]["intent"] for i in test]
        )
    return {
        # What search_intent's default ("auto") picks for this index.
        "auto_method": index.search_intent(rows[test[0]]["instruction"]).method,
        "indexed": summary["count"],
        "merged_duplicates": summary["merged"],
        "build_seconds": summary["seconds"],
        "head_fit_seconds": round(head_seconds, 2),
        **figures,
        "threshold": threshold_figures(index, outcomes["head"], seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument(
        "--query-threads",
        type=int,
        default=1,
        help="torch threads while asking single questions (0: torch's default)",
    )
    parser.add_argument("--fine-tune", action="store_true", help="also measure a fine-tune")
    parser.add_argument("--fine-tune-seconds", type=float, default=120.0)
    parser.add_argument("--fine-tune-positive", choices=["answer", "question"], default="answer")
    args = parser.parse_args()
    if not DATA.is_file():
        log(f"skipped: {DATA} is not there (Bitext's 4,514-row customer-support sample)")
        print(json.dumps({"bench": "retrieval_bitext", "skipped": f"{DATA} not found"}))
        return

    from retrieval.base.qa import QAPair
    from retrieval.models.encoder import load_encoder

    rows = read_bitext(DATA)
    train, test = stratified_split(rows, args.test_share, args.seed)
    result: dict[str, Any] = {
        "bench": "retrieval_bitext",
        "data": DATA.name,
        "rows": len(rows),
        "intents": len({r["intent"] for r in rows}),
        "train": len(train),
        "test": len(test),
        "seed": args.seed,
        "k": K,
        "query_threads": args.query_threads,
    }
    encoder = load_encoder(device="cpu")
    with tempfile.TemporaryDirectory(prefix="bitext-bench-") as tmp:
        workdir = Path(tmp)
        result |= run(rows, train, test, encoder, workdir, args.seed, args.query_threads)
        head = result["head"]
        result["target"] = {
            "hit_at_1": TARGET_HIT_AT_1,
            "mrr": TARGET_MRR,
            "met_by": [
                name
                for name in ("plain", "vote", "head")
                if result[name]["hit_at_1"] >= TARGET_HIT_AT_1 and result[name]["mrr"] >= TARGET_MRR
            ],
        }
        result["errors_vs_plain"] = round(
            (1 - head["hit_at_1"]) / max(1e-9, 1 - result["plain"]["hit_at_1"]), 3
        )
        if args.fine_tune:
            from training.encoder_finetune import fine_tune_encoder

            pairs = [
                QAPair(
                    f"bitext-{i}", rows[i]["instruction"], rows[i]["response"], rows[i]["intent"]
                )
                for i in train
            ]
            log(f"fine-tuning the encoder for at most {args.fine_tune_seconds} s")
            tuned = fine_tune_encoder(
                pairs,
                workdir / "encoder",
                positive=args.fine_tune_positive,
                max_seconds=args.fine_tune_seconds,
                seed=args.seed,
                device="cpu",
            )
            tuned_encoder = load_encoder(workdir / "encoder", device="cpu")
            tuned_workdir = workdir / "tuned"
            tuned_workdir.mkdir()
            result["fine_tuned"] = {
                **{k: v for k, v in tuned.items() if k != "out"},
                **run(
                    rows, train, test, tuned_encoder, tuned_workdir, args.seed, args.query_threads
                ),
            }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
