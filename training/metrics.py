"""Classification metrics over gold and served labels, out-of-scope aware.

Rejection and out-of-scope are one thing to a customer: the bot says it did not
understand. So a gold ``oos``/``out_of_scope`` row and a served ``nlu_fallback`` (or a
predicted oos label) are both mapped to :data:`OUT_OF_SCOPE` before anything is counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.base.labels import FALLBACK_INTENT, OOS_LABELS

OUT_OF_SCOPE = "out_of_scope"

EntityKey = tuple[int, int, str, str | None, str | None]
"""An entity as evaluation compares it: start, end, entity, role, group."""


def canonical(label: str) -> str:
    """One name for every way of saying 'out of scope' (gold label, fallback prediction)."""
    return OUT_OF_SCOPE if label in OOS_LABELS or label == FALLBACK_INTENT else label


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


def classification_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """accuracy, macro_f1, macro_recall, weighted_f1, n; plus the oos figures when gold has oos.

    Both sequences must already be :func:`canonical`. Macro averages run over the labels
    that occur in ``gold``: a label the data never asks for cannot be recalled, and
    counting it would only punish the model for a gap in the test set.
    ``in_scope_accuracy`` counts a rejected in-scope row as an error.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    n = len(gold)
    if n == 0:
        return {"n": 0}
    labels = sorted(set(gold))
    _, macro_recall, macro_f1, _ = precision_recall_fscore_support(
        gold, predicted, labels=labels, average="macro", zero_division=0
    )
    _, _, weighted_f1, _ = precision_recall_fscore_support(
        gold, predicted, labels=labels, average="weighted", zero_division=0
    )
    result: dict[str, Any] = {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(macro_f1),
        "macro_recall": float(macro_recall),
        "weighted_f1": float(weighted_f1),
        "n": n,
    }
    if OUT_OF_SCOPE in predicted or OUT_OF_SCOPE in gold:
        result["rejection_rate"] = sum(p == OUT_OF_SCOPE for p in predicted) / n
    if OUT_OF_SCOPE in gold:
        result.update(_oos_metrics(gold, predicted))
    return result


def _oos_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    in_scope = [(g, p) for g, p in zip(gold, predicted, strict=True) if g != OUT_OF_SCOPE]
    true_pos = sum(g == p == OUT_OF_SCOPE for g, p in zip(gold, predicted, strict=True))
    predicted_pos = sum(p == OUT_OF_SCOPE for p in predicted)
    actual_pos = sum(g == OUT_OF_SCOPE for g in gold)
    precision = true_pos / predicted_pos if predicted_pos else 0.0
    recall = true_pos / actual_pos if actual_pos else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "in_scope_accuracy": (
            sum(g == p for g, p in in_scope) / len(in_scope) if in_scope else 0.0
        ),
        "oos_precision": precision,
        "oos_recall": recall,
        "oos_f1": f1,
    }


def per_label_scores(gold: Sequence[str], predicted: Sequence[str]) -> list[LabelScore]:
    """Precision, recall, F1 and support of every label seen in gold or predictions."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = sorted(set(gold) | set(predicted))
    if not labels:
        return []
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, average=None, zero_division=0
    )
    return [
        LabelScore(label, float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    ]


def most_confused(
    gold: Sequence[str], predicted: Sequence[str], k: int = 10
) -> list[tuple[str, str, int]]:
    """The ``k`` most frequent (gold, predicted, count) mistakes, ties in name order."""
    mistakes = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    ranked = sorted(mistakes.items(), key=lambda item: (-item[1], item[0]))
    return [(g, p, count) for (g, p), count in ranked[:k]]


def argmax_macro_f1(label_ids: Sequence[int], predicted_ids: Sequence[int]) -> float:
    """Macro-F1 of raw argmax predictions, used to pick the best checkpoint.

    Model selection looks at the classifier before any rejection threshold exists; the
    threshold is calibrated afterwards on the chosen checkpoint.
    """
    from sklearn.metrics import f1_score

    labels = sorted(set(int(i) for i in label_ids))
    return float(
        f1_score(label_ids, predicted_ids, labels=labels, average="macro", zero_division=0)
    )


def entity_metrics(
    gold: Sequence[Collection[EntityKey]], predicted: Sequence[Collection[EntityKey]]
) -> dict[str, Any]:
    """Micro precision, recall and F1 of entities, and the same per entity name.

    One row per example. An entity counts as found only when its span, name, role and
    group are all right (the CoNLL convention): a slot filled with half a city name or a
    departure taken for a destination is wrong for the bot, however close. Values are not
    compared: a synonym changes them after extraction. ``support`` counts gold entities,
    ``predicted`` the served ones.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold rows but {len(predicted)} predicted rows")
    found: Counter[str] = Counter()
    wanted: Counter[str] = Counter()
    served: Counter[str] = Counter()
    for gold_row, predicted_row in zip(gold, predicted, strict=True):
        gold_set, predicted_set = set(gold_row), set(predicted_row)
        wanted.update(key[2] for key in gold_set)
        served.update(key[2] for key in predicted_set)
        found.update(key[2] for key in gold_set & predicted_set)
    names = sorted(set(wanted) | set(served))
    return {
        **_prf(sum(found.values()), sum(served.values()), sum(wanted.values())),
        "predicted": sum(served.values()),
        "n": len(gold),
        "per_entity": {name: _prf(found[name], served[name], wanted[name]) for name in names},
    }


def _prf(true_pos: int, predicted: int, actual: int) -> dict[str, Any]:
    precision = true_pos / predicted if predicted else 0.0
    recall = true_pos / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}
