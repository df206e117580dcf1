"""Where training runs (GPU or CPU) and the settings that follow from it."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Runtime:
    device: str  # "cuda" or "cpu"
    precision: str  # "bf16", "fp16" or "fp32"
    cpu_threads: int | None  # None on a GPU: torch's default is fine for the data loader

    @property
    def on_gpu(self) -> bool:
        return self.device == "cuda"


def detect_runtime() -> Runtime:
    """CUDA with bf16 (fp16 on GPUs without bf16) when present, else the CPU in fp32."""
    import torch

    if torch.cuda.is_available():
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return Runtime("cuda", precision, None)
    return Runtime("cpu", "fp32", cpu_threads())


def cpu_threads() -> int:
    """Threads for CPU training: OMP_NUM_THREADS if the user set it, else our usable cores.

    The cores this process may run on (its affinity mask) rather than the machine's count,
    because in containers and under taskset the difference is large and oversubscribing
    cores makes BERT training slower, not faster.
    """
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not available on macOS
        return max(1, os.cpu_count() or 1)
