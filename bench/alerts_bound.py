"""How close the shift rule is to what any CUSUM could do with the models' readings.

``bench/alerts_resample.py`` measures the alert engine on seeded streams. This script asks
whether another setting of the same kind of rule could do much better on the same streams,
read by the same models. Beside the engine it runs an oracle CUSUM (Page 1954) that is told
each topic's calm negative share as the models read it (pooled over every run's calm part),
which the engine has to estimate from the topic's own history, and tries every pair of
``--increase`` (the rise it is tuned to: ``p1 = p0 + increase``, or the surge's own share as
read, ``matched``) and ``--h`` (its threshold).

For each budget of calm false alerts (the engine's own count, then 5%, 10% and 25% of the
runs) it prints the best share of runs that any of those settings finds the surge within
``--within`` of its messages, and the setting. The readings are yes/no (the sentiment
model's probabilities sit near 0 and 1), so nothing is lost there.

Prints ONE JSON line. Example: ``python bench/alerts_bound.py --models models --runs 200``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alerts_replay import fail
from alerts_resample import (
    add_stream_arguments,
    one_run,
    read_messages,
    read_priors,
    seeded_stream,
    stream_pool,
)

# (topic as read, read negative, in the surge, true topic) per message
Reading = tuple[str, bool, bool, str]


def oracle_run(
    stream: list[Reading],
    calm_share: dict[str, float],
    increase: float,
    *,
    topic: str,
    h: float,
    calm: range,
    within: int,
) -> tuple[bool, bool]:
    """(found within ``within`` surge messages, a false alert in the calm stretch).

    The count stops at the message that raised the alert; the engine's (``one_run``) counts
    the rest of that message's concurrent batch too, up to 7 more, so a tie favours the
    oracle."""
    statistic: dict[str, float] = defaultdict(float)
    steps: dict[str, tuple[float, float]] = {}
    for read_topic, share in calm_share.items():
        # Clamped: a topic the models never read as negative would make a log ratio infinite.
        p0 = min(max(share, 0.005), 0.98)
        p1 = min(p0 + increase, 0.99)
        steps[read_topic] = (math.log(p1 / p0), math.log((1 - p1) / (1 - p0)))
    false_alert = False
    seen = 0
    for i, (read_topic, negative, surge, true_topic) in enumerate(stream):
        seen += surge and true_topic == topic
        if read_topic not in steps:  # read so only in a surge: no calm share to test against
            continue
        step = steps[read_topic][0 if negative else 1]
        statistic[read_topic] = min(max(statistic[read_topic] + step, 0.0), h)
        if statistic[read_topic] >= h:
            false_alert |= i in calm
            if surge and read_topic == topic:
                return seen <= within, false_alert
    return False, false_alert


def rise(text: str) -> float | str:
    """An ``--increase`` value: a number above 0, or ``matched``."""
    if text == "matched":
        return text
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0 or 'matched', got {text!r}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_stream_arguments(parser)
    parser.add_argument(
        "--h",
        type=float,
        nargs="+",
        default=[6, 7, 7.5, 8, 8.5, 9, 10, 11, 12],
        help="oracle thresholds",
    )
    parser.add_argument(
        "--increase",
        nargs="+",
        type=rise,
        default=[0.1, 0.15, 0.2, 0.25, 0.3, "matched"],
        help="the rises the oracle is tuned to; 'matched': the surge's own, as read",
    )
    args = parser.parse_args()
    models = Path(args.models)
    pool = stream_pool(args)

    started = time.perf_counter()
    texts = sorted({text for by_label in pool.values() for ts in by_label.values() for text in ts})
    read = read_messages(models, texts)
    streams: list[list[Reading]] = []
    for seed in range(args.runs):
        plan = seeded_stream(args, pool, seed)
        streams.append([(*read[text], surge, true) for true, _label, surge, text in plan])

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    surge_counts = [0, 0]
    for stream in streams:
        for read_topic, negative, surge, _true in stream:
            if not surge:
                counts[read_topic][0] += 1
                counts[read_topic][1] += negative
            elif read_topic == args.topic:
                surge_counts[0] += 1
                surge_counts[1] += negative
    if not surge_counts[0] or args.topic not in counts:
        fail(
            f"no message was read as {args.topic!r} in both the calm and the surge part; "
            "give --surge and --calm some messages, or another --topic"
        )
    calm_share = {t: neg / n for t, (n, neg) in counts.items()}
    surge_share = surge_counts[1] / surge_counts[0]

    calm = range(args.warmup, args.warmup + args.calm)
    matched = surge_share - calm_share[args.topic]
    grid = []
    for increase in args.increase:
        tuned = matched if increase == "matched" else float(increase)
        if tuned <= 0:  # the surge did not raise the share as read: nothing to be tuned to
            continue
        for h in args.h:
            outcomes = [
                oracle_run(
                    s, calm_share, tuned, topic=args.topic, h=h, calm=calm, within=args.within
                )
                for s in streams
            ]
            grid.append(
                {
                    "increase": round(tuned, 3),
                    "h": h,
                    "within": sum(found for found, _ in outcomes) / args.runs,
                    "false_alerts": sum(fa for _, fa in outcomes),
                }
            )

    priors = read_priors(models, {})
    engine = [one_run(args, {}, pool, read, seed, priors) for seed in range(args.runs)]
    engine_false = sum(1 for r in engine if r["calm"])
    target = f"detected_within_{args.within}"
    best = []
    for budget in sorted({engine_false, *(round(args.runs * q) for q in (0.05, 0.1, 0.25))}):
        allowed = [g for g in grid if g["false_alerts"] <= budget]
        top = max(allowed, key=lambda g: (g["within"], -g["false_alerts"]), default=None)
        best.append(
            {
                "calm_false_alert_runs_at_most": budget,
                target: round(top["within"], 3) if top else None,
                "increase": top["increase"] if top else None,
                "h": top["h"] if top else None,
                "runs_with_calm_false_alerts": top["false_alerts"] if top else None,
            }
        )
    print(
        json.dumps(
            {
                "bench": "alerts_bound",
                "runs": args.runs,
                "surge_topic": args.topic,
                "calm_share_as_read": round(calm_share[args.topic], 3),
                "surge_share_as_read": round(surge_share, 3),
                "engine": {
                    target: round(
                        sum(r["delay"] is not None and r["delay"] <= args.within for r in engine)
                        / args.runs,
                        3,
                    ),
                    "runs_with_calm_false_alerts": engine_false,
                },
                "oracle_best": best,
                "oracle_settings_tried": len(grid),
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
