"""retrieval.models.torchscript: a TorchScript trace is used only once it matches its model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from retrieval.models.torchscript import TRACE_EXAMPLE, checked_trace


def shape_baking_model() -> Any:
    """A model whose output depends on its batch size through a Python number, which a
    trace records as a constant: exactly what the check after tracing must catch."""
    import torch

    class Model(torch.nn.Module):
        def forward(self, lengths: torch.Tensor) -> torch.Tensor:
            return lengths.float() * int(lengths.shape[0])

    return Model().eval()


def honest_model() -> Any:
    import torch

    class Model(torch.nn.Module):
        def forward(self, lengths: torch.Tensor) -> torch.Tensor:
            return lengths.float() * 2.0

    return Model().eval()


def run(fn: Any, texts: Sequence[str]) -> Any:
    import torch

    return fn(torch.tensor([len(t) for t in texts]))


def tracer(model: Any) -> Any:
    import torch

    return lambda: torch.jit.trace(model, (torch.tensor([len(t) for t in TRACE_EXAMPLE]),))


def test_a_trace_that_matches_its_model_on_other_shapes_is_used() -> None:
    model = honest_model()

    traced = checked_trace("model", tracer(model), model, run)

    assert traced is not None
    assert run(traced, ["a", "bcd", "ef"]).tolist() == [2.0, 6.0, 4.0]


def test_a_trace_that_baked_in_a_shape_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = shape_baking_model()

    with caplog.at_level(logging.WARNING, logger="retrieval.models.torchscript"):
        assert checked_trace("encoder", tracer(model), model, run) is None

    assert "the traced encoder differs from the model by" in caplog.text
    assert "serving without tracing" in caplog.text


def test_a_model_that_cannot_be_traced_is_served_untraced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fails() -> Any:
        raise RuntimeError("unsupported operator")

    with caplog.at_level(logging.WARNING, logger="retrieval.models.torchscript"):
        assert checked_trace("encoder", fails, honest_model(), run) is None

    assert (
        "tracing the encoder failed (RuntimeError: unsupported operator); "
        "serving without tracing" in caplog.text
    )
