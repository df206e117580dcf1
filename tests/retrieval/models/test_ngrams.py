"""retrieval.models.ngrams and training.ngrams: the TF-IDF model fused with the encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.models.ngrams import SparseScorer
from training.ngrams import choose_fusion, fit_sparse

TEXTS = [
    "my card was swallowed by the atm",
    "the cash machine kept my card",
    "atm ate my card",
    "how do I top up by bank transfer",
    "top up with a transfer from my bank",
    "transfer money in to top up",
    "what is the exchange rate for euros",
    "exchange rate to dollars",
    "which rate do you use to exchange currency",
]
LABELS = ["card_swallowed"] * 3 + ["top_up_by_transfer"] * 3 + ["exchange_rate"] * 3
ORDER = ["card_swallowed", "exchange_rate", "top_up_by_transfer"]


def test_features_match_scikit_learns_tfidf_of_the_same_vocabulary() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    scorer = fit_sparse(TEXTS, LABELS, ORDER)
    union = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    ).fit(TEXTS)
    queries = ["my card got swallowed", "ATM!! kept the card", "unseen words only zzz"]
    assert scorer.features(queries).toarray() == pytest.approx(
        union.transform(queries).toarray(), abs=1e-6
    )


def test_linear_scores_pick_the_label_of_a_near_duplicate() -> None:
    scorer = fit_sparse(TEXTS, LABELS, ORDER)
    scores = scorer.scores(["the atm swallowed my card", "exchange rate for dollars"])
    assert [ORDER[i] for i in scores.argmax(axis=1)] == ["card_swallowed", "exchange_rate"]


def test_two_labels_get_opposite_scores_from_the_one_hyperplane() -> None:
    scorer = fit_sparse(TEXTS[:6], LABELS[:6], ["card_swallowed", "top_up_by_transfer"])
    scores = scorer.scores(["atm ate my card"])[0]
    assert scores[0] == pytest.approx(-scores[1]) and scores[0] > 0


def test_save_and_load_give_the_same_scores(tmp_path: Path) -> None:
    scorer = fit_sparse(TEXTS, LABELS, ORDER)
    scorer.save(tmp_path / "sparse.npz")
    loaded = SparseScorer.load(tmp_path / "sparse.npz", (("word", (1, 2)), ("char_wb", (2, 5))))
    queries = ["card swallowed at the atm", "top up"]
    assert loaded.scores(queries) == pytest.approx(scorer.scores(queries))


def test_fusion_stays_off_when_the_encoder_is_already_right() -> None:
    encoder = np.log(np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]]))
    sparse = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # confidently wrong
    fusion = choose_fusion(encoder, sparse, ["card_swallowed", "exchange_rate"], ORDER)
    assert fusion.weight == 0.0 and fusion.validation_accuracy == 1.0


def test_fusion_is_chosen_when_the_n_grams_fix_the_encoders_mistakes() -> None:
    encoder = np.log(np.array([[0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.45, 0.1, 0.45]]))
    sparse = np.array([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    gold = ["card_swallowed", "exchange_rate", "top_up_by_transfer"]
    fusion = choose_fusion(encoder, sparse, gold, ORDER)
    assert fusion.weight > 0
    assert fusion.validation_accuracy == 1.0 and fusion.encoder_validation_accuracy < 1.0
