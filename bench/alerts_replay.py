"""Replay a labelled message stream through the real chat webhook and measure the alerts.

The app runs in-process (aiohttp TestServer) on the trained models in ``--models`` (``make run``
writes them to ``models/``), with the default ``[alerts]`` rules and one outgoing alert webhook
pointed at a local receiver that checks the HMAC signature. Messages go to
``POST /webhooks/rest/webhook``; a clock the bench controls stamps the turns, so hours of
stream time replay in minutes.

The stream: ``--warmup`` calm messages, so the store holds some history (alerts raised then are
printed apart: on an empty store no topic has a usual level yet), then ``--calm`` messages
spread over the topics at about 20% negative, then ``--surge`` messages in which ``--topic``
turns about 60% negative (the others stay calm).
Where the texts come from (``--stream``):

- ``labelled`` (the default): customer messages from ``data/eval/sentiment_stream.csv``, each
  written for one topic and one tone and labelled as a whole. None is in the models' training
  data (tests/data checks that).
- ``composite``: a topic phrase from ``data/nlu.yml`` joined to a tone sentence from
  ``data/sentiment.csv``, labelled with the tone sentence's label. Many topic phrases are
  complaints in themselves ("my payment failed. Great, thanks!"), so the labels understate the
  negative share the texts carry, and the tone sentences are the sentiment model's training
  data. Kept to compare with earlier figures.

Prints ONE JSON line: detection delay (messages of the surge topic and seconds of stream
time), false alerts during the calm stretch (and for other topics during the surge), the alerts
of the warm-up, and the sentiment macro-recall on the stream. ``--alerts FILE`` replays other
rules: the ``[alerts]`` table of that TOML file replaces the defaults. Example:
``python bench/alerts_replay.py --models models --calm 5000 --surge 1500``
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import sys
import time
import tomllib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
LABELS = ("negative", "neutral", "positive")


def fail(message: str) -> None:
    print(f"{Path(sys.argv[0]).stem}: {message}", file=sys.stderr)
    raise SystemExit(2)


def require_models(models: Path) -> None:
    """Exit with the fix when ``models`` lacks a trained intent or sentiment model."""
    from retrieval.base.modeldir import CARD_NAME

    missing = [p for p in ("intent", "sentiment") if not (models / p / CARD_NAME).is_file()]
    if missing:
        fail(
            f"no trained {' and '.join(missing)} model under {models}/; "
            "run `make run` (or `make models`) first, or pass --models DIR"
        )


def topic_phrases(domain_file: Path, nlu_file: Path) -> dict[str, list[str]]:
    import yaml

    categories = (yaml.safe_load(domain_file.read_text()) or {}).get("categories", {})
    phrases: dict[str, list[str]] = defaultdict(list)
    for block in yaml.safe_load(nlu_file.read_text())["nlu"]:
        topic = categories.get(block.get("intent"))
        if topic in (None, "conversation", "feedback"):
            continue
        for line in str(block.get("examples", "")).splitlines():
            text = line.strip().removeprefix("- ").strip()
            if text:
                phrases[topic].append(text)
    return dict(phrases)


def tone_sentences(path: Path) -> dict[str, list[str]]:
    by_label: dict[str, list[str]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["label"] in LABELS:
                by_label[row["label"]].append(row["text"].strip())
    return dict(by_label)


def stream_messages(path: Path) -> dict[str, dict[str, list[str]]]:
    """topic -> label -> texts, from a ``text,topic,label`` file."""
    pool: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if missing := {"text", "topic", "label"} - set(reader.fieldnames or ()):
            fail(
                f"{path}:1: no {', '.join(sorted(missing))} column; the header is text,topic,label"
            )
        for line, row in enumerate(reader, start=2):
            if row["label"] not in LABELS:
                fail(f"{path}:{line}: label {row['label']!r} is not one of {', '.join(LABELS)}")
            pool[row["topic"]][row["label"]].append(row["text"].strip())
    for topic, by_label in pool.items():
        if missing := [label for label in LABELS if not by_label.get(label)]:
            fail(f"{path}: topic {topic!r} has no {' or '.join(missing)} messages; add some")
    return {topic: dict(by_label) for topic, by_label in pool.items()}


def label_for(rng: random.Random, negative_share: float) -> str:
    if rng.random() < negative_share:
        return "negative"
    return "neutral" if rng.random() < 0.5 else "positive"


def plan_stream(
    rng: random.Random, topics: list[str], *, calm: int, surge: int, topic: str
) -> list[tuple[str, str, bool]]:
    """(topic, label, in the surge) per message. Labels are all drawn before any text, so a
    seed gives the same plan whatever the texts and the concurrency."""
    plan: list[tuple[str, str, bool]] = []
    for _ in range(calm):
        plan.append((rng.choice(topics), label_for(rng, 0.2), False))
    for _ in range(surge):
        which = rng.choice(topics)
        plan.append((which, label_for(rng, 0.6 if which == topic else 0.2), True))
    return plan


def labelled_stream(
    rng: random.Random,
    pool: dict[str, dict[str, list[str]]],
    *,
    calm: int,
    surge: int,
    topic: str,
) -> list[tuple[str, str, bool, str]]:
    """(topic, label, in the surge, text) per message, texts drawn from ``pool``."""
    plan = plan_stream(rng, sorted(pool), calm=calm, surge=surge, topic=topic)
    return [(t, label, s, rng.choice(pool[t][label])) for t, label, s in plan]


def stream(
    rng: random.Random,
    phrases: dict[str, list[str]],
    tones: dict[str, list[str]],
    *,
    calm: int,
    surge: int,
    topic: str,
) -> list[tuple[str, str, bool, str]]:
    """The composite stream: (topic, label, in the surge, "topic phrase. tone sentence").
    Offline tuning scripts import this to replay exactly the bench's messages."""
    plan = plan_stream(rng, sorted(phrases), calm=calm, surge=surge, topic=topic)
    return [
        (which, label, in_surge, f"{rng.choice(phrases[which])}. {rng.choice(tones[label])}")
        for which, label, in_surge in plan
    ]


