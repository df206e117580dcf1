"""Does a message's label depend on the messages it is batched with?

The server batches concurrent messages into one forward pass. On the CPU the models run with
int8 linear layers that scale each row by itself (``retrieval.models.int8``), so no message should
change label with its neighbours; under PyTorch's dynamic quantization, which scales the whole
batch at once, 28-35 of these 540 messages changed intent and 6-10 changed sentiment. This
script reads each message of ``data/eval/sentiment_stream.csv`` alone, then in random batches
of ``--batch`` (three shuffles), for the int8 and the fp32 forms of both models.

Prints ONE JSON line: per model and form, how many messages changed label in each shuffle.
Example: ``python bench/batch_invariance.py --models models``
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alerts_replay import REPO, require_models


def flips(classifier: Any, texts: list[str], batch: int, shuffles: int) -> list[int]:
    alone = [classifier.predict([text])[0].label for text in texts]
    rng = random.Random(0)
    counts = []
    for _ in range(shuffles):
        order = list(range(len(texts)))
        rng.shuffle(order)
        got: dict[int, str] = {}
        for first in range(0, len(order), batch):
            rows = order[first : first + batch]
            for i, prediction in zip(
                rows, classifier.predict([texts[i] for i in rows]), strict=True
            ):
                got[i] = prediction.label
        counts.append(sum(got[i] != alone[i] for i in range(len(texts))))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=str(REPO / "models"))
    parser.add_argument("--messages", default=str(REPO / "data" / "eval" / "sentiment_stream.csv"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--shuffles", type=int, default=3)
    args = parser.parse_args()
    models = Path(args.models)
    require_models(models)
    from retrieval.models.classifier import TextClassifier

    with open(args.messages, newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    result: dict[str, Any] = {"bench": "batch_invariance", "messages": len(texts)}
    for name in ("intent", "sentiment"):
        for form, quantize in (("int8", True), ("fp32", False)):
            classifier = TextClassifier.load(models / name, quantize=quantize)
            result[f"{name}_{form}_label_changes"] = flips(
                classifier, texts, args.batch, args.shuffles
            )
    result["batch"] = args.batch
    print(json.dumps(result))


if __name__ == "__main__":
    main()
