"""retrieval.models.classifier: length-grouped batches, and the sparse model fused into the
encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retrieval.base.modeldir import ModelDirError
from retrieval.models.classifier import TextClassifier, length_groups
from retrieval.models.int8 import int8_matmul_is_fast
from tests.conftest import FIXTURES, TinyModels


def test_length_groups_cover_every_row_once_shortest_first() -> None:
    lengths = [30, 5, 31, 6, 7, 29]
    groups = length_groups(lengths, call_overhead=8)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    flat = [lengths[i] for group in groups for i in group]
    assert flat == sorted(flat)


def test_length_groups_split_short_from_long_rows_when_padding_costs_more_than_a_call() -> None:
    lengths = [40, 8, 8, 40, 8, 40, 8, 8]
    groups = length_groups(lengths, call_overhead=16)
    assert [sorted(lengths[i] for i in group) for group in groups] == [[8] * 5, [40] * 3]


def test_length_groups_keep_one_batch_when_a_call_costs_more_than_the_padding() -> None:
    lengths = [12, 10, 11, 13, 9]
    assert len(length_groups(lengths, call_overhead=48)) == 1


def test_length_groups_of_nothing_is_nothing() -> None:
    assert length_groups([], call_overhead=48) == []


@pytest.mark.parametrize("quantize", [False, True], ids=["fp32", "int8"])
def test_grouped_batch_scores_match_one_message_at_a_time(
    tiny_models: TinyModels, quantize: bool
) -> None:
    # int8 too: its activations are scaled per row, so a message's batch-mates (and their
    # padding) cannot move its answer, as they could under per-batch dynamic quantization.
    classifier = TextClassifier.load(tiny_models.intent, device="cpu", quantize=quantize)
    texts = [
        "hi",
        "where is my order NW-10003, it was supposed to arrive last week and nobody answers",
        "refund please",
        "I would like to talk to a real person about the damaged parcel I received today",
        "thanks",
    ]
    together = classifier.probabilities(texts)
    for row, text in zip(together, texts, strict=True):
        assert row == pytest.approx(classifier.probabilities([text])[0], abs=1e-4)


ROW = "retrieval.models.int8.RowwiseInt8Linear"
BATCH = "torch.ao.nn.quantized.dynamic.modules.linear.Linear"
FLOAT = "torch.nn.modules.linear.Linear"


@pytest.mark.parametrize(
    ("quantize", "layer"),
    [
        (None, "auto"),
        ("auto", "auto"),
        ("int8-row", ROW),
        ("int8-batch", BATCH),
        ("off", FLOAT),
        (False, FLOAT),
    ],
)
def test_the_quantization_setting_picks_the_linear_layers(
    tiny_models: TinyModels, quantize: bool | str | None, layer: str
) -> None:
    if layer == "auto":
        # int8 only where the CPU multiplies int8 fast; fp32 elsewhere (same labels).
        layer = ROW if int8_matmul_is_fast() else FLOAT
    classifier = TextClassifier.load(tiny_models.intent, device="cpu", quantize=quantize)
    kinds = {f"{type(m).__module__}.{type(m).__name__}" for m in classifier.model.modules()}
    assert layer in kinds
    assert not kinds & ({ROW, BATCH, FLOAT} - {layer})
    # Every form still answers, and through its checked trace.
    assert classifier.traced
    assert classifier.predict(["where is my order"])[0].top_label in classifier.labels


def _with_sparse(tiny_models: TinyModels, tmp_path: Path, weight: float) -> Path:
    import csv
    import json
    import shutil

    from training.ngrams import fit_sparse

    model = tmp_path / "intent"
    shutil.copytree(tiny_models.intent, model)
    with (FIXTURES / "tiny_nlu.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = json.loads((model / "labels.json").read_text())
    fit_sparse([r["text"] for r in rows], [r["intent"] for r in rows], labels).save(
        model / "sparse.npz"
    )
    card = json.loads((model / "frontdesk.json").read_text())
    card["sparse"] = {
        "file": "sparse.npz",
        "weight": weight,
        "scale": 5.0,
        "blocks": [
            {"analyzer": "word", "ngram_range": [1, 2]},
            {"analyzer": "char_wb", "ngram_range": [2, 5]},
        ],
    }
    (model / "frontdesk.json").write_text(json.dumps(card))
    return model


def test_a_sparse_model_in_the_directory_is_fused_into_the_probabilities(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    import numpy as np

    texts = ["where is my order", "hello there", "refund please"]
    dense = TextClassifier.load(tiny_models.intent, quantize=False)
    fused = TextClassifier.load(_with_sparse(tiny_models, tmp_path, 0.5), quantize=False)
    assert fused.sparse is not None
    expected = 0.5 * np.log(dense.probabilities(texts)) + 0.5 * 5.0 * fused.sparse.scores(texts)
    expected = np.exp(expected - expected.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert fused.probabilities(texts) == pytest.approx(expected, abs=1e-4)


def test_an_unreadable_sparse_file_names_the_directory_and_the_fix(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    model = _with_sparse(tiny_models, tmp_path, 0.3)
    (model / "sparse.npz").write_bytes(b"not a numpy archive")
    with pytest.raises(ModelDirError, match=r"sparse n-gram model .* cannot be read.*retrain"):
        TextClassifier.load(model)


def test_cpu_inference_runs_a_trace_that_gives_the_models_own_logits(
    tiny_models: TinyModels,
) -> None:
    import torch

    classifier = TextClassifier.load(tiny_models.intent, device="cpu")
    assert classifier.traced
    texts = ["hi", "where is my order NW-10003, it has been two weeks", "refund"]
    batch = dict(classifier.tokenizer(texts, padding=True, return_tensors="pt"))
    trace = classifier._traced
    assert trace is not None
    with torch.inference_mode():
        traced = trace(**batch)["logits"]
        eager = classifier.model(**batch).logits
    assert traced == pytest.approx(eager, abs=1e-5)


def shape_baking_model() -> Any:
    """A model whose output depends on its batch size through a Python number, which a
    trace records as a constant: exactly what the check after tracing must catch."""
    import torch

    class Model(torch.nn.Module):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
            rows = int(input_ids.shape[0])
            return {"logits": attention_mask.float().sum(dim=1, keepdim=True) * rows}

    return Model().eval()


def test_a_trace_that_differs_from_its_model_is_not_used(
    tiny_models: TinyModels, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from retrieval.models.classifier import trace_for_cpu

    tokenizer = TextClassifier.load(tiny_models.intent, device="cpu").tokenizer

    class NoTypeIds:
        def __call__(self, texts: list[str], **kwargs: object) -> object:
            encoded = tokenizer(texts, **kwargs)
            encoded.pop("token_type_ids", None)
            return encoded

    with caplog.at_level(logging.WARNING, logger="retrieval.models.torchscript"):
        assert trace_for_cpu(shape_baking_model(), NoTypeIds()) is None
    assert "the traced model differs from the model by" in caplog.text
    assert "serving without tracing" in caplog.text


def test_with_a_fused_model_the_rejection_reads_the_encoders_own_confidence(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    import json

    model = _with_sparse(tiny_models, tmp_path, 0.5)
    # The card's rule is what a directory without an out-of-scope scorer serves.
    (model / "oos.json").unlink()
    (model / "oos.npz").unlink()
    fused = TextClassifier.load(model, quantize=False)
    text = "please where is my parcel"
    probabilities, encoder_confidence = fused.scores([text])
    fused_confidence = float(probabilities[0].max())
    assert abs(fused_confidence - float(encoder_confidence[0])) > 0.01
    card = json.loads((model / "frontdesk.json").read_text())
    # A threshold between the two: only the rule that reads the lower one rejects.
    card["rejection"] = {
        "method": "encoder_max_softmax",
        "threshold": (fused_confidence + float(encoder_confidence[0])) / 2,
    }
    (model / "frontdesk.json").write_text(json.dumps(card))
    by_encoder = TextClassifier.load(model, quantize=False).predict([text])[0]
    card["rejection"]["method"] = "max_softmax"
    (model / "frontdesk.json").write_text(json.dumps(card))
    by_fused = TextClassifier.load(model, quantize=False).predict([text])[0]

    lower_is_encoder = float(encoder_confidence[0]) < fused_confidence
    assert by_encoder.rejected is lower_is_encoder
    assert by_fused.rejected is not lower_is_encoder


def test_a_card_without_the_model_weights_names_the_missing_file(tmp_path: Path) -> None:
    from retrieval.base import modeldir

    card = modeldir.ModelCard(task="intent", labels=("a", "b"), base_model="", max_length=8)
    modeldir.write(tmp_path, card)

    with pytest.raises(ModelDirError, match=r"not a Frontdesk model directory: config.json is"):
        TextClassifier.load(tmp_path)
