"""Where training runs (GPU or CPU) and the settings that follow from it."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


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
    and under taskset is far below the machine's count) less the time they were busy over a
    short sample (:func:`busy_cores`), or, without /proc/stat, less the 1-minute load average.
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
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not available on macOS
        cpus = list(range(os.cpu_count() or 1))
    busy = busy_cores(cpus)
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:  # no load average on this platform
            busy = 0.0
    return max(1, min(len(cpus), round(len(cpus) - busy)))


# The load average is not a count of busy cores: it samples the run queue (and tasks in
# uninterruptible sleep) every few seconds, so a periodic kernel thread that happens to wake
# at those moments counts as a busy core. On an idle 2-core virtual machine it read 1.0-1.5
# while vmstat showed the cores 99% idle, and training took one thread instead of two. What
# the cores actually did over a short sample is the measure.
SAMPLE_SECONDS = 0.25
PROC_STAT = Path("/proc/stat")


def busy_cores(cpus: Sequence[int], seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many of ``cpus`` were busy over the next ``seconds`` (0.0 to ``len(cpus)``), from
    /proc/stat; None where it cannot be read (not Linux)."""
    try:
        before = PROC_STAT.read_text(encoding="ascii")
        time.sleep(seconds)
        after = PROC_STAT.read_text(encoding="ascii")
    except OSError:
        return None
    return busy_between(before, after, cpus)


def busy_between(before: str, after: str, cpus: Sequence[int]) -> float | None:
    """Busy cores among ``cpus`` between two readings of /proc/stat: for each, the share of
    its time not idle (idle and iowait count as idle; steal, time the hypervisor gave to
    others, as busy). None if a reading lacks one of the cpus."""
    first, second = _cpu_times(before), _cpu_times(after)
    busy = 0.0
    for cpu in cpus:
        if cpu not in first or cpu not in second:
            return None
        (idle0, total0), (idle1, total1) = first[cpu], second[cpu]
        elapsed = total1 - total0
        if elapsed > 0:
            busy += 1.0 - (idle1 - idle0) / elapsed
    return min(float(len(cpus)), max(0.0, busy))


def _cpu_times(stat: str) -> dict[int, tuple[int, int]]:
    """cpu number -> (idle ticks, total ticks) from the text of /proc/stat."""
    times: dict[int, tuple[int, int]] = {}
    for line in stat.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit():
            continue
        ticks = [int(field) for field in rest.split() if field.isdigit()]
        if len(ticks) < 5:
            continue  # not the layout below: the caller falls back to the load average
        # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
        # already counted in user and nice.
        times[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks[:8]))
    return times
