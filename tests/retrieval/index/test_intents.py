from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from retrieval.base.qa import QAPair
from retrieval.index.hits import Hit
from retrieval.index.intents import (
    HEAD_MAX_PER_INTENT,
    IntentHead,
    IntentScore,
    answer_hits,
    best_hit_per_intent,
    head_sample,
    vote_intent,
)
from retrieval.index.search import AnswerIndex
from retrieval.models.encoder import Encoder


def _hit(id_: str, intent: str | None, score: float) -> Hit:
    return Hit(id_, f"q {id_}", f"a {id_}", intent, score)


def test_vote_weights_neighbours_by_exp_score_over_temperature() -> None:
    hits = [_hit("1", "a", 0.90), _hit("2", "b", 0.88), _hit("3", "b", 0.87), _hit("4", None, 1)]
    ranking = vote_intent(hits, temperature=0.05)
    a = 1.0
    b = math.exp(-0.02 / 0.05) + math.exp(-0.03 / 0.05)  # 1.22: two close ones beat one
    assert [s.intent for s in ranking] == ["b", "a"]
    assert ranking[0].score == pytest.approx(b / (a + b))
    assert sum(s.score for s in ranking) == pytest.approx(1.0)
    # A colder vote is the single nearest neighbour again.
    assert vote_intent(hits, temperature=0.001)[0].intent == "a"
    assert vote_intent([_hit("x", None, 0.9)]) == []
    with pytest.raises(ValueError, match="temperature"):
        vote_intent(hits, temperature=0)


def test_head_learns_a_direction_the_neighbours_miss() -> None:
    rng = np.random.default_rng(0)
    # Intent depends on the sign of coordinate 0; coordinate 1 (a "customer name") is big
    # and shared across intents, so nearest neighbours follow it instead.
    n = 200
    names = rng.choice([-1.0, 1.0], size=n)
    sign = rng.choice([-1.0, 1.0], size=n)
    vectors = np.stack(
        [0.2 * sign, 3 * names, rng.normal(0, 0.1, n), rng.normal(0, 0.1, n)], axis=1
    ).astype(np.float32)
    intents = ["get" if s > 0 else "check" for s in sign]
    head = IntentHead.fit(vectors, intents)
    assert head is not None
    assert head.labels == ("check", "get")
    query = np.array([[0.2, -3, 0, 0], [-0.2, 3, 0, 0]], dtype=np.float32)
    ranked = head.rank(query)
    assert [r[0].intent for r in ranked] == ["get", "check"]
    assert all(r[0].score > 0.9 for r in ranked)
    assert head.probabilities(query).sum(axis=1) == pytest.approx([1.0, 1.0])


def test_head_needs_two_intents() -> None:
    vectors = np.eye(3, dtype=np.float32)
    assert IntentHead.fit(vectors, ["a", "a", "a"]) is None
    with pytest.raises(ValueError, match="3 vectors but 2 intents"):
        IntentHead.fit(vectors, ["a", "b"])


def test_head_sample_caps_each_intent_and_needs_two() -> None:
    intents = {key: "big" for key in range(HEAD_MAX_PER_INTENT + 50)}
    intents.update({-1: "small", -2: "small"})
    keys, labels = head_sample(intents, seed=0)
    assert len(keys) == len(labels) == HEAD_MAX_PER_INTENT + 2
    assert labels.count("small") == 2
    assert all(intents[int(key)] == label for key, label in zip(keys, labels, strict=True))
    assert len(set(keys.tolist())) == len(keys)
    assert head_sample(intents, seed=0)[0].tolist() == keys.tolist()  # seeded
    keys, labels = head_sample({1: "only", 2: "only"}, seed=0)
    assert (len(keys), labels) == (0, [])


def test_best_hit_per_intent_keeps_ranking_order() -> None:
    neighbours = [
        _hit("1", "a", 0.9),
        _hit("2", "b", 0.8),
        _hit("3", "a", 0.7),
        _hit("4", None, 0.6),
    ]
    ranking = [IntentScore("b", 0.6), IntentScore("c", 0.3), IntentScore("a", 0.1)]
    assert [h.id for h in best_hit_per_intent(ranking, neighbours, 5)] == ["2", "1"]
    assert [h.id for h in best_hit_per_intent(ranking, neighbours, 1)] == ["2"]


