"""How well the default models (the ones `make run` trains from data/) understand customers.

Measures, on the held-out sets in data/eval/ (written separately from the training data):
- intent accuracy on unseen paraphrases of the 20 core intents;
- the share of out-of-domain questions rejected as nlu_fallback;
- sentiment macro-recall on held-out customer messages;
- retrieval hit@1 / hit@5 on paraphrased Q&A questions, and the share answered above the
  serving threshold;
- multi-turn task completion on the held-out conversations (data/eval/conversations.yml):
  each is typed, turn by turn, into the pipeline `frontdesk chat` runs (models, forms, rules,
  the rasa_sdk actions), and counts as completed when the story's final action ran and the
  slots the story sets were set to its values. Per-turn action agreement compares what the
  bot did after each message with the story. The same conversations are also replayed as
  `frontdesk test stories` replays them (teacher forcing), for its pass rate.

Prints one JSON line (conversations that were not completed are listed on stderr).
Usage: python bench/demo_quality.py [--models models] [--data data]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.chat.nlu import ParseResult  # noqa: E402
from bot.chat.story_test import hold_stories  # noqa: E402
from bot.core.config import Config  # noqa: E402
from bot.core.metrics import Metrics  # noqa: E402
from bot.server.runtime import Runtime, load_runtime  # noqa: E402
from bot.storage import Store  # noqa: E402
from retrieval.base.labels import FALLBACK_INTENT  # noqa: E402
from retrieval.base.stories import (  # noqa: E402
    ANY_VALUE,
    ActionStep,
    PlainStep,
    SlotStep,
    Story,
    UserStep,
    expand,
    read_story_files,
)
from retrieval.models.classifier import TextClassifier  # noqa: E402

CHANNEL = "bench"
LISTEN = "action_listen"
HANDOFF = "action_handoff"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def macro_recall(gold: list[str], predicted: list[str]) -> float:
    labels = sorted(set(gold))
    recalls = []
    for label in labels:
        total = sum(1 for g in gold if g == label)
        hit = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p == label)
        recalls.append(hit / total)
    return sum(recalls) / len(recalls)


# --- Multi-turn task completion -------------------------------------------------------------


def story_turns(steps: Sequence[PlainStep]) -> list[tuple[str, list[str]]]:
    """Each customer message of a story with the actions the bot should take after it."""
    turns: list[tuple[str, list[str]]] = []
    for step in steps:
        if isinstance(step, UserStep):
            turns.append((step.text or "", []))
        elif isinstance(step, ActionStep) and turns and step.name != LISTEN:
            turns[-1][1].append(step.name)
    return turns


def story_slots(steps: Sequence[PlainStep]) -> dict[str, list[Any]]:
    """The values the story sets each slot to, in order (requested_slot belongs to the
    form's mechanics, not to the task)."""
    wanted: dict[str, list[Any]] = {}
    for step in steps:
        if isinstance(step, SlotStep):
            for name, value in step.slots:
                if name != "requested_slot":
                    wanted.setdefault(name, []).append(value)
    return wanted


def in_order(expected: Sequence[Any], seen: Sequence[Any]) -> bool:
    """Whether ``expected`` occurs in ``seen`` in this order, other values between allowed
    (a slot listed without a value means any value but None)."""
    position = 0
    for value in seen:
        if position == len(expected):
            break
        want = expected[position]
        if (want is ANY_VALUE and value is not None) or value == want:
            position += 1
    return position == len(expected)


def actions_per_turn(events: Sequence[Mapping[str, Any]], routes: Sequence[str]) -> list[list[str]]:
    """The actions the bot ran after each customer message, from the stored tracker events.

    The dialogue records a hand-off as the route of the turn, not as an action event, so a
    turn routed to a person counts ``action_handoff`` as its last action.
    """
    turns: list[list[str]] = []
    for event in events:
        if event.get("event") == "user":
            turns.append([])
        elif event.get("event") == "action" and turns and event.get("name") != LISTEN:
            turns[-1].append(str(event.get("name")))
    for done, route in zip(turns, routes, strict=False):
        if route == "handoff" and HANDOFF not in done:
            done.append(HANDOFF)
    return turns


def slot_values(events: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    seen: dict[str, list[Any]] = {}
    for event in events:
        if event.get("event") == "slot":
            seen.setdefault(str(event.get("name")), []).append(event.get("value"))
    return seen


@dataclass(frozen=True)
class ConversationResult:
    name: str
    turns: int
    turns_agreeing: int
    completed: bool
    first_difference: str | None


async def hold_conversation(
    runtime: Runtime, store: Store, sender: str, story: Story, steps: Sequence[PlainStep]
) -> ConversationResult:
    """Type the story's messages into the pipeline as a customer would, then read back what
    the bot did from the stored tracker events."""
    expected = story_turns(steps)
    routes: list[str] = []
    conversation_id = ""
    for text, _ in expected:
        handled = await runtime.processor.handle(CHANNEL, sender, text)
        routes.append(handled.route)
        conversation_id = handled.conversation_id
    events = await store.events(conversation_id)
    did = actions_per_turn(events, routes)
    agreeing = 0
    difference: str | None = None
    for i, (text, wanted) in enumerate(expected):
        done = did[i] if i < len(did) else []
        if done == wanted:
            agreeing += 1
        elif difference is None:
            difference = f"after {text!r}: expected {wanted}, got {done}"
    finals = [s.name for s in steps if isinstance(s, ActionStep) and s.name != LISTEN]
    final_ran = bool(finals) and any(finals[-1] in done for done in did)
    seen = slot_values(events)
    slots_ok = all(in_order(v, seen.get(k, [])) for k, v in story_slots(steps).items())
    if difference is None and not slots_ok:
        difference = f"slots: expected {story_slots(steps)}"
    return ConversationResult(
        story.name, len(expected), agreeing, final_ran and slots_ok, difference
    )


async def conversation_quality(models: Path, data: Path) -> dict[str, float | int]:
    """Task completion and action agreement on the held-out conversations, and the
    `frontdesk test stories` replay of the same file."""
    stories = read_story_files([data / "eval" / "conversations.yml"]).stories
    with tempfile.TemporaryDirectory() as scratch:
        config = Config(
            models_dir=models,
            data_dir=data,
            database_url=f"sqlite+aiosqlite:///{scratch}/bench.sqlite3",
        )
        store = await Store.open(config.database_url)
        executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="frontdesk-model")
        runtime = await load_runtime(config, store, executor, Metrics())
        try:
            results = [
                await hold_conversation(runtime, store, f"bench-{i}", story, steps)
                for i, (story, steps) in enumerate(expand(stories))
            ]

            async def parse(text: str) -> ParseResult:
                return await runtime.nlu.parse(text)

            replay = (await hold_stories(runtime.engine, stories, parse)).summary()
        finally:
            await runtime.close()
            await store.close()
            executor.shutdown(wait=True)
    for result in results:
        if not result.completed:
            print(f"# not completed: {result.name}: {result.first_difference}", file=sys.stderr)
    turns = sum(r.turns for r in results)
    return {
        "conversations": len(results),
        "task_completion": round(sum(r.completed for r in results) / len(results), 4),
        "conversation_turns": turns,
        "action_agreement": round(sum(r.turns_agreeing for r in results) / turns, 4),
        "story_replay_pass_rate": replay["accuracy"],
        "story_replay_action_accuracy": round(
            replay["actions_correct"] / max(replay["actions"], 1), 4
        ),
        "story_replay_intent_accuracy": round(
            replay["intents_correct"] / max(replay["intents"], 1), 4
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--data", type=Path, default=REPO / "data")
    args = parser.parse_args()
    evals = args.data / "eval"
    result: dict[str, float | int | str] = {"bench": "demo_quality"}

    intent = TextClassifier.load(args.models / "intent")
    rows = read_csv(evals / "intent_paraphrases.csv")
    started = time.perf_counter()
    predictions = intent.predict([r["text"] for r in rows])
    elapsed = time.perf_counter() - started
    result["paraphrase_n"] = len(rows)
    result["paraphrase_accuracy"] = round(
        sum(p.label == r["intent"] for p, r in zip(predictions, rows, strict=True)) / len(rows), 4
    )
    result["intent_ms_per_message_batched"] = round(elapsed * 1000 / len(rows), 2)
    ood = read_csv(evals / "out_of_domain.csv")
    rejected = [p.label == FALLBACK_INTENT for p in intent.predict([r["text"] for r in ood])]
    result["ood_n"] = len(ood)
    result["ood_rejected"] = round(sum(rejected) / len(ood), 4)

    sentiment = TextClassifier.load(args.models / "sentiment")
    rows = read_csv(evals / "sentiment_holdout.csv")
    labels = [p.label for p in sentiment.predict([r["text"] for r in rows])]
    result["sentiment_n"] = len(rows)
    result["sentiment_macro_recall"] = round(macro_recall([r["label"] for r in rows], labels), 4)

    from retrieval.index import AnswerIndex
    from retrieval.models.encoder import load_encoder

    index = AnswerIndex.load(args.models / "index", load_encoder())
    rows = read_csv(evals / "retrieval_queries.csv")
    hits = index.search_many([r["text"] for r in rows], k=5)
    threshold = Config().retrieval_threshold
    result["retrieval_n"] = len(rows)
    result["retrieval_hit_at_1"] = round(
        sum(bool(h) and h[0].id == r["id"] for h, r in zip(hits, rows, strict=True)) / len(rows), 4
    )
    result["retrieval_hit_at_5"] = round(
        sum(r["id"] in {x.id for x in h} for h, r in zip(hits, rows, strict=True)) / len(rows), 4
    )
    result["retrieval_answered_above_threshold"] = round(
        sum(bool(h) and h[0].score >= threshold for h in hits) / len(rows), 4
    )
    ood_hits = index.search_many([r["text"] for r in ood], k=1)
    result["retrieval_ood_answered_above_threshold"] = round(
        sum(bool(h) and h[0].score >= threshold for h in ood_hits) / len(ood), 4
    )
    result.update(asyncio.run(conversation_quality(args.models, args.data)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
