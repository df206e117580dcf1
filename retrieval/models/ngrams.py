"""Sparse n-gram features beside the fine-tuned encoder: the serving side.

A fine-tuned BERT and a TF-IDF linear model make different mistakes: the encoder knows
that "card got swallowed" and "ATM kept my card" mean the same, the n-grams notice the
exact product names, codes and misspellings an encoder's word pieces blur. Rasa's
recommended pipeline feeds both kinds of feature to DIET for the same reason. Here the two
are fused late: the classifier's logits become ``(1 - weight) * encoder_logits + weight *
scale * linear_scores``, with ``weight`` and ``scale`` chosen on the validation split at
training time (``training.ngrams``), so a model keeps the n-grams only where they help
(bench/intent_banking77.py measures the gain).

The file (named by :data:`retrieval.base.modeldir.SPARSE_NAME`, no pickles) holds, per
block of features, the vocabulary and the idf weights of a scikit-learn ``TfidfVectorizer``
(sublinear tf, l2 norm per block), and the linear model's ``coef`` (labels x features)
and ``intercept``. Texts are turned into n-grams by scikit-learn's own analyzer,
configured as at training time, so serving sees exactly the features the linear model was
trained on.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Word 1-2 grams and character 2-5 grams within word boundaries: the TF-IDF baseline of
# bench/intent_banking77.py, strong on its own, so its mistakes are few and different.
DEFAULT_BLOCKS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("word", (1, 2)),
    ("char_wb", (2, 5)),
)


def analyzer(kind: str, ngram_range: tuple[int, int]) -> Callable[[str], list[str]]:
    """scikit-learn's n-gram analyzer for a ``TfidfVectorizer(analyzer=kind, ...)``."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    built: Callable[[str], list[str]] = TfidfVectorizer(
        analyzer=kind, ngram_range=ngram_range
    ).build_analyzer()
    return built


@dataclass(frozen=True)
class Block:
    kind: str
    ngram_range: tuple[int, int]
    vocabulary: Mapping[str, int]
    idf: Any  # numpy float32 array, one weight per vocabulary entry


class SparseScorer:
    """TF-IDF features and a linear model over them: ``scores(texts)`` -> (n, labels)."""

    def __init__(self, blocks: Sequence[Block], coef: Any, intercept: Any) -> None:
        self.blocks = tuple(blocks)
        self.coef = coef
        self.intercept = intercept
        # features @ coef.T with a transposed view makes scipy copy all of coef (megabytes
        # with many labels) on every call, which costs more than the product itself; so
        # it is transposed once, here.
        self._coef_t = coef.T.copy()
        self._analyzers = [analyzer(b.kind, b.ngram_range) for b in self.blocks]
        offsets, total = [], 0
        for block in self.blocks:
            offsets.append(total)
            total += len(block.vocabulary)
        self._offsets = offsets
        self.width = total

    def features(self, texts: Sequence[str]) -> Any:
        """The (n, width) CSR matrix of sublinear, per-block l2-normalised TF-IDF."""
        import numpy as np
        from scipy.sparse import csr_matrix

        indptr: list[int] = [0]
        indices: list[int] = []
        values: list[float] = []
        for text in texts:
            for block, analyze, offset in zip(
                self.blocks, self._analyzers, self._offsets, strict=True
            ):
                counts = Counter(
                    block.vocabulary[gram] for gram in analyze(text) if gram in block.vocabulary
                )
                weights = [(1.0 + math.log(n)) * float(block.idf[i]) for i, n in counts.items()]
                norm = math.sqrt(sum(w * w for w in weights)) or 1.0
                indices.extend(offset + i for i in counts)
                values.extend(w / norm for w in weights)
            indptr.append(len(indices))
        return csr_matrix(
            (np.asarray(values, dtype="float32"), np.asarray(indices, dtype="int64"), indptr),
            shape=(len(texts), self.width),
        )

    def scores(self, texts: Sequence[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, self.coef.shape[0]), dtype="float32")
        return np.asarray(self.features(texts) @ self._coef_t + self.intercept, dtype="float32")

    def save(self, path: Path) -> None:
        import numpy as np

        arrays: dict[str, Any] = {"coef": self.coef, "intercept": self.intercept}
        for i, block in enumerate(self.blocks):
            terms = sorted(block.vocabulary, key=block.vocabulary.__getitem__)
            arrays[f"block{i}_terms"] = np.asarray(terms, dtype=str)
            arrays[f"block{i}_idf"] = np.asarray(block.idf, dtype="float32")
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path, blocks: Sequence[tuple[str, tuple[int, int]]]) -> SparseScorer:
        """Read a file :meth:`save` wrote; ``blocks`` are the (analyzer, ngram_range) pairs
        it was fitted with, in order (the model card's ``sparse.blocks``)."""
        import numpy as np

        with np.load(path, allow_pickle=False) as data:
            read = []
            for i, (kind, (low, high)) in enumerate(blocks):
                terms = [str(t) for t in data[f"block{i}_terms"]]
                read.append(
                    Block(
                        kind=kind,
                        ngram_range=(int(low), int(high)),
                        vocabulary={term: j for j, term in enumerate(terms)},
                        idf=data[f"block{i}_idf"].astype("float32"),
                    )
                )
            return cls(read, data["coef"].astype("float32"), data["intercept"].astype("float32"))