def test_answer_hits_plain_keeps_the_nearest_and_intent_methods_answer_per_intent() -> None:
    query = np.array([[1, 0, 0, 0]], dtype=np.float32)
    neighbours = [[_hit("1", "a", 0.90), _hit("2", "b", 0.88), _hit("3", "b", 0.87)]]
    # A head that reads coordinate 0 as intent a, whatever the neighbours say.
    head = IntentHead(["a", "b"], np.array([[5, 0], [0, 0], [0, 0], [0, 0]]), np.zeros(2))

    plain = answer_hits(query, neighbours, 3, method="plain", head=None)
    assert [h.id for h in plain[0]] == ["1", "2", "3"]
    # Two close b's outvote one a; the answer is b's nearest question, with its own score.
    vote = answer_hits(query, neighbours, 3, method="vote", head=None)
    assert [(h.id, h.score) for h in vote[0]] == [("2", 0.88), ("1", 0.90)]
    by_head = answer_hits(query, neighbours, 3, method="head", head=head)
    assert [h.id for h in by_head[0]] == ["1", "2"]
    # Without a head (fewer than two intents indexed) "head" votes.
    assert answer_hits(query, neighbours, 3, method="head", head=None) == vote
    assert answer_hits(query, neighbours, 1, method="vote", head=None) == [vote[0][:1]]
    with pytest.raises(ValueError, match="answer method must be one of plain, vote, head"):
        answer_hits(query, neighbours, 3, method="auto", head=None)  # type: ignore[arg-type]


def test_answer_hits_answers_plainly_when_the_nearest_question_has_no_intent() -> None:
    # No intent rule can pick an entry without an intent; nearest, it still answers.
    query = np.array([[1, 0, 0, 0]], dtype=np.float32)
    neighbours = [[_hit("open", None, 0.95), _hit("2", "b", 0.88), _hit("3", "b", 0.87)]]
    for method in ("vote", "head"):
        hits = answer_hits(query, neighbours, 2, method=method, head=None)
        assert [h.id for h in hits[0]] == ["open", "2"]


def test_search_intent_answers_from_the_winning_intent(index: AnswerIndex) -> None:
    for method in ("head", "vote"):
        match = index.search_intent("I forgot my password, how can I change it?", method=method)
        assert match.method == method
        assert match.intent == "reset_password"
        assert match.hits[0].id == "reset-password"
        assert match.hits[0].score > 0.6
        assert len({h.intent for h in match.hits}) == len(match.hits)
        assert None not in {h.intent for h in match.hits}
    head = index.search_intent("cancel my order please", method="head")
    assert head.method == "head"
    assert head.intent == "cancel_order"
    assert [s.intent for s in head.ranking][:1] == ["cancel_order"]
    assert sum(s.score for s in head.ranking) == pytest.approx(1.0)
    assert index.search_intent("   ").ranking == ()
    with pytest.raises(ValueError, match="method must be"):
        index.search_intent("hi", method="magic")  # type: ignore[arg-type]
    assert index.search_intent("hi", method="vote").method == "vote"


def test_intent_head_is_refitted_when_the_contents_change(index: AnswerIndex) -> None:
    head = index.intent_head()
    assert head is not None
    assert index.intent_head() is head
    index.add([QAPair("gift", "Can I buy a gift card?", "Yes.", "gift_card")])
    refitted = index.intent_head()
    assert refitted is not head
    assert refitted is not None
    assert "gift_card" in refitted.labels
    assert index.search_intent("do you sell gift vouchers", method="head").intent == "gift_card"


def test_without_intents_search_intent_falls_back_to_an_empty_vote(encoder: Encoder) -> None:
    index = AnswerIndex.build([QAPair("a", "Where is my order?", "Here.")], encoder)
    assert index.intent_head() is None
    match = index.search_intent("where's my parcel")
    assert match.method == "vote"
    assert match.ranking == ()
    assert match.hits == ()


class ClusterEncoder:
    """Texts "<intent><n>" sit near the intent's own axis; "?<intent>" queries on it."""

    name = "clusters"
    fingerprint = "sha256:clusters"
    dimension = 8

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        rows = []
        for text in texts:
            axis = "abcdefgh".index(text.strip("?")[0])
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            vector = rng.normal(0, 0.2, self.dimension)
            vector[axis] += 1
            rows.append(vector / np.linalg.norm(vector))
        return np.array(rows, dtype=np.float32)


def test_auto_uses_the_head_only_with_enough_examples_per_intent(index: AnswerIndex) -> None:
    # One question per intent in the shared fixture: the vote decides.
    assert index.search_intent("I forgot my password").method == "vote"
    many = [QAPair(f"{i}{n}", f"{i}{n}", f"answer {i}", i) for i in "abc" for n in range(25)]
    big = AnswerIndex.build(many, ClusterEncoder())
    match = big.search_intent("?b")
    assert match.method == "head"
    assert match.intent == "b"
    assert match.hits[0].intent == "b"
    head = big.intent_head()
    assert head is not None
    assert head.examples == (25, 25, 25)
