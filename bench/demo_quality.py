"""How well the default models (the ones `make run` trains from data/) understand customers.

Measures, on the held-out sets in data/eval/ (written separately from the training data):
- intent accuracy on unseen paraphrases of the 20 core intents;
- the share of out-of-domain questions rejected as nlu_fallback;
- sentiment macro-recall on held-out customer messages;
- retrieval hit@1 / hit@5 on paraphrased Q&A questions, and the share answered above the
  serving threshold.

Prints one JSON line. Usage: python bench/demo_quality.py [--models models] [--data data]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.core.config import Config  # noqa: E402
from retrieval.base.labels import FALLBACK_INTENT  # noqa: E402
from retrieval.models.classifier import TextClassifier  # noqa: E402


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
    print(json.dumps(result))


if __name__ == "__main__":
    main()
