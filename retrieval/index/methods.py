"""Choosing, when an index is built, the way it answers (``plain``, ``vote`` or ``head``).

Which way answers best depends on the data: the intent head needs enough questions per
intent to learn from, the vote needs intents at all, and plain nearest-question search is
all there is without them. So ``frontdesk index build`` does not guess: it holds out a
seeded share of the labelled questions (stratified by intent), answers them the three ways
from the rest, exactly as the served bot would (:func:`retrieval.index.intents.answer_hits`),
and keeps the way with the best hit@1 (then MRR). The figures go into the manifest beside
the choice, so an index says why it answers the way it does, and the served bot and
``frontdesk eval retrieval`` both follow the manifest.

A held-out question is right when the first answer carries its intent: the only truth a
Q&A file offers about a question that is not in the index. That is also the limit of the
choice: where one intent holds several different answers, the intent can be right and the
answer not, and vote and head show one answer per intent; compare the methods on questions
with expected answer ids (``frontdesk eval retrieval --method``) and build with the one
that wins.

Plain search stays unless vote or head beats it by more than chance: on the questions where
the two disagree (one right, the other wrong), a one-sided sign test must give
p <= :data:`SIGNIFICANCE`. With a few dozen held-out questions a gain of two or three is
noise, and switching on noise changes what the bot says for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from retrieval.index.hits import Hit
from retrieval.index.intents import (
    ANSWER_METHODS,
    INTENT_NEIGHBOURS,
    AnswerMethod,
    IntentHead,
    answer_hits,
    check_answer_method,
)

METHOD_CHOICES = ("auto", *ANSWER_METHODS)
"""What ``frontdesk index build --method`` (and the ``retrieval_method`` setting) accept:
``auto`` chooses on the validation split, the others are taken as given."""

VALIDATION_SHARE = 0.15
"""Share of each intent's questions held out to compare the methods."""
VALIDATION_MAX = 2000
"""Held-out questions at most: enough to tell the methods apart, few enough that a large
index is not searched for minutes at build time."""
MIN_VALIDATION = 20
"""Below this many held-out questions the comparison is noise; ``auto`` keeps ``plain``."""
VALIDATION_K = 10
"""Answers per question that hit@k and MRR are taken over (``frontdesk eval``'s ``k``)."""
PREFERENCE: tuple[AnswerMethod, ...] = ("plain", "vote", "head")
"""On a tie the simpler method wins: fewer moving parts for the same answers."""
SIGNIFICANCE = 0.05
"""How unlikely a method's wins over plain search must be by chance for ``auto`` to take it."""


def check_requested(method: str) -> None:
    if method not in METHOD_CHOICES:
        raise ValueError(f"method must be one of {', '.join(METHOD_CHOICES)}, not {method!r}")


def choose_method(
    vectors: np.ndarray,
    intents: Sequence[str | None],
    *,
    requested: str = "auto",
    seed: int = 0,
    share: float = VALIDATION_SHARE,
    max_queries: int = VALIDATION_MAX,
) -> dict[str, Any]:
    """The manifest's ``answering`` section for an index of ``vectors`` (unit rows) whose
    questions carry ``intents`` (None: none).

    ``{"method", "chosen_by", "requested", "validation"?, "reason"?}``: ``chosen_by`` is
    ``validation`` (``auto`` compared the methods), ``request`` (a method was asked for;
    the figures, when they could be measured, are still recorded) or ``default`` (``auto``
    without enough labelled questions to compare: ``plain``, and ``reason`` says why).
    """
    check_requested(requested)
    if len(vectors) != len(intents):
        raise ValueError(f"{len(vectors)} vectors but {len(intents)} intents")
    result: dict[str, Any] = {"requested": requested}
    held_out, reason = validation_rows(intents, seed, share, max_queries)
    if reason is None:
        result["validation"] = validate(vectors, intents, held_out, seed=seed, share=share)
    if requested != "auto":
        check_answer_method(requested)
        result.update(method=requested, chosen_by="request")
    elif reason is not None:
        result.update(method="plain", chosen_by="default", reason=reason)
    else:
        validation = result["validation"]
        figures = validation["methods"]
        beats_plain = [
            m for m in PREFERENCE[1:] if validation["versus_plain"][m]["p"] <= SIGNIFICANCE
        ]
        best = max(
            ["plain", *beats_plain],
            key=lambda m: (figures[m]["hit_at_1"], figures[m]["mrr"], -PREFERENCE.index(m)),
        )
        result.update(method=best, chosen_by="validation")
    return result


