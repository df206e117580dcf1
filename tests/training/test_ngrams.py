"""training.ngrams: the n-gram model is kept in the model directory only where it helps."""

from __future__ import annotations

from pathlib import Path

from retrieval.base.datasets import Example
from retrieval.base.modeldir import SPARSE_NAME, ModelCard
from retrieval.models.ngrams import DEFAULT_BLOCKS, SparseScorer
from training.ngrams import add_sparse


def card_for(labels: tuple[str, ...]) -> ModelCard:
    return ModelCard(task="intent", labels=labels, base_model="base", max_length=16)


def examples(rows: list[tuple[str, str]]) -> list[Example]:
    return [Example(text, label, "data.csv", i + 2) for i, (text, label) in enumerate(rows)]


def test_texts_without_words_train_without_the_n_gram_model(tmp_path: Path) -> None:
    import numpy as np

    rows = examples([("!", "a"), ("?", "b"), ("!!", "a"), ("??", "b")])
    card = card_for(("a", "b"))

    kept, measured = add_sparse(tmp_path, card, rows, rows, np.full((4, 2), 0.5))

    assert measured["weight"] == 0.0 and "empty vocabulary" in str(measured["skipped"])
    assert kept == card and not (tmp_path / SPARSE_NAME).exists()


def test_n_grams_that_fix_the_encoders_mistakes_are_kept_in_the_card_and_the_directory(
    tmp_path: Path,
) -> None:
    import numpy as np

    rows = examples(
        [
            ("card swallowed by the atm", "card"),
            ("the atm kept my card", "card"),
            ("atm ate my card", "card"),
            ("exchange rate for dollars", "rate"),
            ("what rate do you exchange euros at", "rate"),
            ("dollar exchange rate today", "rate"),
        ]
    )
    # An encoder that is unsure and leans the wrong way on every row.
    encoder = np.array([[0.45, 0.55], [0.45, 0.55], [0.45, 0.55]] + [[0.55, 0.45]] * 3)

    kept, measured = add_sparse(tmp_path, card_for(("card", "rate")), rows, rows, encoder)

    assert measured["weight"] > 0
    assert measured["validation_accuracy"] > measured["encoder_validation_accuracy"]
    assert kept.sparse is not None and kept.sparse.blocks == DEFAULT_BLOCKS
    assert (kept.sparse.weight, kept.sparse.scale) == (measured["weight"], measured["scale"])
    loaded = SparseScorer.load(tmp_path / kept.sparse.file, kept.sparse.blocks)
    assert loaded.scores(["atm swallowed my card"]).argmax() == 0


def test_an_encoder_that_is_already_right_keeps_the_card_as_it_was(tmp_path: Path) -> None:
    import numpy as np

    rows = examples([("hello there", "greet"), ("bye now", "bye"), ("hi", "greet")])
    card = card_for(("bye", "greet"))
    confident = np.array([[0.01, 0.99], [0.99, 0.01], [0.01, 0.99]])

    kept, measured = add_sparse(tmp_path, card, rows, rows, confident)

    assert measured["weight"] == 0.0
    assert kept == card and not (tmp_path / SPARSE_NAME).exists()
