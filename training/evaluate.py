"""Evaluating a model directory on labelled data, through the serving classifier.

Predictions come from :class:`retrieval.models.classifier.TextClassifier` (rejection rule
included), so the figures describe exactly what ``frontdesk serve`` would answer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from retrieval.base.datasets import TASKS, Example, load_examples
from retrieval.base.modeldir import ModelDirError
from retrieval.base.nlu_entities import load_entity_data
from training.metrics import OUT_OF_SCOPE, canonical, classification_metrics
from training.report import Scored, write_report

if TYPE_CHECKING:
    from retrieval.models.classifier import TextClassifier
    from training.entities import EntityScored

EVAL_BATCH_SIZE = 32


class Scores(NamedTuple):
    scored: list[Scored]
    probabilities: Any  # (n, labels): for threshold calibration
    encoder_confidence: Any  # (n,): what the encoder_max_softmax rule reads
    ms_per_message: float


def score_examples(
    classifier: TextClassifier, examples: Sequence[Example], *, batch_size: int = EVAL_BATCH_SIZE
) -> Scores:
    """Predict every example in batches."""
    import numpy as np

    texts = [e.text for e in examples]
    if texts:
        # The first call pays one-off costs (allocations, kernel selection) that a
        # running server has long paid; keep them out of ms_per_message.
        classifier.probabilities(texts[:1])
    chunks, confidences, oos_scores = [], [], []
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        analysed = classifier.analyse(texts[start : start + batch_size])
        chunks.append(analysed.probabilities)
        confidences.append(analysed.encoder_confidence)
        oos_scores.extend(classifier.oos_scores(analysed))
    elapsed = time.perf_counter() - started
    probabilities = (
        np.concatenate(chunks) if chunks else np.zeros((0, len(classifier.labels)), "float32")
    )
    encoder_confidence = np.concatenate(confidences) if confidences else np.zeros(0, "float32")
    scored = []
    for example, row, confidence, oos_score in zip(
        examples, probabilities, encoder_confidence, oos_scores, strict=True
    ):
        prediction = classifier.decide(row, confidence, oos_score)
        scored.append(
            Scored(
                example=example,
                gold=canonical(example.label),
                predicted=canonical(prediction.label),
                top_label=prediction.top_label,
                confidence=prediction.confidence,
                oos_score=oos_score,
                # What the rejection rule reads where there is no out-of-scope scorer.
                encoder_confidence=float(confidence),
            )
        )
    ms_per_message = 1000.0 * elapsed / len(texts) if texts else 0.0
    return Scores(scored, probabilities, encoder_confidence, ms_per_message)


def summarise(scored: Sequence[Scored], ms_per_message: float) -> dict[str, Any]:
    metrics = classification_metrics([s.gold for s in scored], [s.predicted for s in scored])
    in_scope = [s for s in scored if s.gold != OUT_OF_SCOPE]
    if in_scope:
        # What rejection costs the customers the bot could have answered, whatever the data.
        rejected = sum(s.predicted == OUT_OF_SCOPE for s in in_scope)
        metrics["in_scope_rejection_rate"] = rejected / len(in_scope)
    metrics["ms_per_message"] = round(ms_per_message, 3)
    return metrics


def oos_tradeoff(scored: Sequence[Scored]) -> dict[str, Any] | None:
    """In-scope accuracy against out-of-scope recall as the threshold moves, where the data
    has both kinds of row; None otherwise."""
    from training.oos import tradeoff_curve

    inside = [s for s in scored if s.gold != OUT_OF_SCOPE]
    outside = [s for s in scored if s.gold == OUT_OF_SCOPE]
    if not inside or not outside:
        return None

    def score(s: Scored) -> float:
        # A predicted oos label is rejected at any threshold: lowest of all.
        if canonical(s.top_label) == OUT_OF_SCOPE:
            return -math.inf
        if s.oos_score is not None:
            return s.oos_score
        return s.encoder_confidence if s.encoder_confidence is not None else s.confidence

    points = tradeoff_curve(
        [score(s) for s in inside],
        [canonical(s.top_label) == s.gold for s in inside],
        [score(s) for s in outside],
    )
    return {"source": "this data", "points": points}


def _rejection_rule(classifier: TextClassifier) -> str:
    if classifier.oos is not None:
        rule = classifier.oos.rule
        signal = "mahalanobis" if rule.signal == "mahalanobis" else f"knn k={rule.k}"
        return (
            f"out-of-scope scorer ({signal}, weight {rule.weight:g} against the confidence, "
            f"threshold {rule.threshold:g}, target {rule.target or 'auto'})"
        )
    rejection = classifier.card.rejection
    return f"{rejection.threshold} ({rejection.method})"


def load_classifier(model_dir: str | Path) -> TextClassifier:
    from retrieval.models.classifier import TextClassifier

    try:
        return TextClassifier.load(model_dir)
    except ModelDirError as exc:
        # The CLI reports ValueErrors as bad input; a wrong --model path is exactly that.
        raise ValueError(f"model: {exc}") from exc


def evaluate(
    task: str,
    model_dir: str | Path,
    data: str | Path,
    *,
    report_dir: str | Path | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """Score ``model_dir`` on ``data`` and write the report and its confusion matrix.

    The report goes to ``report_dir`` (default: the model directory). Returns a
    JSON-serialisable dict: accuracy, macro_f1, macro_recall, weighted_f1, n,
    ms_per_message; in_scope_accuracy and oos_precision/recall/f1 when the data has
    out-of-scope rows; accuracy and macro_f1 of the top label with no threshold applied
    (``*_without_rejection``); ``entities`` (micro precision, recall, F1, and per entity)
    when the data annotates entities; and where the report was written.
    """
    if task not in TASKS:
        raise ValueError(f"task: got {task!r}, expected one of {', '.join(TASKS)}")
    from training.device import training_device

    examples = load_examples(data, text_column=text_column, label_column=label_column, task=task)
    # Scored with training's thread count: on busy cores, torch's default of one thread
    # per core makes every parallel region wait for a descheduled thread.
    with training_device():
        return _evaluate(task, model_dir, data, examples, report_dir)


def _evaluate(
    task: str,
    model_dir: str | Path,
    data: str | Path,
    examples: Sequence[Example],
    report_dir: str | Path | None,
) -> dict[str, Any]:
    classifier = load_classifier(model_dir)
    if classifier.card.task != task:
        raise ValueError(
            f"task: {model_dir} holds a model for {classifier.card.task}, not {task}; "
            f"run 'frontdesk eval {classifier.card.task}' or point --model at a {task} model"
        )
    scored, _, _, ms_per_message = score_examples(classifier, examples)
    metrics = summarise(scored, ms_per_message)
    tradeoff = oos_tradeoff(scored) if task == "intent" else None
    # The same predictions with nothing rejected by the threshold: the figure closed-set
    # benchmarks (BANKING77, TweetEval) publish, and what the threshold costs in accuracy.
    closed = classification_metrics(
        [s.gold for s in scored], [canonical(s.top_label) for s in scored]
    )
    # Out-of-scope rows are never unknown: any model can reject.
    known = {canonical(label) for label in classifier.labels} | {OUT_OF_SCOPE}
    unknown = sorted({s.gold for s in scored} - known)
    entities = _entity_figures(task, model_dir, data)
    report = write_report(
        Path(report_dir) if report_dir is not None else Path(model_dir),
        title=f"{task.capitalize()} evaluation",
        metrics=metrics,
        scored=scored,
        context={
            "model": model_dir,
            "data": data,
            "rejection": _rejection_rule(classifier),
            **({"labels unknown to the model": ", ".join(unknown)} if unknown else {}),
        },
        entities=entities,
        tradeoff=tradeoff,
    )
    return {
        "task": task,
        "model": str(model_dir),
        "data": str(data),
        **metrics,
        "accuracy_without_rejection": closed["accuracy"],
        "macro_f1_without_rejection": closed["macro_f1"],
        **({"oos_curve": tradeoff["points"]} if tradeoff else {}),
        **({"unknown_labels": unknown} if unknown else {}),
        **({"entities": entities[0]} if entities else {}),
        "report": str(report),
    }


def _entity_figures(
    task: str, model_dir: str | Path, data: str | Path
) -> tuple[dict[str, Any], list[EntityScored]] | None:
    """The entity extractor served with the model, scored on the data's annotations;
    None when the data annotates none. A model that learned no entities finds none."""
    from retrieval.models.entities import EntityExtractor
    from training.entities import score_entities

    if task != "intent":
        return None
    annotated = load_entity_data(data)
    if not annotated.has_entities:
        return None
    try:
        extractor = EntityExtractor.load(model_dir)
    except ModelDirError as exc:
        raise ValueError(f"model: {exc}") from exc
    return score_entities(extractor, annotated.examples)
