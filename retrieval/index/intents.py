"""Deciding which intent a question belongs to, from the answer index.

Plain search answers with the single nearest question. When the Q&A pairs carry intents,
two rules decide better at the intent level (``bench/retrieval_bitext.py`` measures both;
the README has the figures):

:func:`vote_intent`
    The nearest questions vote for their intents, each weighted by
    ``exp(score / temperature)``, so one close neighbour outweighs several distant ones.
    Cheap and always available, but a modest gain: the neighbours that mislead the
    single nearest question mostly mislead the vote too.
:class:`IntentHead`
    A multinomial logistic regression over the indexed question vectors, quick to fit. It
    learns which directions of the embedding separate intents (*check* an invoice vs *get*
    one) and which do not (the customer's name, the order number, a typo) — what no
    nearest-neighbour rule can, since to it a shared name is as good as a shared meaning.

``AnswerIndex.search_intent`` applies one of them through :func:`match_intents` (by default
the head when the index holds at least :data:`HEAD_MIN_EXAMPLES` questions per intent, the
vote otherwise) and answers with the nearest indexed question of each winning intent, so
the answer shown comes from the intent chosen.

:func:`answer_hits` turns the nearest questions into the answers a method gives
(``plain``, ``vote`` or ``head``); ``AnswerIndex.answer`` serves them, and the build-time
choice of method (:mod:`retrieval.index.methods`) and ``frontdesk eval retrieval`` score
the same function's answers.

Nothing here touches the index itself: it works on the hits and vectors a search produced,
so the search can depend on it and not the other way round.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from retrieval.index.hits import Hit

IntentMethod = Literal["auto", "head", "vote"]

AnswerMethod = Literal["plain", "vote", "head"]
"""How an index answers a question (:func:`answer_hits`): ``plain``, the nearest questions;
``vote`` and ``head``, the nearest question of each intent the vote or the head ranks."""
ANSWER_METHODS: tuple[AnswerMethod, ...] = ("plain", "vote", "head")

INTENT_NEIGHBOURS = 20
"""Nearest questions consulted by ``AnswerIndex.search_intent`` (votes, answers)."""

VOTE_TEMPERATURE = 0.05
"""Cosine scores are divided by this before exponentiating: a neighbour 0.05 closer counts
e (2.7) times as much. Sharp, because plain counts (or linear weights) let a crowd of
middling neighbours outvote the one that really matches."""

HEAD_C = 10.0
"""Inverse L2 regularisation of the head; the result is insensitive to it within a wide
range, so it is not a setting."""

HEAD_MIN_EXAMPLES = 20
"""Below this many indexed questions per intent (median), ``method="auto"`` votes instead.

A linear boundary needs examples; a vote needs only neighbours. With a handful of
questions per intent the head does worse than plain search while the vote still helps;
with many the head beats both."""

HEAD_MAX_PER_INTENT = 2000
"""Vectors per intent the head is fitted on; a large index is subsampled so the fit stays
quick (the classes are few, the boundary does not need millions of points)."""


@dataclass(frozen=True, slots=True)
class IntentScore:
    intent: str
    score: float


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """What ``AnswerIndex.search_intent`` found for one query.

    ``ranking`` holds every intent considered, best first, with scores summing to 1.
    ``hits`` holds, in ranking order, the nearest indexed question of each ranked intent
    that appeared among the searched neighbours (entries without an intent never do).
    """

    ranking: tuple[IntentScore, ...] = ()
    hits: tuple[Hit, ...] = ()
    method: str = "vote"

    @property
    def intent(self) -> str | None:
        return self.ranking[0].intent if self.ranking else None

    @property
    def confidence(self) -> float:
        return self.ranking[0].score if self.ranking else 0.0


def vote_intent(hits: Sequence[Hit], *, temperature: float = VOTE_TEMPERATURE) -> list[IntentScore]:
    """Rank the intents of ``hits`` (best first) by their softmax-weighted vote.

    Hits without an intent do not vote. The scores sum to 1 (an empty list when no hit
    has an intent).
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    labelled = [h for h in hits if h.intent]
    if not labelled:
        return []
    top = max(h.score for h in labelled)
    totals: dict[str, float] = {}
    for hit in labelled:
        assert hit.intent is not None
        # Shifted by the best score so exp() never overflows, whatever the temperature.
        weight = math.exp((hit.score - top) / temperature)
        totals[hit.intent] = totals.get(hit.intent, 0.0) + weight
    norm = sum(totals.values())
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [IntentScore(intent, weight / norm) for intent, weight in ranked]


