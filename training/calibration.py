"""Choosing the max-softmax rejection threshold on the validation split.

Serving rejects a message (answers ``nlu_fallback``) when the top label is an oos label or
its probability is below the threshold (retrieval.models.classifier.TextClassifier.decide).
Two cases:

* validation has oos rows: pick the threshold that maximises accuracy where an oos row is
  correct only if rejected and an in-scope row only if kept and right. Among equally good
  thresholds the lowest wins (the fewest in-scope customers turned away), placed halfway
  to the next lower confidence so it is not balanced exactly on a validation example.
* no oos rows: nothing tells us what an unknown message looks like, so reject only what
  is less confident than nearly every correct answer: the 5th percentile of the
  confidences of correct validation predictions.

The split is also the one that chose the checkpoint, so the threshold is mildly
optimistic; with a few hundred validation rows this is the practical trade-off.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

CORRECT_CONFIDENCE_PERCENTILE = 5.0


@dataclass(frozen=True, slots=True)
class Calibration:
    threshold: float
    method: str
    validation_accuracy: float  # of the rule the threshold was chosen by, at that threshold


def calibrate_threshold(
    probabilities: Any,
    gold: Sequence[str],
    labels: Sequence[str],
    oos_labels: Collection[str],
    *,
    percentile: float = CORRECT_CONFIDENCE_PERCENTILE,
    confidence: Any = None,
) -> Calibration:
    """The rejection threshold for ``probabilities`` (n x len(labels)) against ``gold``.

    ``confidence`` (one number per row) is what the threshold is compared with when it is
    not the top probability itself: the encoder's own confidence, for models with a fused
    n-gram model (retrieval.models.classifier.ENCODER_REJECTION).
    """
    import numpy as np

    probs = np.asarray(probabilities, dtype="float64")
    if probs.ndim != 2 or probs.shape[0] != len(gold) or probs.shape[1] != len(labels):
        raise ValueError(
            f"probabilities of shape {probs.shape} do not match {len(gold)} rows "
            f"x {len(labels)} labels"
        )
    if len(gold) == 0:
        return Calibration(0.0, "no_validation_data", 0.0)
    top = probs.argmax(axis=1)
    confidence = probs.max(axis=1) if confidence is None else np.asarray(confidence, "float64")
    top_is_oos = np.array([labels[i] in oos_labels for i in top])
    gold_is_oos = np.array([g in oos_labels for g in gold])
    right_label = np.array([labels[i] == g for i, g in zip(top, gold, strict=True)])

    if gold_is_oos.any():
        return _best_oos_threshold(confidence, top_is_oos, gold_is_oos, right_label)

    correct = confidence[right_label & ~top_is_oos]
    if correct.size == 0:
        return Calibration(0.0, "no_correct_predictions", 0.0)
    threshold = float(np.percentile(correct, percentile))
    kept = (confidence >= threshold) & ~top_is_oos
    return Calibration(
        threshold,
        f"p{percentile:g}_correct_confidence",
        float((kept & right_label).mean()),
    )


def _best_oos_threshold(
    confidence: Any, top_is_oos: Any, gold_is_oos: Any, right_label: Any
) -> Calibration:
    import numpy as np

    # Accuracy only changes at a validation confidence, so those are the only candidates;
    # 0.0 stands for "reject nothing beyond predicted oos labels".
    candidates = np.unique(np.concatenate([[0.0], confidence]))
    rejected = top_is_oos[None, :] | (confidence[None, :] < candidates[:, None])
    correct = np.where(gold_is_oos[None, :], rejected, ~rejected & right_label[None, :])
    accuracy = correct.mean(axis=1)
    best = int(np.flatnonzero(accuracy == accuracy.max())[0])  # lowest of the best
    threshold = 0.0 if best == 0 else float((candidates[best - 1] + candidates[best]) / 2)
    return Calibration(threshold, "max_oos_accuracy", float(accuracy[best]))


# Candidate strengths of the prior correction; 0 (the model's own decision) comes first so
# that it wins every tie.
PRIOR_SHIFT_STRENGTHS = tuple(step / 10 for step in range(0, 11))


@dataclass(frozen=True, slots=True)
class PriorShift:
    logit_bias: tuple[float, ...]  # added to the logits before the softmax, one per label
    strength: float
    validation_macro_recall: float


def calibrate_prior_shift(
    probabilities: Any, gold: Sequence[str], labels: Sequence[str], train_counts: Sequence[int]
) -> PriorShift:
    """A per-label logit bias ``-strength * log(prior)`` that maximises validation
    macro-recall.

    A classifier trained on skewed classes (TweetEval: about half neutral, a fifth
    positive) leans towards the frequent ones, while sentiment monitoring needs every class
    found equally well. Subtracting a share of the log prior (logit adjustment, Menon et
    al. 2021) moves the decision towards the balanced one; the share is chosen on the
    validation split, from 0 (no change) to 1 (fully balanced), the smallest best one
    winning ties.
    """
    import numpy as np

    probs = np.asarray(probabilities, dtype="float64")
    counts = np.asarray(train_counts, dtype="float64")
    if len(gold) == 0 or probs.shape != (len(gold), len(labels)) or counts.shape != (len(labels),):
        return PriorShift(tuple(0.0 for _ in labels), 0.0, 0.0)
    log_prior = np.log(np.maximum(counts, 1.0) / max(counts.sum(), 1.0))
    log_probs = np.log(np.maximum(probs, 1e-12))
    index = {label: i for i, label in enumerate(labels)}
    gold_ids = np.array([index.get(g, -1) for g in gold])
    present = [i for i in range(len(labels)) if (gold_ids == i).any()]

    def macro_recall(predicted: Any) -> float:
        return float(np.mean([(predicted[gold_ids == i] == i).mean() for i in present]))

    best = max(
        PRIOR_SHIFT_STRENGTHS,
        key=lambda s: (macro_recall((log_probs - s * log_prior).argmax(axis=1)), -s),
    )
    bias = tuple(float(-best * x) for x in log_prior)
    return PriorShift(bias, best, macro_recall((log_probs + np.array(bias)).argmax(axis=1)))
