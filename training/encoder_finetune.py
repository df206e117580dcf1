"""Fine-tuning the sentence encoder on the Q&A pairs (optional; off by default).

MultipleNegativesRankingLoss: each question should be closer to its own answer than to the
other answers in its batch. When the pairs carry intents, a batch never holds two pairs of
the same intent, whose answers would otherwise be pushed apart as if they were wrong.

On a small CPU a useful fine-tune takes many minutes, and the intent head
(:mod:`retrieval.index.intents`) reaches the retrieval target without it
(``bench/retrieval_bitext.py --fine-tune`` compares the two), so it stays an option.
The result is a sentence-transformers directory that ``load_encoder`` reads; an index
built with it records its fingerprint and refuses to load with any other encoder.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from retrieval.base.qa import QAPair
from retrieval.models.encoder import default_encoder_path, pick_device


def fine_tune_encoder(
    pairs: Sequence[QAPair],
    out: str | Path,
    *,
    base: str | Path | None = None,
    positive: Literal["answer", "question"] = "answer",
    epochs: float = 1.0,
    max_seconds: float | None = None,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
    max_seq_length: int = 64,
    seed: int = 0,
    device: str | None = None,
) -> dict[str, Any]:
    """Fine-tune ``base`` (the bundled encoder by default) and save it to ``out``.

    ``positive="answer"`` pairs each question with its answer (the Q&A pairs as they are);
    ``"question"`` with another question of the same intent (pairs without an intent are
    then skipped). Training stops after ``epochs`` or ``max_seconds``, whichever is first.
    Returns a summary (steps, pairs seen, seconds).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    if positive not in ("answer", "question"):
        raise ValueError(f"positive must be 'answer' or 'question', not {positive!r}")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    chosen = pick_device(device)
    model = SentenceTransformer(
        str(base or default_encoder_path()), device=chosen, local_files_only=True
    )
    model.max_seq_length = max_seq_length
    by_intent: dict[str, list[QAPair]] = {}
    for pair in pairs:
        by_intent.setdefault(pair.intent or f"\0{pair.id}", []).append(pair)
    if positive == "question":
        by_intent = {k: v for k, v in by_intent.items() if len(v) > 1 and pair_has_intent(k)}
    if not by_intent:
        raise ValueError("no pairs to fine-tune on")
    loss_fn = MultipleNegativesRankingLoss(model)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    started = time.perf_counter()
    steps = seen = 0
    epoch = 0.0
    stopped = "epochs"
    while epoch < epochs:
        batches = _batches(by_intent, batch_size, rng)
        if epochs - epoch < 1:
            batches = batches[: max(1, int(len(batches) * (epochs - epoch)))]
        for batch in batches:
            if max_seconds is not None and time.perf_counter() - started >= max_seconds:
                stopped = "max_seconds"
                break
            anchors = [p.question for p in batch]
            if positive == "answer":
                positives = [p.answer for p in batch]
            else:
                positives = [_other_question(p, by_intent, rng) for p in batch]
            features = [_features(model, anchors, chosen), _features(model, positives, chosen)]
            loss = loss_fn(features, torch.zeros(len(batch)))
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            steps += 1
            seen += len(batch)
        if stopped == "max_seconds":
            break
        epoch += 1
    model.eval()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    return {
        "out": str(out),
        "positive": positive,
        "steps": steps,
        "pairs_seen": seen,
        "stopped_by": stopped,
        "seconds": round(time.perf_counter() - started, 1),
        "device": chosen,
    }


def pair_has_intent(key: str) -> bool:
    return not key.startswith("\0")


def _batches(
    by_intent: dict[str, list[QAPair]], batch_size: int, rng: random.Random
) -> list[list[QAPair]]:
    """Shuffled batches with at most one pair per intent (pairs without one are their own
    group). With fewer intents than ``batch_size`` the batches are simply smaller."""
    pools = {key: rng.sample(group, len(group)) for key, group in by_intent.items()}
    batches: list[list[QAPair]] = []
    while pools:
        keys = list(pools)
        rng.shuffle(keys)
        for start in range(0, len(keys), batch_size):
            batch = [pools[key].pop() for key in keys[start : start + batch_size]]
            if len(batch) > 1:  # a lone pair has no negative to learn from
                batches.append(batch)
        pools = {key: pool for key, pool in pools.items() if pool}
    rng.shuffle(batches)
    return batches


def _other_question(pair: QAPair, by_intent: dict[str, list[QAPair]], rng: random.Random) -> str:
    group = by_intent[pair.intent or f"\0{pair.id}"]
    while True:
        other = rng.choice(group)
        if other.id != pair.id:
            return other.question


def _features(model: Any, texts: list[str], device: str) -> dict[str, Any]:
    import torch

    features = model.preprocess(texts)
    # Tensors go to the model's device; anything else (e.g. a modality tag) stays as is.
    return {
        key: value.to(device) if isinstance(value, torch.Tensor) else value
        for key, value in features.items()
    }
