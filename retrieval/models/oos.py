"""Out-of-scope scoring: how far a message lies from everything the model was taught.

The softmax's top probability alone is a weak test of "none of these": a fine-tuned
classifier is confidently wrong on many questions it has never seen the like of, and a
threshold on it (the older rule, still used for model directories without this file) must
reject a share of correct answers to catch any of them. So a model directory may carry an
out-of-scope scorer, chosen and calibrated at training time (``training.oos``), that
combines two signals:

* the encoder's confidence (its top softmax probability, as log-odds);
* how close the message's embedding (the last hidden layer, mean-pooled over tokens, from
  the same fine-tuned encoder) lies to the in-scope training examples: the mean cosine
  similarity to its ``k`` nearest ones (``signal = "knn"``, deep k-nearest-neighbour
  scoring, Sun et al. 2022), or minus its Mahalanobis distance to the nearest intent's
  mean under their shared covariance (``signal = "mahalanobis"``, Lee et al. 2018;
  Podolskiy et al. 2021 for intents). A message unlike every training example is suspect
  however sure the softmax is.

Each is standardised by its mean and standard deviation on in-scope validation messages
and the two are mixed as ``weight * neighbours + (1 - weight) * confidence``. A message is
rejected when the mix is below ``threshold``. Training chose ``weight`` and ``threshold``
on held-out data for the trade-off asked for (``--reject-target``).

Files (named here, no pickles): ``oos.json`` holds the rule, ``oos.npz`` what its signal
compares with: the training examples' unit-length embeddings (float16) for ``knn``, the
intents' means and the whitening matrix (the inverse covariance's square root) for
``mahalanobis``. A directory without them keeps the older rule: a missing file means the
older behaviour, not an error.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

RULE_NAME = "oos.json"
BANK_NAME = "oos.npz"
RULE_VERSION = 1
SIGNALS = ("knn", "mahalanobis")
# Rows of the bank compared per matrix product: bounds the memory of a large batch.
CHUNK_ROWS = 256
CONFIDENCE_CLIP = 1e-6


class OutOfScopeFileError(ValueError):
    """An out-of-scope rule or bank that is present but cannot be used."""


@dataclass(frozen=True, slots=True)
class OutOfScopeRule:
    """How a message's two signals become one score, and where rejection starts."""

    k: int
    weight: float
    confidence_mean: float
    confidence_std: float
    neighbour_mean: float
    neighbour_std: float
    threshold: float
    # For people reading the file: what the threshold was chosen for.
    target: str = ""
    signal: str = "knn"

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise OutOfScopeFileError(
                f"signal: got {self.signal!r}, expected one of {', '.join(SIGNALS)}"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("target", "signal"):
                continue
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise OutOfScopeFileError(f"{f.name}: got {value!r}, expected a number")
            if not math.isfinite(value):
                raise OutOfScopeFileError(f"{f.name}: got {value!r}, expected a finite number")
        if not isinstance(self.k, int) or self.k < 1:
            raise OutOfScopeFileError(f"k: got {self.k!r}, expected a whole number of at least 1")
        if not 0.0 <= self.weight <= 1.0:
            raise OutOfScopeFileError(f"weight: got {self.weight!r}, expected 0 to 1")
        for name in ("confidence_std", "neighbour_std"):
            if getattr(self, name) <= 0:
                raise OutOfScopeFileError(f"{name}: got {getattr(self, name)!r}, expected > 0")


def confidence_feature(confidence: Any) -> Any:
    """Log-odds of the top probability: spreads out the region near 1 where most answers
    lie, so that a standard deviation describes it."""
    import numpy as np

    p = np.clip(np.asarray(confidence, dtype="float64"), CONFIDENCE_CLIP, 1 - CONFIDENCE_CLIP)
    return np.log(p / (1 - p))


def unit_rows(embeddings: Any) -> Any:
    import numpy as np

    matrix = np.asarray(embeddings, dtype="float32")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Reference:
    """What the signal compares a message with: the unit-length embeddings of the in-scope
    training examples (``knn``), or the intents' means and the whitening matrix
    (``mahalanobis``)."""

    bank: Any = None
    means: Any = None
    whitening: Any = None


def fit_reference(embeddings: Any, classes: Any) -> Reference:
    """Both references from in-scope training embeddings and their class ids."""
    import numpy as np

    x = np.asarray(embeddings, dtype="float64")
    ids = np.asarray(classes)
    names = np.unique(ids)
    means = np.stack([x[ids == c].mean(axis=0) for c in names])
    centred = x - means[np.searchsorted(names, ids)]
    covariance = centred.T @ centred / max(1, len(x))
    # A little ridge: with few examples per intent the covariance is singular.
    ridge = 1e-3 * float(np.trace(covariance)) / covariance.shape[0] + 1e-9
    values, vectors = np.linalg.eigh(covariance + ridge * np.eye(covariance.shape[0]))
    whitening = vectors / np.sqrt(np.maximum(values, ridge))
    return Reference(
        bank=unit_rows(x),
        means=means.astype("float32"),
        whitening=whitening.astype("float32"),
    )


class OutOfScopeScorer:
    """The rule and the reference its signal compares messages with."""

    def __init__(self, rule: OutOfScopeRule, reference: Reference) -> None:
        import numpy as np

        self.rule = rule
        self.reference = reference
        self._bank_t = None
        self._means_w = None
        if rule.signal == "knn":
            bank = np.asarray(reference.bank, dtype="float32")
            if bank.ndim != 2 or bank.shape[0] == 0:
                raise OutOfScopeFileError(f"bank: expected a non-empty matrix, got {bank.shape}")
            self._bank_t = np.ascontiguousarray(unit_rows(bank).T)
        else:
            means = np.asarray(reference.means, dtype="float32")
            whitening = np.asarray(reference.whitening, dtype="float32")
            if means.ndim != 2 or whitening.shape != (means.shape[1], means.shape[1]):
                raise OutOfScopeFileError(
                    f"means {means.shape} and whitening {whitening.shape} do not fit together"
                )
            self._whitening = whitening
            self._means_w = means @ whitening

    @property
    def threshold(self) -> float:
        return self.rule.threshold

    def closeness(self, embeddings: Any, k: int | None = None) -> Any:
        """The signal for each row: higher means closer to the training examples."""
        if self.rule.signal == "knn":
            return self.neighbour_similarity(embeddings, k)
        return self.mahalanobis_closeness(embeddings)

    def neighbour_similarity(self, embeddings: Any, k: int | None = None) -> Any:
        """Mean cosine similarity of each row to its ``k`` most similar bank rows."""
        import numpy as np

        assert self._bank_t is not None
        k = min(k or self.rule.k, self._bank_t.shape[1])
        queries = unit_rows(embeddings)
        out = np.empty(len(queries), dtype="float64")
        for start in range(0, len(queries), CHUNK_ROWS):
            similarity = queries[start : start + CHUNK_ROWS] @ self._bank_t
            nearest = np.partition(similarity, similarity.shape[1] - k, axis=1)[:, -k:]
            out[start : start + CHUNK_ROWS] = nearest.mean(axis=1)
        return out

    def mahalanobis_closeness(self, embeddings: Any) -> Any:
        """Minus the Mahalanobis distance to the nearest intent mean."""
        import numpy as np

        assert self._means_w is not None
        whitened = np.asarray(embeddings, dtype="float32") @ self._whitening
        out = np.empty(len(whitened), dtype="float64")
        for start in range(0, len(whitened), CHUNK_ROWS):
            rows = whitened[start : start + CHUNK_ROWS]
            squared = (
                (rows**2).sum(axis=1)[:, None]
                - 2 * rows @ self._means_w.T
                + (self._means_w**2).sum(axis=1)[None, :]
            )
            out[start : start + CHUNK_ROWS] = -np.sqrt(np.maximum(squared.min(axis=1), 0.0))
        return out

    def combine(self, confidence_features: Any, closeness: Any) -> Any:
        """The score from the two signals (higher: more like in-scope data)."""
        import numpy as np

        rule = self.rule
        conf = (np.asarray(confidence_features) - rule.confidence_mean) / rule.confidence_std
        near = (np.asarray(closeness) - rule.neighbour_mean) / rule.neighbour_std
        return rule.weight * near + (1 - rule.weight) * conf

    def scores(self, confidence: Any, embeddings: Any) -> Any:
        """One score per message from its encoder confidence and its embedding."""
        return self.combine(confidence_feature(confidence), self.closeness(embeddings))

    def save(self, directory: Path) -> None:
        import numpy as np

        arrays: dict[str, Any] = {}
        if self.rule.signal == "knn":
            arrays["bank"] = np.asarray(self.reference.bank).astype("float16")
        else:
            arrays["means"] = np.asarray(self.reference.means, dtype="float32")
            arrays["whitening"] = np.asarray(self.reference.whitening, dtype="float32")
        with (directory / BANK_NAME).open("wb") as handle:
            np.savez_compressed(handle, **arrays)
        text = json.dumps({"version": RULE_VERSION, **asdict(self.rule)}, indent=2)
        (directory / RULE_NAME).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> OutOfScopeScorer | None:
        """The scorer saved in ``directory``; None where it has none (older models)."""
        import numpy as np

        rule_file, bank_file = directory / RULE_NAME, directory / BANK_NAME
        if not rule_file.is_file():
            return None
        try:
            raw = json.loads(rule_file.read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or raw.pop("version", None) != RULE_VERSION:
                raise OutOfScopeFileError(f"expected version {RULE_VERSION}")
            rule = OutOfScopeRule(**raw)
            with np.load(bank_file, allow_pickle=False) as data:
                if rule.signal == "knn":
                    reference = Reference(bank=data["bank"].astype("float32"))
                else:
                    reference = Reference(means=data["means"], whitening=data["whitening"])
            return cls(rule, reference)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise OutOfScopeFileError(
                f"{directory}: the out-of-scope scorer ({RULE_NAME}, {BANK_NAME}) cannot be "
                f"read ({type(exc).__name__}: {exc}); retrain the model"
            ) from exc
