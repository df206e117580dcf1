"""bot.classifier: length-grouped batches give the answers of one-at-a-time inference."""

from __future__ import annotations

import pytest

from bot.classifier import TextClassifier, length_groups
from tests.conftest import TinyModels


def test_length_groups_cover_every_row_once_shortest_first() -> None:
    lengths = [30, 5, 31, 6, 7, 29]
    groups = length_groups(lengths, call_overhead=8)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    flat = [lengths[i] for group in groups for i in group]
    assert flat == sorted(flat)


def test_length_groups_split_short_from_long_rows_when_padding_costs_more_than_a_call() -> None:
    lengths = [40, 8, 8, 40, 8, 40, 8, 8]
    groups = length_groups(lengths, call_overhead=16)
    assert [sorted(lengths[i] for i in group) for group in groups] == [[8] * 5, [40] * 3]


def test_length_groups_keep_one_batch_when_a_call_costs_more_than_the_padding() -> None:
    lengths = [12, 10, 11, 13, 9]
    assert len(length_groups(lengths, call_overhead=48)) == 1


def test_length_groups_of_nothing_is_nothing() -> None:
    assert length_groups([], call_overhead=48) == []


def test_grouped_batch_scores_match_one_message_at_a_time(tiny_models: TinyModels) -> None:
    # Full precision: int8 activations are scaled per batch, so there the answers also move
    # with the batch's other rows; this test is about the padding.
    classifier = TextClassifier.load(tiny_models.intent, device="cpu", quantize=False)
    texts = [
        "hi",
        "where is my order NW-10003, it was supposed to arrive last week and nobody answers",
        "refund please",
        "I would like to talk to a real person about the damaged parcel I received today",
        "thanks",
    ]
    together = classifier.probabilities(texts)
    for row, text in zip(together, texts, strict=True):
        assert row == pytest.approx(classifier.probabilities([text])[0], abs=1e-4)
