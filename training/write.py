"""Writing the model directory: the card, calibration on what serving loads, the report.

Everything happens in a staging directory (retrieval.base.modeldir) that is published only
when complete. The rejection threshold, the n-gram fusion and the sentiment prior
correction are all chosen by scoring the staged directory through the serving classifier,
not the in-memory training model, so that what was calibrated is exactly what is served.
A refit (training.refit) is the exception: its weights replace the calibrated ones at the
end, and serve with what was chosen on them, since it has no unseen data of its own.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.base import modeldir
from retrieval.base.datasets import Example
from retrieval.base.labels import OOS_LABELS
from retrieval.base.modeldir import ENCODER_REJECTION, ModelCard, Rejection
from training.settings import TrainSettings, base_model_name

if TYPE_CHECKING:
    from training.entities import EntityJob
    from training.evaluate import Scores
    from training.refit import Refit


def new_card(
    settings: TrainSettings,
    labels: Sequence[str],
    max_length: int,
    training: Mapping[str, Any],
    data_fingerprint: str,
) -> ModelCard:
    """The card of a freshly trained model, before calibration has chosen its threshold."""
    return ModelCard(
        task=settings.task,
        labels=tuple(labels),
        base_model=base_model_name(settings.base_model),
        max_length=max_length,
        rejection=Rejection(),
        # Only intents have an 'none of these' answer; sentiment always picks a label.
        oos_labels=tuple(sorted(OOS_LABELS)) if settings.task == "intent" else (),
        training=dict(training),
        data_fingerprint=data_fingerprint,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def write_model_dir(
    settings: TrainSettings,
    model: Any,
    tokenizer: Any,
    card: ModelCard,
    train: Sequence[Example],
    validation: Sequence[Example],
    entities: EntityJob | None = None,
    refit: Refit | None = None,
) -> dict[str, Any]:
    """Write everything into a staging directory, calibrate and evaluate there, publish.

    ``entities``, when the data annotates any, adds the entity extractor and its
    validation figures. With ``refit``, ``model`` is the selection run's: everything is
    chosen and measured on it, then the refit model's weights take its place
    (training.refit), so the validation figures are the selection run's.

    Returns the calibrated threshold and the validation metrics (and the entity
    extractor's training record and figures), for the training summary.
    """
    from training.evaluate import load_classifier, score_examples, summarise
    from training.report import write_report

    staging = modeldir.make_staging_dir(settings.out)
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        modeldir.write(staging, card)
        scores = score_examples(load_classifier(staging), validation)
        if settings.sparse and validation:
            from training.ngrams import add_sparse

            card, fusion = add_sparse(staging, card, train, validation, scores.probabilities)
            card = replace(card, training={**card.training, "sparse": fusion})
            if card.sparse is not None:
                card = replace(card, rejection=replace(card.rejection, method=ENCODER_REJECTION))
            modeldir.write(staging, card)
            if card.sparse is not None:
                scores = score_examples(load_classifier(staging), validation)
        card, method = calibrate(card, scores, train, validation)
        modeldir.write(staging, card)
        tradeoff = None
        if card.task == "intent" and validation:
            card, method, tradeoff = add_oos_scorer(staging, card, settings, train, validation)
            modeldir.write(staging, card)

        scored, _, _, ms_per_message = score_examples(load_classifier(staging), validation)
        metrics = summarise(scored, ms_per_message)
        threshold = card.rejection.threshold
        rejection = card.training.get("rejection", {"method": method, "threshold": threshold})
        learned = entities.write(staging) if entities is not None else None
        entity_metrics = {"entities": learned.validation} if learned else {}
        modeldir.write(
            staging,
            card,
            metrics={"split": "validation", **metrics, "threshold": threshold, **entity_metrics},
        )
        write_report(
            staging,
            entities=(learned.validation, learned.scored) if learned else None,
            title=f"{settings.task.capitalize()} model: validation",
            metrics=metrics,
            scored=scored,
            context={
                "data": settings.data,
                "validation": card.training["validation_split"],
                "base model": card.base_model,
                "rejection": describe_rejection(rejection),
                **({"served weights": describe_refit(refit.record)} if refit else {}),
            },
            tradeoff=tradeoff,
        )
        if refit is not None:
            from training.refit import apply_refit

            apply_refit(staging, card, refit)
        runs = modeldir.checkpoints_dir(settings.out) / "runs"
        if runs.is_dir():
            shutil.move(str(runs), str(staging / "runs"))
        modeldir.publish(staging, settings.out)
    except BaseException:
        modeldir.discard(staging)
        raise
    summary: dict[str, Any] = {
        "threshold": threshold,
        "rejection": rejection,
        "validation": metrics,
    }
    if learned is not None:
        summary["entities"] = learned.summary()
    return summary


def add_oos_scorer(
    staging: Path,
    card: ModelCard,
    settings: TrainSettings,
    train: Sequence[Example],
    validation: Sequence[Example],
) -> tuple[ModelCard, str, dict[str, Any] | None]:
    """Choose the out-of-scope scorer on validation (training.oos) and save it into
    ``staging``; the card records it. Returns the card, the method's name and the
    trade-off curve for the report (None where no scorer could be chosen)."""
    from training.evaluate import load_classifier
    from training.oos import RejectTarget, fit_scorer

    fitted = fit_scorer(
        load_classifier(staging), train, validation, RejectTarget.parse(settings.reject_target)
    )
    if fitted is None:
        return card, str(card.training.get("calibration", "")), None
    fitted.scorer.save(staging)
    training = {**card.training, "rejection": fitted.record, "calibration": "oos_scorer"}
    return (
        replace(card, training=training),
        "oos_scorer",
        {"source": fitted.record["oos_questions"], "points": fitted.curve},
    )


def describe_rejection(rejection: Mapping[str, Any]) -> str:
    """One line for the report: the rule in use and what it was chosen for."""
    if rejection.get("method") == "oos_scorer":
        return (
            f"out-of-scope scorer ({_signal(rejection)}, weight {rejection['weight']:g} on "
            f"it against the confidence, threshold {rejection['threshold']:g}; target "
            f"{rejection['target']}; validation in-scope rejection "
            f"{rejection['validation_in_scope_rejection']:.2%})"
        )
    return f"{rejection.get('threshold')} ({rejection.get('method')})"


def describe_refit(record: Mapping[str, Any]) -> str:
    """One line for the report: what the served model was trained on, and why the figures
    above are another model's."""
    return (
        f"refit on all {record['examples']} examples for {record['epochs']:g} epochs; the "
        "figures here are the run on the split, which chose the epochs and the rejection rule"
    )


def _signal(rule: Mapping[str, Any]) -> str:
    if rule.get("signal") == "mahalanobis":
        return "Mahalanobis distance to the nearest intent"
    return f"similarity to the {rule['k']} nearest training examples"


def calibrate(
    card: ModelCard, scores: Scores, train: Sequence[Example], validation: Sequence[Example]
) -> tuple[ModelCard, str]:
    """The card with its rejection threshold (intent) or logit bias (sentiment) chosen on
    validation, and the name of the method that chose it."""
    from training.calibration import calibrate_prior_shift, calibrate_threshold

    gold = [e.label for e in validation]
    training = dict(card.training)
    logit_bias = card.logit_bias
    if card.task == "intent":
        confidence = None
        if card.rejection.method == ENCODER_REJECTION:
            confidence = scores.encoder_confidence
        calibration = calibrate_threshold(
            scores.probabilities, gold, card.labels, OOS_LABELS, confidence=confidence
        )
        threshold, method = calibration.threshold, calibration.method
    else:
        # Sentiment has no 'none of these' answer: every message gets a label; the
        # classes are weighed so that each is found about equally well.
        threshold, method = 0.0, "none"
        train_counts = Counter(e.label for e in train)
        shift = calibrate_prior_shift(
            scores.probabilities, gold, card.labels, [train_counts[label] for label in card.labels]
        )
        if shift.strength > 0:
            logit_bias = shift.logit_bias
        training["prior_shift"] = shift.strength
    training["calibration"] = method
    # Unrounded: rounding up could reject the validation rows it was chosen to keep.
    rejection = replace(card.rejection, threshold=threshold)
    return replace(card, rejection=rejection, logit_bias=logit_bias, training=training), method