def validation_rows(
    intents: Sequence[str | None], seed: int, share: float, max_queries: int
) -> tuple[np.ndarray, str | None]:
    """The held-out rows (sorted), or why there are too few to compare the methods.

    Every intent with at least two questions gives ``share`` of them (at least one), and
    keeps at least one in the index, so each held-out question's intent can be found.
    """
    rng = np.random.default_rng(seed)
    by_intent: dict[str, list[int]] = {}
    for row, intent in enumerate(intents):
        if intent:
            by_intent.setdefault(intent, []).append(row)
    if len(by_intent) < 2:
        return np.zeros(0, dtype=np.int64), "fewer than two intents: nothing for vote or head"
    chosen: list[int] = []
    for intent in sorted(by_intent):
        rows = by_intent[intent]
        if len(rows) < 2:
            continue
        take = min(len(rows) - 1, max(1, round(share * len(rows))))
        chosen.extend(rng.choice(rows, size=take, replace=False).tolist())
    if len(chosen) > max_queries:
        chosen = rng.choice(chosen, size=max_queries, replace=False).tolist()
    if len(chosen) < MIN_VALIDATION:
        return np.zeros(0, dtype=np.int64), (
            f"{len(chosen)} questions could be held out to compare the methods, fewer than "
            f"{MIN_VALIDATION}: too few questions per intent"
        )
    return np.array(sorted(chosen), dtype=np.int64), None


def validate(
    vectors: np.ndarray,
    intents: Sequence[str | None],
    held_out: np.ndarray,
    *,
    seed: int = 0,
    share: float = VALIDATION_SHARE,
) -> dict[str, Any]:
    """hit@1, hit@5 and MRR of each method on the ``held_out`` rows, answered from the
    others (exact search; the head fitted on the others only)."""
    import faiss

    keep = np.setdiff1d(np.arange(len(vectors)), held_out)
    reference = np.ascontiguousarray(vectors[keep], dtype=np.float32)
    queries = np.ascontiguousarray(vectors[held_out], dtype=np.float32)
    depth = min(max(INTENT_NEIGHBOURS, VALIDATION_K), len(keep))
    scores, rows = faiss.knn(queries, reference, depth, metric=faiss.METRIC_INNER_PRODUCT)
    neighbours = [
        [
            Hit(str(keep[j]), "", "", intents[keep[j]], float(s))
            for s, j in zip(score_row, row, strict=True)
            if j >= 0
        ]
        for score_row, row in zip(scores, rows, strict=True)
    ]
    labelled = [int(i) for i in keep if intents[i]]
    head = IntentHead.fit(vectors[labelled], [str(intents[i]) for i in labelled], seed=seed)
    gold = [intents[i] for i in held_out]
    methods: dict[str, dict[str, float]] = {}
    first_right: dict[str, list[bool]] = {}
    for method in ANSWER_METHODS:
        answers = answer_hits(queries, neighbours, VALIDATION_K, method=method, head=head)
        ranks = [
            next((n for n, h in enumerate(hits, start=1) if h.intent == g), None)
            for hits, g in zip(answers, gold, strict=True)
        ]
        methods[method] = rank_figures(ranks)
        first_right[method] = [r == 1 for r in ranks]
    versus_plain: dict[str, dict[str, float]] = {}
    for method in ANSWER_METHODS[1:]:
        pairs = list(zip(first_right[method], first_right["plain"], strict=True))
        wins = sum(mine and not plain for mine, plain in pairs)
        losses = sum(plain and not mine for mine, plain in pairs)
        versus_plain[method] = {"wins": wins, "losses": losses, "p": sign_test(wins, losses)}
    return {
        "n": len(held_out),
        "share": share,
        "seed": seed,
        "k": VALIDATION_K,
        "right": "intent",
        "methods": methods,
        "versus_plain": versus_plain,
    }


def sign_test(wins: int, losses: int) -> float:
    """One-sided sign test: the chance of at least ``wins`` of ``wins + losses`` disagreements
    going one way if either way were equally likely (1.0 when there are none)."""
    n = wins + losses
    if not n:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(wins, n + 1))
    return round(tail / 2**n, 4)


def rank_figures(ranks: Sequence[int | None]) -> dict[str, float]:
    """hit@1, hit@5 and MRR from the 1-based rank of each query's first right answer
    (the same figures ``frontdesk eval retrieval`` reports)."""
    n = len(ranks)
    if not n:
        return {"hit_at_1": 0.0, "hit_at_5": 0.0, "mrr": 0.0}
    return {
        "hit_at_1": round(sum(r == 1 for r in ranks) / n, 4),
        "hit_at_5": round(sum(r is not None and r <= 5 for r in ranks) / n, 4),
        "mrr": round(sum(1 / r for r in ranks if r is not None) / n, 4),
    }