def macro_recall(pairs: list[tuple[str, str | None]]) -> float:
    recalls = []
    for label in LABELS:
        wanted = [got for want, got in pairs if want == label]
        if wanted:
            recalls.append(sum(got == label for got in wanted) / len(wanted))
    return sum(recalls) / len(recalls) if recalls else 0.0


async def replay(args: argparse.Namespace) -> dict[str, Any]:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from sqlalchemy import select

    import bot.storage.store as store_module
    from bot.core.config import Config
    from bot.ops.webhooks import SIGNATURE_HEADER, verify
    from bot.server.app import create_app
    from bot.server.appkeys import OPS, RUNTIME, STORE
    from bot.storage.schema import turns

    rng = random.Random(args.seed)
    if getattr(args, "plan", None) is not None:
        plan = args.plan  # bench/alerts_calm.py: a stream planned elsewhere
    elif args.stream == "labelled":
        pool = stream_messages(Path(args.stream_file))
        if args.topic not in pool:
            fail(f"--topic {args.topic!r} is not one of {', '.join(sorted(pool))}")
        plan = labelled_stream(
            rng, pool, calm=args.warmup + args.calm, surge=args.surge, topic=args.topic
        )
    else:
        phrases = topic_phrases(REPO / "data" / "domain.yml", REPO / "data" / "nlu.yml")
        if args.topic not in phrases:
            fail(f"--topic {args.topic!r} is not one of {', '.join(sorted(phrases))}")
        tones = tone_sentences(REPO / "data" / "sentiment.csv")
        plan = stream(
            rng, phrases, tones, calm=args.warmup + args.calm, surge=args.surge, topic=args.topic
        )

    # The stream's clock: every turn the store writes is stamped with it.
    clock = {"now": datetime.now(UTC)}
    store_module.utcnow = lambda: clock["now"]  # type: ignore[assignment]

    received: list[dict[str, Any]] = []
    bad_signatures = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal bad_signatures
        raw = await request.read()
        if not verify(SECRET, raw, request.headers.get(SIGNATURE_HEADER)):
            bad_signatures += 1
        received.append(json.loads(raw))
        return web.json_response({"ok": True})

    hook_app = web.Application()
    hook_app.router.add_post("/hook", receive)
    hook_server = TestServer(hook_app)
    await hook_server.start_server()

    rules: dict[str, Any] = {}
    if args.alerts:
        rules = tomllib.loads(Path(args.alerts).read_text(encoding="utf-8")).get("alerts", {})

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / f"alerts-replay-{int(time.time())}.sqlite3"
    config = Config.from_mapping(
        {
            "database_url": f"sqlite+aiosqlite:///{database}",
            "models_dir": Path(args.models),
            "data_dir": REPO / "data",
            "rate_limit_per_sender": 0,
            "rate_limit_per_ip": 0,
            "negative_handoff_turns": 0,
            "alerts": {
                **rules,
                "webhooks": [
                    {"url": str(hook_server.make_url("/hook")), "format": "json", "secret": SECRET}
                ],
            },
        }
    )
    app = create_app(config)
    client = TestClient(TestServer(app))
    await client.start_server()
    started = time.perf_counter()
    try:
        await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=600)
        if app[RUNTIME].runtime is None:
            fail(f"the models did not load: {app[RUNTIME].error}")
        stream_start = clock["now"]
        sent: dict[str, tuple[str, str, float, bool]] = {}  # id -> (topic, label, ts, surge)
        calm_at = stream_start + timedelta(seconds=args.warmup * args.step)
        surge_at = stream_start + timedelta(seconds=(args.warmup + args.calm) * args.step)

        async def send(i: int, text: str) -> None:
            response = await client.post(
                "/webhooks/rest/webhook",
                json={"sender": f"c{i}", "message": text, "metadata": {"message_id": f"m{i}"}},
            )
            if response.status != 200:
                fail(f"the webhook answered {response.status}: {await response.text()}")

        batch = max(1, args.concurrency)
        for first in range(0, len(plan), batch):
            clock["now"] = stream_start + timedelta(seconds=first * args.step)
            chunk = plan[first : first + batch]
            for j, (topic, label, surge, _text) in enumerate(chunk):
                sent[f"c{first + j}"] = (topic, label, clock["now"].timestamp(), surge)
            await asyncio.gather(*(send(first + j, item[3]) for j, item in enumerate(chunk)))
            if first % 500 < batch:
                print(f"{first + len(chunk)}/{len(plan)} messages", file=sys.stderr)
        await app[OPS].settle()
        await asyncio.wait_for(app[OPS].dispatcher.join(), timeout=60)

        # What the models said about each message, from the store.
        async with app[STORE].engine.connect() as conn:
            rows = await conn.execute(
                select(turns.c.message_id, turns.c.sentiment).where(turns.c.role == "user")
            )
            predicted = {f"c{r.message_id[1:]}": r.sentiment for r in rows}
    finally:
        await client.close()
        await hook_server.close()

    opened = [n["alert"] for n in received if n["event"] == "alert.opened"]
    surge_ts = surge_at.timestamp()

    def at(alert: dict[str, Any]) -> float:
        return datetime.fromisoformat(alert["opened_at"]).timestamp()

    stream_start_ts = stream_start.timestamp()
    calm_ts = calm_at.timestamp()
    warmup_alerts = [a for a in opened if at(a) < calm_ts]
    calm_false = [a for a in opened if calm_ts <= at(a) < surge_ts]
    other_false = [a for a in opened if at(a) >= surge_ts and a["topic"] not in (args.topic, "*")]
    detected = sorted((a for a in opened if a["topic"] == args.topic and at(a) >= surge_ts), key=at)
    delay_messages = delay_seconds = None
    if detected:
        when = at(detected[0])
        delay_seconds = round(when - surge_ts, 1)
        delay_messages = sum(
            1
            for topic, _l, ts, surge in sent.values()
            if surge and topic == args.topic and ts <= when
        )
    pairs = [(label, predicted.get(key)) for key, (_t, label, _ts, _s) in sent.items()]

    def negative_share(in_surge: bool, seen: bool) -> float:
        """The surge topic's negative share in one stretch: as labelled, or as the model
        read it (what the rules can see)."""
        labels = [
            predicted.get(key) if seen else label
            for key, (t, label, _ts, surge) in sent.items()
            if t == args.topic and surge == in_surge
        ]
        return round(sum(x == "negative" for x in labels) / max(1, len(labels)), 3)

    def listed(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"rule": a["rule"], "topic": a["topic"], "stream_s": round(at(a) - stream_start_ts)}
            for a in alerts
        ]

    return {
        "bench": "alerts_replay",
        "stream": args.stream,
        "messages": len(sent),
        "warmup_messages": args.warmup,
        "calm_messages": args.calm,
        "surge_messages": args.surge,
        "surge_topic": args.topic,
        "surge_topic_messages": sum(1 for t, _l, _ts, s in sent.values() if s and t == args.topic),
        "detected": bool(detected),
        "detection_delay_messages": delay_messages,
        "detection_delay_stream_s": delay_seconds,
        "detected_by": detected[0]["rule"] if detected else None,
        "false_alerts_calm": len(calm_false),
        "false_alerts_other_topics_during_surge": len(other_false),
        "false_alerts": listed(calm_false + other_false),
        "warmup_alerts": listed(warmup_alerts),
        "overall_alerts": sum(1 for a in opened if a["topic"] == "*"),
        "sentiment_macro_recall": round(macro_recall(pairs), 4),
        "topic_negative_share_labelled": {
            "calm": negative_share(False, seen=False),
            "surge": negative_share(True, seen=False),
        },
        "topic_negative_share_seen": {
            "calm": negative_share(False, seen=True),
            "surge": negative_share(True, seen=True),
        },
        "stream_step_s": args.step,
        "bad_signatures": bad_signatures,
        "wall_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=str(REPO / "models"))
    parser.add_argument(
        "--warmup", type=int, default=1000, help="calm messages before the measured stretch"
    )
    parser.add_argument("--calm", type=int, default=5000, help="calm messages before the surge")
    parser.add_argument("--surge", type=int, default=1500, help="messages after the surge starts")
    parser.add_argument(
        "--stream",
        choices=("labelled", "composite"),
        default="labelled",
        help="labelled: whole messages from --stream-file; composite: topic phrase + tone sentence",
    )
    parser.add_argument(
        "--stream-file",
        default=str(REPO / "data" / "eval" / "sentiment_stream.csv"),
        help="text,topic,label rows for the labelled stream",
    )
    parser.add_argument("--topic", default="payments", help="the topic that surges")
    parser.add_argument("--step", type=float, default=2.0, help="stream seconds per message")
    parser.add_argument("--concurrency", type=int, default=8, help="messages in flight")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--alerts", help="a TOML file whose [alerts] table replaces the defaults")
    parser.add_argument("--workdir", default=str(REPO / "var" / "bench"))
    args = parser.parse_args()
    require_models(Path(args.models))
    if args.stream == "labelled" and not Path(args.stream_file).is_file():
        fail(f"no stream file at {args.stream_file}; pass --stream-file FILE or --stream composite")
    print(json.dumps(asyncio.run(replay(args))))


if __name__ == "__main__":
    main()
