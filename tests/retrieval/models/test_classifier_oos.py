"""retrieval.models.classifier with an out-of-scope scorer (retrieval.models.oos): it decides
where the model directory has one, and older directories keep the card's rule."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from retrieval.base.labels import FALLBACK_INTENT
from retrieval.base.modeldir import ModelDirError
from retrieval.models.classifier import TextClassifier
from retrieval.models.oos import (
    BANK_NAME,
    RULE_NAME,
    OutOfScopeRule,
    OutOfScopeScorer,
    fit_reference,
)
from tests.conftest import TinyModels

IN_SCOPE = ["where is my order", "hello there", "thanks a lot"]


def copy_model(tiny_models: TinyModels, tmp_path: Path) -> Path:
    model = tmp_path / "intent"
    shutil.copytree(tiny_models.intent, model)
    return model


def with_threshold(model: Path, threshold: float) -> None:
    scorer = OutOfScopeScorer.load(model)
    assert scorer is not None
    OutOfScopeScorer(replace(scorer.rule, threshold=threshold), scorer.reference).save(model)


def test_a_trained_intent_model_carries_its_out_of_scope_scorer(tiny_models: TinyModels) -> None:
    classifier = TextClassifier.load(tiny_models.intent)

    assert classifier.oos is not None
    assert classifier.oos.rule.signal in ("knn", "mahalanobis")
    assert TextClassifier.load(tiny_models.sentiment).oos is None


def test_below_the_scorers_threshold_a_message_is_rejected_above_it_kept(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    model = copy_model(tiny_models, tmp_path)

    with_threshold(model, 1e9)
    strict = TextClassifier.load(model).predict(IN_SCOPE)
    with_threshold(model, -1e9)
    lenient = TextClassifier.load(model).predict(IN_SCOPE)

    assert all(p.label == FALLBACK_INTENT for p in strict)
    assert all(p.label == p.top_label for p in lenient if p.top_label != "out_of_scope")


def test_a_directory_without_the_scorer_keeps_the_cards_threshold(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    model = copy_model(tiny_models, tmp_path)
    (model / RULE_NAME).unlink()
    (model / BANK_NAME).unlink()
    card = json.loads((model / "frontdesk.json").read_text())
    card["rejection"] = {"method": "max_softmax", "threshold": 1.01}
    (model / "frontdesk.json").write_text(json.dumps(card))

    classifier = TextClassifier.load(model)

    assert classifier.oos is None
    assert all(p.label == FALLBACK_INTENT for p in classifier.predict(IN_SCOPE))


def test_an_unreadable_scorer_names_the_directory_and_the_fix(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    model = copy_model(tiny_models, tmp_path)
    (model / RULE_NAME).write_text('{"version": 1, "k": 0}')

    with pytest.raises(ModelDirError, match=r"out-of-scope scorer .* cannot be read.*retrain"):
        TextClassifier.load(model)


def test_the_scorer_rule_refuses_values_it_cannot_use() -> None:
    rule = OutOfScopeRule(
        k=5,
        weight=0.5,
        confidence_mean=0.0,
        confidence_std=1.0,
        neighbour_mean=0.5,
        neighbour_std=0.1,
        threshold=-1.0,
    )
    with pytest.raises(ValueError, match=r"^weight: got 2"):
        replace(rule, weight=2)
    with pytest.raises(ValueError, match=r"^neighbour_std: got 0"):
        replace(rule, neighbour_std=0.0)
    with pytest.raises(ValueError, match=r"^signal: got 'lof', expected one of knn, mahalanobis"):
        replace(rule, signal="lof")


def test_mahalanobis_closeness_is_highest_at_an_intents_mean() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    rows = np.concatenate([c + rng.normal(0, 0.5, (20, 3)) for c in centres])
    reference = fit_reference(rows, [0] * 20 + [1] * 20)
    rule = OutOfScopeRule(
        k=1,
        weight=1.0,
        confidence_mean=0.0,
        confidence_std=1.0,
        neighbour_mean=0.0,
        neighbour_std=1.0,
        threshold=-3.0,
        signal="mahalanobis",
    )
    scorer = OutOfScopeScorer(rule, reference)

    near, between, far = scorer.closeness(np.array([[5.0, 0, 0], [2.5, 2.5, 0], [0, 0, 9.0]]))

    assert near > between > far
    assert near == pytest.approx(0.0, abs=0.5)


def test_the_traced_model_gives_the_eager_models_embeddings(tiny_models: TinyModels) -> None:
    import torch

    classifier = TextClassifier.load(tiny_models.intent, device="cpu", quantize=False)
    assert classifier.traced
    texts = ["hi", "where is my order NW-10003, it has been two weeks", "refund"]

    analysed = classifier.analyse(texts)

    for text, embedding in zip(texts, analysed.embeddings, strict=True):
        batch = dict(classifier.tokenizer([text], return_tensors="pt"))
        with torch.inference_mode():
            hidden = classifier.model(**batch, output_hidden_states=True).hidden_states[-1]
        assert embedding == pytest.approx(hidden[0].mean(dim=0).numpy(), abs=1e-4)
