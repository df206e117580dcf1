"""Fitting the sparse n-gram model that serving fuses with the encoder, and keeping it in
the model directory only where the fusion helps (retrieval.models.ngrams)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from retrieval.base.datasets import Example
from retrieval.base.modeldir import ModelCard, SparseModel
from retrieval.models.ngrams import DEFAULT_BLOCKS, Block, SparseScorer

# Candidates for the fusion; weight 0 (the encoder alone) comes first so that it wins ties.
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
SCALES = (1.0, 2.0, 5.0, 10.0, 20.0)


@dataclass(frozen=True, slots=True)
class Fusion:
    weight: float
    scale: float
    validation_accuracy: float
    encoder_validation_accuracy: float


def fit_sparse(
    texts: Sequence[str], labels: Sequence[str], label_order: Sequence[str]
) -> SparseScorer:
    """TF-IDF blocks and a linear SVM over them, trained on ``texts``."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    blocks = []
    for kind, ngram_range in DEFAULT_BLOCKS:
        vectorizer = TfidfVectorizer(analyzer=kind, ngram_range=ngram_range, sublinear_tf=True)
        vectorizer.fit(texts)
        vocabulary = {str(term): int(i) for term, i in vectorizer.vocabulary_.items()}
        blocks.append(Block(kind, ngram_range, vocabulary, vectorizer.idf_.astype("float32")))
    # Features from the serving code, not the vectorizer: trained on exactly what is served.
    untrained = SparseScorer(blocks, np.zeros((0, 0), "float32"), np.zeros(0, "float32"))
    index = {label: i for i, label in enumerate(label_order)}
    y = np.array([index[label] for label in labels])
    svm = LinearSVC(C=1.0).fit(untrained.features(texts), y)
    coef = np.full((len(label_order), untrained.width), 0.0, dtype="float32")
    # A label without training rows can never win: far below any real score.
    intercept = np.full(len(label_order), -1e3, dtype="float32")
    if len(svm.classes_) == 2:
        # scikit-learn keeps one hyperplane for two classes: positive means the second.
        low, high = svm.classes_
        coef[high], intercept[high] = svm.coef_[0], svm.intercept_[0]
        coef[low], intercept[low] = -svm.coef_[0], -svm.intercept_[0]
    else:
        coef[svm.classes_] = svm.coef_
        intercept[svm.classes_] = svm.intercept_
    return SparseScorer(blocks, coef, intercept)


def choose_fusion(
    encoder_logits: Any, sparse_scores: Any, gold: Sequence[str], label_order: Sequence[str]
) -> Fusion:
    """The (weight, scale) with the best validation accuracy; the smallest weight on ties."""
    import numpy as np

    index = {label: i for i, label in enumerate(label_order)}
    y = np.array([index.get(label, -1) for label in gold])
    encoder = np.asarray(encoder_logits, dtype="float64")
    sparse = np.asarray(sparse_scores, dtype="float64")

    def accuracy(weight: float, scale: float) -> float:
        fused = (1 - weight) * encoder + weight * scale * sparse
        return float((fused.argmax(axis=1) == y).mean()) if len(y) else 0.0

    grid = [(w, s) for w in WEIGHTS for s in (SCALES if w else SCALES[:1])]
    weight, scale = max(grid, key=lambda ws: (accuracy(*ws), -ws[0]))
    return Fusion(weight, scale, accuracy(weight, scale), accuracy(0.0, 1.0))


def add_sparse(
    directory: Path,
    card: ModelCard,
    train: Sequence[Example],
    validation: Sequence[Example],
    probabilities: Any,
) -> tuple[ModelCard, dict[str, Any]]:
    """Fit the n-gram model on ``train`` and keep it (its file in ``directory`` and
    ``card.sparse``) if fusing it with the encoder's ``probabilities`` is more accurate on
    ``validation``; returns the card and what was measured, for the training record."""
    import numpy as np

    try:
        scorer = fit_sparse([e.text for e in train], [e.label for e in train], card.labels)
    except ValueError as exc:
        # e.g. texts without a single two-letter word: the encoder alone still serves.
        return card, {"weight": 0.0, "skipped": str(exc)}
    scores = scorer.scores([e.text for e in validation])
    encoder = np.log(np.maximum(np.asarray(probabilities, dtype="float64"), 1e-12))
    fusion = choose_fusion(encoder, scores, [e.label for e in validation], card.labels)
    measured = {
        "weight": fusion.weight,
        "scale": fusion.scale,
        "validation_accuracy": round(fusion.validation_accuracy, 4),
        "encoder_validation_accuracy": round(fusion.encoder_validation_accuracy, 4),
    }
    if fusion.weight > 0:
        sparse = SparseModel(weight=fusion.weight, scale=fusion.scale, blocks=DEFAULT_BLOCKS)
        scorer.save(directory / sparse.file)
        card = replace(card, sparse=sparse)
    return card, measured