def check_method(method: str) -> None:
    if method not in ("auto", "head", "vote"):
        raise ValueError(f"method must be 'auto', 'head' or 'vote', not {method!r}")


def match_intents(
    vectors: np.ndarray,
    neighbours: Sequence[Sequence[Hit]],
    k: int,
    *,
    method: IntentMethod,
    head: IntentHead | None,
) -> list[IntentMatch]:
    """An :class:`IntentMatch` for each query vector, from its nearest ``neighbours``.

    ``head`` is the index's fitted head, None for ``method="vote"`` or when it has fewer
    than two intents; ``"auto"`` sets it aside when it was fitted on too few examples per
    intent. The hits are at most ``k``, taken from the neighbours.
    """
    check_method(method)
    if method == "auto" and head is not None and head.median_examples < HEAD_MIN_EXAMPLES:
        head = None
    head_rankings = head.rank(vectors) if head is not None else None
    matches: list[IntentMatch] = []
    for row, found in enumerate(neighbours):
        ranking: list[IntentScore]
        if head_rankings is not None:
            ranking, used = head_rankings[row], "head"
        else:
            ranking, used = vote_intent(found), "vote"
        matches.append(
            IntentMatch(
                ranking=tuple(ranking), hits=best_hit_per_intent(ranking, found, k), method=used
            )
        )
    return matches


def check_answer_method(method: str) -> None:
    if method not in ANSWER_METHODS:
        raise ValueError(
            f"answer method must be one of {', '.join(ANSWER_METHODS)}, not {method!r}"
        )


def answer_hits(
    vectors: np.ndarray,
    neighbours: Sequence[Sequence[Hit]],
    k: int,
    *,
    method: AnswerMethod,
    head: IntentHead | None,
) -> list[list[Hit]]:
    """The answers for each query vector, best first, at most ``k``: what the bot serves
    and what validation and evaluation score, so all three see the same answers.

    ``neighbours`` are each query's nearest questions, best first (for ``vote`` and
    ``head``, :data:`INTENT_NEIGHBOURS` of them); ``head`` is the index's head (None for
    ``plain`` and ``vote``, or with fewer than two intents, where ``head`` votes). When a
    query's nearest question has no intent, no intent rule can rank it, and it would never
    be answered however close it is: such a query gets the nearest questions as they are.
    """
    check_answer_method(method)
    if method == "plain":
        return [list(found[:k]) for found in neighbours]
    matches = match_intents(
        vectors, neighbours, k, method=method, head=head if method == "head" else None
    )
    return [
        list(found[:k]) if found and found[0].intent is None else list(match.hits)
        for found, match in zip(neighbours, matches, strict=True)
    ]


