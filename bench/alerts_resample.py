"""The alert rules over many seeded streams: how the detection delay and the false alerts of
``bench/alerts_replay.py`` vary from one stream to the next.

One replay through the webhook takes a minute and a half and shows one draw of the stream.
This script reads each distinct message of ``data/eval/sentiment_stream.csv`` once with the
trained models (intent -> topic through ``data/domain.yml``, and sentiment), then feeds
``--runs`` streams, planned exactly as ``alerts_replay.py --stream labelled`` plans them
(seeds 0, 1, ...; the same warm-up, calm stretch and surge), through the real alert engine with
the same time stamps. What it leaves out is the HTTP path and the store, which do not change
what the rules see: seed 13 here gives the replay's own figures.

Prints ONE JSON line: the detection delay in messages of the surge topic (median, 90th
percentile, worst), the share of runs detected within ``--within`` messages, runs with a false
alert in the calm stretch, false alerts on other topics during the surge, and alerts during the
warm-up. ``--alerts FILE`` replays other rules (the ``[alerts]`` table of that TOML file).
Example: ``python bench/alerts_resample.py --models models --runs 200``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alerts_replay import REPO, fail, labelled_stream, require_models, stream_messages


def subject_reader(models: Path) -> Any:
    """texts -> subjects, as the server reads the subject of a general-topic message
    (bot/ops/topics.py: the intent examples the answer index carries), or None where the
    domain names no general topics or the index carries no examples."""
    from bot.ops.topics import TopicBank
    from retrieval.base.domain import Domain
    from retrieval.index import AnswerIndex
    from retrieval.models.encoder import load_encoder

    domain = Domain.load(REPO / "data" / "domain.yml")
    if not domain.general_topics or not (models / "index").is_dir():
        return None
    index = AnswerIndex.load(models / "index", load_encoder())
    if index.examples is None:
        return None
    bank = TopicBank.from_examples(index.examples, domain)
    return lambda texts: bank.read(texts, index.embed)


def read_messages(models: Path, texts: list[str]) -> dict[str, tuple[str, bool]]:
    """text -> (topic, negative) as the served models read it, filed as the server files it
    (bot/ops/priors.py ``read_chunk``, which the server's priors use too)."""
    from bot.ops.priors import LabelledText, read_chunk
    from retrieval.base.domain import Domain
    from retrieval.models.classifier import TextClassifier

    domain = Domain.load(REPO / "data" / "domain.yml")
    intent = TextClassifier.load(models / "intent")
    sentiment = TextClassifier.load(models / "sentiment")
    subjects = subject_reader(models)
    read: dict[str, tuple[str, bool]] = {}
    for first in range(0, len(texts), 64):
        chunk = texts[first : first + 64]
        readings = read_chunk(
            [LabelledText(text, None) for text in chunk],
            domain,
            read_intents=lambda batch: [p.label for p in intent.predict(batch)],
            read_negative=lambda batch: [p.label == "negative" for p in sentiment.predict(batch)],
            read_subjects=subjects,
        )
        read.update(zip(chunk, readings, strict=True))
    return read


def read_priors(models: Path, rules: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The topics' priors as the server reads them at start (bot/ops/priors.py)."""
    from bot.ops.config import parse_alerts
    from bot.ops.priors import read_priors as read_from_models
    from bot.ops.priors import training_texts
    from retrieval.base.domain import Domain
    from retrieval.models.classifier import TextClassifier

    config = parse_alerts(rules)
    intent = TextClassifier.load(models / "intent")
    sentiment = TextClassifier.load(models / "sentiment")
    return read_from_models(
        training_texts(REPO / "data"),
        Domain.load(REPO / "data" / "domain.yml"),
        read_intents=lambda texts: [p.label for p in intent.predict(texts)],
        read_negative=lambda texts: [p.label == "negative" for p in sentiment.predict(texts)],
        weight=config.negative_share.prior_weight,
        overall=config.overall,
        read_subjects=subject_reader(models),
    )


def seeded_stream(
    args: argparse.Namespace, pool: dict[str, dict[str, list[str]]], seed: int
) -> list[tuple[str, str, bool, str]]:
    """The stream of run ``seed``, planned as ``alerts_replay.py --stream labelled`` plans it."""
    return labelled_stream(
        random.Random(seed),
        pool,
        calm=args.warmup + args.calm,
        surge=args.surge,
        topic=args.topic,
    )


def one_run(
    args: argparse.Namespace,
    rules: dict[str, Any],
    pool: dict[str, dict[str, list[str]]],
    read: dict[str, tuple[str, bool]],
    seed: int,
    priors: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    from bot.ops.config import parse_alerts
    from bot.ops.engine import OVERALL, AlertEngine, Observation

    plan = seeded_stream(args, pool, seed)
    engine = AlertEngine(parse_alerts(rules), priors=dict(priors or {}))
    batch = max(1, args.concurrency)
    opened: list[tuple[str, float]] = []  # (topic, stream seconds)
    stamps = []
    for i, (_topic, _label, _surge, text) in enumerate(plan):
        # As the replay stamps them: every message of a concurrent batch shares its clock.
        ts = (i // batch) * batch * args.step
        stamps.append(ts)
        topic, negative = read[text]
        for change in engine.observe(Observation(ts, topic, negative)):
            if change.kind == "open":
                opened.append((change.alert.scope, change.at))
    calm_at = args.warmup * args.step
    surge_at = (args.warmup + args.calm) * args.step
    detected = sorted(at for topic, at in opened if topic == args.topic and at >= surge_at)
    delay = None
    if detected:
        delay = sum(
            1
            for (topic, _l, surge, _t), ts in zip(plan, stamps, strict=True)
            if surge and topic == args.topic and ts <= detected[0]
        )
    return {
        "delay": delay,
        "warmup": sum(1 for _t, at in opened if at < calm_at),
        "calm": sum(1 for _t, at in opened if calm_at <= at < surge_at),
        "other": sum(1 for t, at in opened if at >= surge_at and t not in (args.topic, OVERALL)),
    }


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """The streams' options, shared with bench/alerts_bound.py so both replay the same ones."""
    parser.add_argument("--models", default=str(REPO / "models"))
    parser.add_argument("--runs", type=int, default=200, help="seeded streams (seeds 0..runs-1)")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--calm", type=int, default=5000)
    parser.add_argument("--surge", type=int, default=1500)
    parser.add_argument("--topic", default="payments")
    parser.add_argument("--step", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--within", type=int, default=50, help="the detection target, in messages")
    parser.add_argument(
        "--stream-file", default=str(REPO / "data" / "eval" / "sentiment_stream.csv")
    )


def stream_pool(args: argparse.Namespace) -> dict[str, dict[str, list[str]]]:
    """The stream file's messages, once the models, the file and the options are checked."""
    require_models(Path(args.models))
    if not Path(args.stream_file).is_file():
        fail(f"no stream file at {args.stream_file}; pass --stream-file FILE")
    if args.runs < 1:
        fail(f"--runs {args.runs} must be at least 1")
    pool = stream_messages(Path(args.stream_file))
    if args.topic not in pool:
        fail(f"--topic {args.topic!r} is not one of {', '.join(sorted(pool))}")
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_stream_arguments(parser)
    parser.add_argument("--alerts", help="a TOML file whose [alerts] table replaces the defaults")
    args = parser.parse_args()
    models = Path(args.models)
    rules: dict[str, Any] = {}
    if args.alerts:
        rules = tomllib.loads(Path(args.alerts).read_text(encoding="utf-8")).get("alerts", {})
    pool = stream_pool(args)

    started = time.perf_counter()
    texts = sorted({text for by_label in pool.values() for ts in by_label.values() for text in ts})
    read = read_messages(models, texts)
    priors = read_priors(models, rules)
    runs = [one_run(args, rules, pool, read, seed, priors) for seed in range(args.runs)]
    delays = sorted(r["delay"] for r in runs if r["delay"] is not None)

    def quantile(q: float) -> int | None:
        return delays[min(len(delays) - 1, int(q * len(delays)))] if delays else None

    print(
        json.dumps(
            {
                "bench": "alerts_resample",
                "runs": args.runs,
                "messages_per_run": args.warmup + args.calm + args.surge,
                "surge_topic": args.topic,
                "detected_runs": len(delays),
                "detection_delay_messages": {
                    "median": statistics.median(delays) if delays else None,
                    "p90": quantile(0.9),
                    "max": delays[-1] if delays else None,
                },
                f"detected_within_{args.within}": round(
                    sum(d <= args.within for d in delays) / args.runs, 3
                ),
                "runs_with_calm_false_alerts": sum(1 for r in runs if r["calm"]),
                "calm_false_alerts": sum(r["calm"] for r in runs),
                "false_alerts_other_topics_during_surge": sum(r["other"] for r in runs),
                "warmup_alerts_per_run": round(sum(r["warmup"] for r in runs) / args.runs, 2),
                "distinct_messages": len(texts),
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
