"""Choosing at build time how an index answers: the best of plain, vote and head on
held-out questions, plain unless another wins by more than chance."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.index.methods import (
    MIN_VALIDATION,
    choose_method,
    sign_test,
    validation_rows,
)
from tests.retrieval.helpers import NameEncoder, name_pairs


def _names(count: int) -> tuple[np.ndarray, list[str | None]]:
    pairs = name_pairs(count)
    return NameEncoder().encode([p.question for p in pairs]), [p.intent for p in pairs]


def test_auto_takes_the_head_when_it_wins_clearly_and_records_why() -> None:
    vectors, intents = _names(200)
    chosen = choose_method(vectors, intents)
    assert (chosen["method"], chosen["chosen_by"], chosen["requested"]) == (
        "head",
        "validation",
        "auto",
    )
    validation = chosen["validation"]
    assert validation["n"] == 30  # 15% of each intent's 100 questions
    assert validation["right"] == "intent"
    figures = validation["methods"]
    assert set(figures) == {"plain", "vote", "head"}
    assert figures["head"]["hit_at_1"] > figures["plain"]["hit_at_1"]
    versus = validation["versus_plain"]["head"]
    assert versus["wins"] > versus["losses"]
    assert versus["p"] <= 0.05


def test_auto_keeps_plain_when_nothing_beats_it_by_more_than_chance() -> None:
    # Well separated intents: every method gets every question right, so plain stays.
    rng = np.random.default_rng(0)
    centres = np.eye(4, dtype=np.float32)
    labels = [f"intent{i % 4}" for i in range(160)]
    vectors = centres[[i % 4 for i in range(160)]] + rng.normal(0, 0.05, (160, 4))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    chosen = choose_method(vectors, list(labels))
    assert chosen["method"] == "plain"
    assert chosen["chosen_by"] == "validation"
    assert all(f["hit_at_1"] == 1.0 for f in chosen["validation"]["methods"].values())


def test_auto_keeps_plain_without_enough_labelled_questions_and_says_why() -> None:
    vectors, intents = _names(200)
    no_intents = choose_method(vectors, [None] * len(vectors))
    assert (no_intents["method"], no_intents["chosen_by"]) == ("plain", "default")
    assert "fewer than two intents" in no_intents["reason"]
    assert "validation" not in no_intents
    few = choose_method(vectors[:40], intents[:40])  # 3 held out per intent: 6 in all
    assert (few["method"], few["chosen_by"]) == ("plain", "default")
    assert f"fewer than {MIN_VALIDATION}" in few["reason"]


def test_a_requested_method_is_taken_as_given_with_its_figures() -> None:
    vectors, intents = _names(200)
    chosen = choose_method(vectors, intents, requested="vote")
    assert (chosen["method"], chosen["chosen_by"], chosen["requested"]) == (
        "vote",
        "request",
        "vote",
    )
    assert set(chosen["validation"]["methods"]) == {"plain", "vote", "head"}
    unmeasured = choose_method(vectors[:4], intents[:4], requested="head")
    assert unmeasured["method"] == "head"
    assert "validation" not in unmeasured
    with pytest.raises(ValueError, match="method must be one of auto, plain, vote, head"):
        choose_method(vectors, intents, requested="magic")


def test_held_out_questions_leave_every_intent_in_the_index_and_follow_the_seed() -> None:
    intents: list[str | None] = ["a"] * 40 + ["b"] * 2 + ["c"] + [None] * 5
    rows, reason = validation_rows(intents, seed=0, share=0.5, max_queries=100)
    assert reason is None
    held = [intents[i] for i in rows]
    assert held.count("a") == 20
    assert held.count("b") == 1  # one of two held out, one left to find
    assert "c" not in held and None not in held  # nothing to spare / nothing to check
    assert validation_rows(intents, seed=0, share=0.5, max_queries=100)[0].tolist() == list(rows)
    assert validation_rows(intents, seed=1, share=0.5, max_queries=100)[0].tolist() != list(rows)
    assert len(validation_rows(intents, seed=0, share=0.5, max_queries=20)[0]) == 20


def test_sign_test_is_the_one_sided_binomial_tail() -> None:
    assert sign_test(0, 0) == 1.0
    assert sign_test(3, 0) == 0.125  # three wins out of three happen by chance 1 time in 8
    assert sign_test(5, 0) == 0.0312
    assert sign_test(5, 5) == 0.623
    assert sign_test(9, 1) == 0.0107