class IntentHead:
    """A linear softmax classifier from question vectors to intents."""

    def __init__(
        self,
        labels: Sequence[str],
        weights: np.ndarray,
        bias: np.ndarray,
        examples: Sequence[int] | None = None,
    ) -> None:
        if weights.shape[1] != len(labels) or bias.shape != (len(labels),):
            raise ValueError(
                f"{len(labels)} labels but weights {weights.shape} and bias {bias.shape}"
            )
        self.labels = tuple(labels)
        self.examples = tuple(examples) if examples is not None else ()
        """Indexed questions per label (before any subsampling), when known."""
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)

    @property
    def dimension(self) -> int:
        return int(self.weights.shape[0])

    @property
    def median_examples(self) -> float:
        return float(np.median(self.examples)) if self.examples else 0.0

    @classmethod
    def fit(
        cls,
        vectors: np.ndarray,
        intents: Sequence[str],
        *,
        c: float = HEAD_C,
        max_per_intent: int = HEAD_MAX_PER_INTENT,
        seed: int = 0,
    ) -> IntentHead | None:
        """Fit on ``vectors`` labelled with ``intents``; None with fewer than two intents
        (there is nothing to decide, and a vote handles that case)."""
        if len(vectors) != len(intents):
            raise ValueError(f"{len(vectors)} vectors but {len(intents)} intents")
        labels = sorted(set(intents))
        if len(labels) < 2:
            return None
        position = {label: n for n, label in enumerate(labels)}
        targets = np.array([position[i] for i in intents])
        chosen = subsample_per_label(targets, max_per_intent, seed)
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        model = LogisticRegression(C=c, max_iter=1000)
        # One BLAS/OpenMP thread: the problem is small, so extra threads only add the cost of
        # waking them, and on a busy machine they spin waiting for a core, many times over.
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            # A few more iterations would move the weights by a hair; not worth failing
            # an index load (or a test run with warnings as errors) over.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(vectors[chosen], targets[chosen])
        weights = model.coef_.T
        bias = model.intercept_
        if len(labels) == 2:
            # scikit-learn keeps a single column for two classes: p(second) = sigmoid(w·x+b),
            # which is a softmax over (0, w·x+b).
            weights = np.concatenate([np.zeros_like(weights), weights], axis=1)
            bias = np.concatenate([[0.0], bias])
        return cls(labels, weights, bias, np.bincount(targets, minlength=len(labels)).tolist())

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(n, len(labels)) softmax probabilities."""
        logits = vectors.astype(np.float32, copy=False) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def rank(self, vectors: np.ndarray) -> list[list[IntentScore]]:
        """Every intent for each vector, most probable first."""
        probabilities = self.probabilities(vectors)
        order = np.argsort(-probabilities, axis=1, kind="stable")
        return [
            [IntentScore(self.labels[j], float(row[j])) for j in ranks]
            for row, ranks in zip(probabilities, order, strict=True)
        ]


def head_sample(intents: Mapping[int, str], seed: int) -> tuple[np.ndarray, list[str]]:
    """The FAISS keys an index's head is fitted on, and their intents.

    ``intents`` maps the key of every entry that has an intent to it. At most
    :data:`HEAD_MAX_PER_INTENT` keys of each intent are kept, so a large index only has to
    reconstruct (and fit on) a bounded number of vectors; none with fewer than two intents,
    where there is no head to fit.
    """
    labelled = list(intents.items())
    labels = sorted({intent for _, intent in labelled})
    if len(labels) < 2:
        return np.zeros(0, dtype=np.int64), []
    position = {label: n for n, label in enumerate(labels)}
    targets = np.array([position[intent] for _, intent in labelled], dtype=np.int64)
    chosen = subsample_per_label(targets, HEAD_MAX_PER_INTENT, seed)
    keys = np.array([labelled[i][0] for i in chosen], dtype=np.int64)
    return keys, [labelled[i][1] for i in chosen]


def subsample_per_label(targets: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Row numbers keeping at most ``limit`` rows of each label (seeded, sorted)."""
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    for label in np.unique(targets):
        rows = np.flatnonzero(targets == label)
        if len(rows) > limit:
            rows = rng.choice(rows, size=limit, replace=False)
        keep.append(rows)
    return np.sort(np.concatenate(keep))


def best_hit_per_intent(
    ranking: Sequence[IntentScore], neighbours: Sequence[Hit], k: int
) -> tuple[Hit, ...]:
    """The nearest neighbour of each ranked intent, in ranking order, at most ``k``."""
    nearest: dict[str, Hit] = {}
    for hit in neighbours:  # best first, so the first hit of an intent is its nearest
        if hit.intent and hit.intent not in nearest:
            nearest[hit.intent] = hit
    chosen = [nearest[s.intent] for s in ranking if s.intent in nearest]
    return tuple(chosen[:k])
