"""int8 linear layers for CPU inference whose result for a message does not depend on the
messages batched with it.

PyTorch's dynamic quantization (``torch.ao.quantization.quantize_dynamic``) picks one
activation scale for the whole input tensor: every message in a batch, padding included. A
message near a decision boundary then changes label with its neighbours
(``bench/batch_invariance.py`` counts how often). The server batches whatever traffic
arrives together, so the same message could get different answers under different load.

Here every row (token) gets its own scale, so a row's integers depend on that row alone; the
int8 product accumulates exactly in int32 (``torch._int_mm``), and what follows is elementwise.
Weights are int8 with one scale per output channel. On the CPU it costs about what the dynamic
kernels cost and is closer to fp32 (finer scales).
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any

import torch
from torch import nn

from retrieval.models.torchscript import WARNINGS_LOCK


class RowwiseInt8Linear(nn.Module):
    """``nn.Linear`` with int8 weights (a scale per output channel) and int8 activations (a
    scale per row), accumulated in int32."""

    weight_t: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127.0
        quantized = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.register_buffer("weight_t", quantized.t().contiguous())  # (in, out) for _int_mm
        self.register_buffer("weight_scale", scale)
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        quantized, peak = self._quantize(x)
        # int32 times float32 gives float32 in one pass; then in place, one factor at a time
        # (a broadcast addcmul was four times slower).
        out = torch._int_mm(quantized, self.weight_t) * (peak / 127.0)
        out = out.mul_(self.weight_scale)
        if self.bias is not None:
            out = out.add_(self.bias)
        return out.reshape(*shape[:-1], self.out_features)

    def _quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = x.reshape(-1, self.in_features)
        # The row's largest magnitude maps to 127, so nothing needs clamping after rounding.
        peak = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
        quantized = torch.round(rows * (127.0 / peak)).to(torch.int8)
        return quantized, peak

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


@functools.cache
def int8_matmul_is_fast() -> bool:
    """Whether this CPU multiplies int8 matrices at least about as fast as fp32 ones.

    ``torch._int_mm`` has fast CPU kernels only where the CPU has int8 dot-product
    instructions (AVX-512 VNNI, AMX); elsewhere (an AVX2-only AMD EPYC, measured) it ran 50
    times slower than the fp32 product, so int8 would cost far more than it saves. Timed
    once per process on one layer's shape; a few milliseconds where it is fast.
    """
    a = torch.randint(-127, 127, (32, 384), dtype=torch.int8)
    b = torch.randint(-127, 127, (384, 384), dtype=torch.int8)
    fa, fb = a.float(), b.float()

    def best(run: Any) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return min(times)

    with torch.inference_mode():
        torch._int_mm(a, b), fa @ fb  # first calls pay for kernel selection
        return best(lambda: torch._int_mm(a, b)) <= 2.0 * best(lambda: fa @ fb) + 1e-4


def quantize_linear_layers(model: Any) -> Any:
    """Replace every ``nn.Linear`` of ``model`` (in place) with :class:`RowwiseInt8Linear`.

    Traced (``retrieval.models.classifier.trace_for_cpu``), the query, key and value
    projections quantize their shared input once: the trace merges the identical work."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear):
            setattr(model, name, RowwiseInt8Linear(child))
        else:
            quantize_linear_layers(child)
    return model


def quantize_per_batch(model: Any) -> Any:
    """PyTorch's dynamic quantization: one activation scale per batch. About a tenth more
    throughput than :func:`quantize_linear_layers` on the 2-core serving bench, at the cost of
    labels that can move with a message's batch-mates (``quantization = "int8-batch"``)."""
    with WARNINGS_LOCK, warnings.catch_warnings():
        # Deprecated in favour of torchao, which is not a dependency; present and working in
        # the pinned torch release.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
