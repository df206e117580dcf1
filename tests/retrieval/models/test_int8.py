"""retrieval.models.int8: int8 linear layers whose answer for a row depends on that row alone."""

from __future__ import annotations

import torch
from torch import nn

from retrieval.models.int8 import RowwiseInt8Linear, quantize_linear_layers


def linear(seed: int = 0, bias: bool = True) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(64, 48, bias=bias)


def test_int8_linear_stays_close_to_full_precision() -> None:
    layer = linear()
    x = torch.randn(20, 64)
    exact = layer(x)
    approx = RowwiseInt8Linear(layer)(x)
    # About one part in a hundred of the output's spread: int8 with a scale per row and per
    # output channel.
    assert (approx - exact).abs().max() < 0.01 * exact.abs().max()


def test_a_row_gives_the_same_numbers_alone_and_beside_any_rows() -> None:
    layer = RowwiseInt8Linear(linear())
    x = torch.randn(5, 64)
    # Per-batch scaling would let this loud neighbour coarsen every other row's integers.
    loud = torch.full((1, 64), 1000.0)
    together = layer(torch.cat([x, loud]))
    for i in range(len(x)):
        assert torch.equal(together[i], layer(x[i : i + 1])[0])


def test_leading_dimensions_are_kept_and_a_missing_bias_is_fine() -> None:
    layer = RowwiseInt8Linear(linear(bias=False))
    x = torch.randn(2, 7, 64)
    out = layer(x)
    assert out.shape == (2, 7, 48)
    assert torch.equal(out[1], layer(x[1:])[0])


def test_every_linear_layer_is_replaced_however_deep() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Sequential(nn.ReLU(), nn.Linear(8, 4)))
    x = torch.randn(3, 8)
    with torch.inference_mode():
        before = model(x)
        quantized = quantize_linear_layers(model)
        after = model(x)
    assert quantized is model
    assert not any(type(m) is nn.Linear for m in model.modules())
    assert sum(isinstance(m, RowwiseInt8Linear) for m in model.modules()) == 2
    assert torch.allclose(after, before, atol=0.05)


def test_an_all_zero_row_stays_zero_instead_of_dividing_by_zero() -> None:
    layer = RowwiseInt8Linear(linear(bias=False))
    out = layer(torch.zeros(1, 64))
    assert torch.equal(out, torch.zeros(1, 48))
