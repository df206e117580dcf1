"""Calm traffic on a fresh store must raise no alert: day one of a deployment.

Two replays through the real chat webhook (``bench/alerts_replay.py``'s in-process app, the
default models in ``--models`` and the default ``[alerts]`` rules), each on an empty store:

- ``demo``: ``--messages`` customer messages over the demo's topics at about 20% negative, from
  ``data/eval/sentiment_stream.csv`` (written for one topic and one tone each; none is in the
  training data);
- ``other_domain``: ``--messages`` tweets from TweetEval's test split
  (``../shared/data/sentiment_tweeteval``) at about 20% negative: whatever topics the intent
  model files them under, none of them is changing.

Any alert in either is a false one. Before a topic had a usual level, such a stream raised one
on the feedback topic, negative by nature; the training data now says what each topic is
usually like (``bot/ops/priors.py``).

Prints ONE JSON line: the alerts each stream raised (rule, topic, when) and their counts.
Example: ``python bench/alerts_calm.py --models models --messages 5000``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alerts_replay import REPO, fail, label_for, replay, require_models, stream_messages

TWEETEVAL = REPO.parent / "shared" / "data" / "sentiment_tweeteval"
TWEET_LABELS = {"0": "negative", "1": "neutral", "2": "positive"}


def tweets() -> dict[str, list[str]]:
    texts = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (TWEETEVAL / "test_labels.txt").read_text(encoding="utf-8").split()
    by_label: dict[str, list[str]] = {label: [] for label in TWEET_LABELS.values()}
    for text, label in zip(texts, labels, strict=True):
        if text.strip():
            by_label[TWEET_LABELS[label]].append(text.strip())
    return by_label


def calm_plan(
    rng: random.Random, pool: dict[str, dict[str, list[str]]], messages: int
) -> list[tuple[str, str, bool, str]]:
    """(topic, label, in a surge: never, text) at about 20% negative over every topic."""
    topics = sorted(pool)
    plan = []
    for _ in range(messages):
        topic = rng.choice(topics)
        label = label_for(rng, 0.2)
        plan.append((topic, label, False, rng.choice(pool[topic][label])))
    return plan


def replay_args(args: argparse.Namespace, plan: list[tuple[str, str, bool, str]]) -> Any:
    return argparse.Namespace(
        plan=plan,
        models=args.models,
        warmup=0,
        calm=len(plan),
        surge=0,
        stream="labelled",
        topic="payments",
        step=args.step,
        concurrency=args.concurrency,
        seed=args.seed,
        alerts=args.alerts,
        workdir=args.workdir,
    )


def summary(result: dict[str, Any]) -> dict[str, Any]:
    # With no surge every alert is a false one, "*" (all topics) included.
    alerts = result["warmup_alerts"] + result["false_alerts"]
    return {
        "messages": result["messages"],
        "alerts": len(alerts),
        "listed": alerts,
        "sentiment_macro_recall": result["sentiment_macro_recall"],
        "wall_s": result["wall_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=str(REPO / "models"))
    parser.add_argument("--messages", type=int, default=5000, help="messages per stream")
    parser.add_argument("--step", type=float, default=2.0, help="stream seconds per message")
    parser.add_argument("--concurrency", type=int, default=8, help="messages in flight")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--alerts", help="a TOML file whose [alerts] table replaces the defaults")
    parser.add_argument("--workdir", default=str(REPO / "var" / "bench"))
    args = parser.parse_args()
    require_models(Path(args.models))
    if not (TWEETEVAL / "test_text.txt").is_file():
        fail(f"no TweetEval test split under {TWEETEVAL}: the other domain's stream needs it")
    started = time.perf_counter()
    rng = random.Random(args.seed)
    demo = calm_plan(
        rng, stream_messages(REPO / "data" / "eval" / "sentiment_stream.csv"), args.messages
    )
    other = calm_plan(rng, {"tweets": tweets()}, args.messages)
    results = {
        name: summary(asyncio.run(replay(replay_args(args, plan))))
        for name, plan in (("demo", demo), ("other_domain", other))
    }
    print(
        json.dumps(
            {
                "bench": "alerts_calm",
                "alerts": sum(r["alerts"] for r in results.values()),
                **results,
                "stream_step_s": args.step,
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
