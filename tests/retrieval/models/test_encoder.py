from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from retrieval.models.encoder import BUNDLED_NAME, Encoder, EncoderLoadError, load_encoder


def test_encode_returns_float32_unit_vectors_of_the_model_dimension(encoder: Encoder) -> None:
    vectors = encoder.encode(["Where is my order?", "Hello"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, encoder.dimension) == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_encode_of_nothing_is_an_empty_matrix(encoder: Encoder) -> None:
    assert encoder.encode([]).shape == (0, encoder.dimension)


def test_encode_refuses_a_bare_string(encoder: Encoder) -> None:
    with pytest.raises(TypeError, match="sequence of texts"):
        encoder.encode("hello")


def test_bundled_encoder_has_a_location_independent_name(encoder: Encoder) -> None:
    assert encoder.name == BUNDLED_NAME
    assert encoder.fingerprint.startswith("sha256:")


def test_load_encoder_names_the_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="no-such-model does not exist"):
        load_encoder(tmp_path / "no-such-model")


def test_load_encoder_rejects_a_directory_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="not a sentence-transformers model directory"):
        load_encoder(tmp_path)


def test_a_traced_encoder_gives_the_models_own_vectors(encoder: Encoder) -> None:
    traced = load_encoder(device="cpu")
    texts = ["Where is my order?", "hi", "Can I return a pan I bought three weeks ago?"]

    assert traced.traced is False
    assert traced.trace_for_cpu() is True
    assert traced.traced is True

    np.testing.assert_allclose(traced.encode(texts), encoder.encode(texts), atol=1e-5)
    # Batches larger than batch_size still go through sentence-transformers' own batching.
    np.testing.assert_allclose(traced.encode(texts, batch_size=2), encoder.encode(texts), atol=1e-5)


def test_tracing_the_encoder_logs_no_warning_the_user_cannot_act_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    traced = load_encoder(device="cpu")

    with caplog.at_level(logging.WARNING):
        assert traced.trace_for_cpu() is True

    # torch.jit.trace reads sentence-transformers' deprecated _target_device, which warns.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    # The filter is gone again: the library's own warnings still reach the user elsewhere.
    assert logging.getLogger("sentence_transformers.base.model").filters == []


def test_an_encoder_whose_encode_adds_a_prompt_is_not_traced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prompted = load_encoder(device="cpu")
    prompted._model.prompts = {"query": "query: "}
    prompted._model.default_prompt_name = "query"

    with caplog.at_level(logging.WARNING, logger="retrieval.models.torchscript"):
        assert prompted.trace_for_cpu() is False

    assert "the traced encoder differs from the model" in caplog.text
    assert prompted.traced is False
