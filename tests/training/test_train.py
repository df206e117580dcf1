"""End-to-end training into a model directory that serving can load (training.train)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from retrieval.base.datafiles import DataFileError
from retrieval.base.datasets import load_examples
from retrieval.base.labels import FALLBACK_INTENT
from retrieval.models.classifier import TextClassifier
from tests.training.conftest import (
    TINY_INTENTS,
    TrainedModel,
    tiny_settings,
    write_intents_csv,
)
from training.train import report_conflicts, train

pytestmark = pytest.mark.slow


def test_served_classifier_predicts_one_of_the_trained_labels(
    tiny_intent_model: TrainedModel,
) -> None:
    classifier = TextClassifier.load(tiny_intent_model.out)

    [prediction] = classifier.predict(["where is my order"])

    assert prediction.top_label in TINY_INTENTS
    assert prediction.label in {*TINY_INTENTS, FALLBACK_INTENT}
    assert 0.0 < prediction.confidence <= 1.0


def test_training_result_is_one_json_line_with_validation_metrics(
    tiny_intent_model: TrainedModel,
) -> None:
    result = tiny_intent_model.result
    metrics_file = json.loads((tiny_intent_model.out / "metrics.json").read_text())

    assert "\n" not in json.dumps(result)
    assert result["labels"] == 4 and result["train_examples"] + result["validation_examples"] == 24
    assert {"accuracy", "macro_f1", "in_scope_accuracy", "oos_f1"} <= set(result["validation"])
    assert metrics_file["n"] == result["validation_examples"]
    assert metrics_file["threshold"] == result["threshold"]
    # On the CPU, the threads it took (the idle cores, or OMP_NUM_THREADS) are said.
    assert result["device"] == "cuda" or result["cpu_threads"] >= 1


def test_train_fills_the_budget_it_is_given_with_early_stopping_still_on(tmp_path: Path) -> None:
    data = write_intents_csv(tmp_path / "nlu.csv", TINY_INTENTS)

    result = train(tiny_settings(data, tmp_path / "m", epochs=None, max_minutes=2.0))

    card = json.loads((tmp_path / "m" / "frontdesk.json").read_text())
    # Planned to the ceiling; the measured step rate only ever shortens the plan.
    assert result["epochs"] == 30.0
    assert result["epochs_planned"] <= 30.0
    assert card["training"]["hyperparameters"]["patience"] == 6
    assert card["training"]["hyperparameters"]["max_minutes"] < 2.0
    assert result["stopped_by"] in {"schedule", "early_stopping", "time_budget"}


def test_without_oos_examples_in_scope_rejection_stays_within_the_default_target(
    tmp_path: Path,
) -> None:
    intents = {k: v for k, v in TINY_INTENTS.items() if k != "out_of_scope"}
    data = write_intents_csv(tmp_path / "nlu.csv", intents)

    result = train(tiny_settings(data, tmp_path / "m", epochs=3))

    assert result["rejection"]["target"] == "auto"
    assert result["rejection"]["oos_questions"].startswith("bundled (")
    assert result["rejection"]["validation_in_scope_rejection"] <= 0.02
    assert result["validation"]["in_scope_rejection_rate"] <= 0.02


def test_a_refit_serves_weights_trained_on_every_example_with_the_rule_chosen_on_validation(
    tmp_path: Path,
) -> None:
    import numpy as np

    from retrieval.models.oos import OutOfScopeScorer, fit_reference
    from training.evaluate import load_classifier
    from training.oos import analyse

    data = write_intents_csv(tmp_path / "nlu.csv", TINY_INTENTS)
    on_split = train(tiny_settings(data, tmp_path / "split", refit=False))
    refit = train(tiny_settings(data, tmp_path / "refit", refit=True))

    assert on_split["refit"] is None
    assert refit["refit"]["examples"] == 24 and refit["refit"]["epochs"] == 1.0
    # What needs unseen questions was chosen by the same run on the split, and kept.
    rule = json.loads((tmp_path / "refit" / "oos.json").read_text())
    assert rule == json.loads((tmp_path / "split" / "oos.json").read_text())
    figures = {k: v for k, v in refit["validation"].items() if k != "ms_per_message"}
    assert figures == {k: v for k, v in on_split["validation"].items() if k != "ms_per_message"}
    assert "refit on all 24 examples" in (tmp_path / "refit" / "report.md").read_text()
    # The served weights are another model's ...
    in_scope = [(t, label) for label, texts in TINY_INTENTS.items() for t in texts]
    in_scope = [(t, label) for t, label in in_scope if label != "out_of_scope"]
    served = load_classifier(tmp_path / "refit")
    embeddings = analyse(served, [t for t, _ in in_scope]).embeddings
    before = analyse(load_classifier(tmp_path / "split"), [t for t, _ in in_scope]).embeddings
    assert not np.allclose(embeddings, before, atol=1e-3)
    # ... and the scorer compares messages with every in-scope example as they embed them.
    scorer = OutOfScopeScorer.load(tmp_path / "refit")
    assert scorer is not None
    expected = fit_reference(embeddings, [served.labels.index(label) for _, label in in_scope])
    if rule["signal"] == "knn":
        bank = np.asarray(scorer.reference.bank, dtype="float32")
        assert bank.shape == expected.bank.shape  # one row for each, in the order trained
        assert (expected.bank @ bank.T).max(axis=1).min() > 0.999
    else:
        np.testing.assert_allclose(scorer.reference.means, expected.means, atol=1e-4)


# --- refusals (all before any model is loaded) -------------------------------------------


def test_conflicting_labels_are_reported_with_both_lines_and_kept(tmp_path: Path) -> None:
    data = write_intents_csv(
        tmp_path / "nlu.csv", {"greet": ["hello", "hi"], "goodbye": ["Hello!", "bye"]}
    )
    said: list[str] = []

    report_conflicts(load_examples(data, task="intent"), said.append)

    [message] = said
    assert message.startswith("warning: 1 text(s) carry more than one label; training keeps")
    assert f"'greet' at {data}:2; 'goodbye' at {data}:4" in message


def test_training_refuses_to_replace_a_directory_that_is_not_a_model(tmp_path: Path) -> None:
    data = write_intents_csv(tmp_path / "nlu.csv", TINY_INTENTS)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")

    with pytest.raises(ValueError, match=r"^out: .* is not a Frontdesk model directory"):
        train(tiny_settings(data, tmp_path / "precious"))


def test_validation_file_label_unknown_to_training_is_reported_with_its_line(
    tmp_path: Path,
) -> None:
    data = write_intents_csv(tmp_path / "nlu.csv", TINY_INTENTS)
    validation = write_intents_csv(
        tmp_path / "val.csv", {"greet": ["yo"], "refund": ["money back"]}
    )

    with pytest.raises(DataFileError) as caught:
        train(tiny_settings(data, tmp_path / "m", validation_data=validation))

    assert (caught.value.path, caught.value.line) == (str(validation), 3)
    assert "label 'refund' does not occur in the training data" in str(caught.value)


def test_lora_is_a_clear_error_without_peft_or_a_gpu(tmp_path: Path) -> None:
    data = write_intents_csv(tmp_path / "nlu.csv", TINY_INTENTS)

    with pytest.raises(ValueError, match=r"^peft: 'lora' (needs the peft package|is for GPUs)"):
        train(tiny_settings(data, tmp_path / "m", peft="lora"))


def test_resume_continues_from_the_checkpoints_a_failed_run_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retrieval.base.modeldir

    data = write_intents_csv(tmp_path / "nlu.csv", TINY_INTENTS)
    out = tmp_path / "model"
    checkpoints = tmp_path / ".model.checkpoints"

    def crash(staging: Path, target: Path) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(retrieval.base.modeldir, "publish", crash)
        with pytest.raises(RuntimeError, match="disk full"):
            train(tiny_settings(data, out))
    assert not out.exists()
    assert [p.name for p in checkpoints.glob("checkpoint-*")] == ["checkpoint-2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.checkpoints", "nlu.csv"]

    train(tiny_settings(data, out, resume=True))

    card = json.loads((out / "frontdesk.json").read_text())
    assert card["training"]["resumed_from"] == str(checkpoints / "checkpoint-2")
    assert not checkpoints.exists()


def test_lora_adapters_train_and_fold_into_a_plain_model_that_serving_loads(
    tmp_path: Path,
) -> None:
    """The LoRA path on the CPU (train() itself sends --peft to GPUs only): adapters train,
    are merged into the weights, and the result saves and loads like any model."""
    if importlib.util.find_spec("peft") is None and os.environ.get("CI") != "true":
        pytest.skip("peft is not installed (pip install 'frontdesk[train]')")
    from transformers import AutoTokenizer

    from retrieval.base.datasets import Example
    from training.device import TrainingDevice
    from training.finetune import Hyperparameters, fit
    from training.settings import base_model_path

    base = base_model_path(None)
    labels = sorted(TINY_INTENTS)
    examples = [
        Example(text, label, "tiny.csv", i)
        for i, (label, texts) in enumerate(TINY_INTENTS.items())
        for text in texts
    ]
    result = fit(
        base_model=base,
        tokenizer=AutoTokenizer.from_pretrained(str(base), local_files_only=True),
        labels=labels,
        train=examples,
        validation=examples,
        hyper=Hyperparameters(epochs=2, batch_size=8, learning_rate=1e-3, max_length=16, seed=1),
        device=TrainingDevice("cpu", "fp32", 1),
        checkpoints=tmp_path / "checkpoints",
        resume=False,
        quiet=True,
        peft="lora",
    )
    assert type(result.model).__name__ == "BertForSequenceClassification", "adapters folded in"
    assert not any("lora" in name for name, _ in result.model.named_parameters())
    result.model.save_pretrained(str(tmp_path / "model"))
    reloaded = type(result.model).from_pretrained(str(tmp_path / "model"))
    assert reloaded.config.num_labels == len(labels)
