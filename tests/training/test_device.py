from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from training.device import busy_between, busy_cores, cpu_threads

# Two readings of /proc/stat one second (100 ticks) apart, as a 2-core Linux machine writes
# them: cpu0 fully busy in user time, cpu1 idle but for 10 ticks of steal (time the
# hypervisor gave to another guest) and 20 of iowait (waiting, so idle).
BEFORE = """cpu  2000 0 300 9000 100 0 10 50 0 0
cpu0 1000 0 150 4500 50 0 5 25 0 0
cpu1 1000 0 150 4500 50 0 5 25 0 0
intr 123456 0 0
ctxt 98765
"""
AFTER = """cpu  2100 0 300 9070 120 0 10 60 0 0
cpu0 1100 0 150 4500 50 0 5 25 0 0
cpu1 1000 0 150 4570 70 0 5 35 0 0
intr 123999 0 0
ctxt 99999
"""


def test_busy_cores_count_user_time_and_steal_as_busy_and_iowait_as_idle() -> None:
    assert busy_between(BEFORE, AFTER, [0]) == pytest.approx(1.0)
    assert busy_between(BEFORE, AFTER, [1]) == pytest.approx(0.1)
    assert busy_between(BEFORE, AFTER, [0, 1]) == pytest.approx(1.1)


def test_busy_cores_is_unknown_for_a_cpu_the_readings_do_not_list() -> None:
    assert busy_between(BEFORE, AFTER, [0, 7]) is None


def test_busy_cores_is_unknown_where_the_readings_have_another_layout() -> None:
    short = "cpu0 1000 0 150\n"

    assert busy_between(short, short, [0]) is None


@pytest.fixture
def spinning_on_cpu0() -> Iterator[None]:
    """A real process keeping cpu 0 busy."""
    if not Path("/proc/stat").is_file() or not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs Linux's /proc/stat and CPU affinity")
    if 0 not in os.sched_getaffinity(0):
        pytest.skip("cpu 0 is not one this process may run on")
    spinner = subprocess.Popen(
        [sys.executable, "-c", "import os\nos.sched_setaffinity(0, {0})\nwhile True: pass"]
    )
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def test_a_core_kept_busy_by_another_process_reads_as_busy(spinning_on_cpu0: None) -> None:
    busy = busy_cores([0], seconds=0.5)

    assert busy is not None and busy > 0.7


def test_training_threads_follow_omp_num_threads_when_the_user_sets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")

    assert cpu_threads() == 3


def test_training_threads_leave_out_a_core_another_process_keeps_busy(
    spinning_on_cpu0: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    usable = len(os.sched_getaffinity(0))

    # Never more than the usable cores, and one fewer at most while cpu 0 spins (the rest of
    # the machine may be busy too, under a parallel test run, so only the ceiling is certain).
    assert 1 <= cpu_threads() <= max(1, usable - 1)
