"""Where training runs (GPU or CPU) and the settings that follow from it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TrainingDevice:
    """Where a training run happens and in what precision."""

    device: str  # "cuda" or "cpu"
    precision: str  # "bf16", "fp16" or "fp32"
    cpu_threads: int | None  # None on a GPU: torch's default is fine for the data loader

    @property
    def on_gpu(self) -> bool:
        return self.device == "cuda"


def detect_training_device() -> TrainingDevice:
    """CUDA with bf16 (fp16 on GPUs without bf16) when present, else the CPU in fp32."""
    import torch

    if torch.cuda.is_available():
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return TrainingDevice("cuda", precision, None)
    return TrainingDevice("cpu", "fp32", cpu_threads())


@contextlib.contextmanager
def training_device() -> Iterator[TrainingDevice]:
    """Detect the device; on the CPU use every usable core, then restore torch's setting."""
    import torch

    device = detect_training_device()
    previous = torch.get_num_threads()
    if device.cpu_threads:
        torch.set_num_threads(device.cpu_threads)
    try:
        yield device
    finally:
        torch.set_num_threads(previous)


def cpu_threads() -> int:
    """Threads for CPU training: OMP_NUM_THREADS if the user set it, else the idle cores.

    Idle means the cores this process may run on (its affinity mask, which in containers
    and under taskset is far below the machine's count) minus the 1-minute load average.
    Oversubscribing is the expensive mistake: every one of the hundreds of small parallel
    regions in a BERT training step waits for its slowest thread, and a thread sharing a
    core with another process is descheduled for whole time slices, so steps become slow
    and erratic; fewer threads on the idle cores run steadily. On idle cores all of them
    are used.
    """
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not available on macOS
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        busy = 0.0
    return max(1, min(cores, round(cores - busy)))
