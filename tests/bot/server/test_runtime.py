"""How a server process sizes its model threads: by its share of the machine's cores."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.server.runtime import inference_threads, model_workers, process_cores
from tests.conftest import app_config


@pytest.mark.parametrize(
    ("cores", "workers", "share", "model_threads", "torch_threads"),
    [
        (2, 1, 2, 2, 1),  # intent and sentiment side by side; the loop keeps a core
        (2, 2, 1, 1, 1),  # two processes on two cores: one model thread each, not two
        (16, 1, 16, 2, 7),
        (16, 4, 4, 2, 1),
        (1, 3, 1, 1, 1),  # more workers than cores still get a thread
    ],
)
def test_each_worker_sizes_its_threads_by_its_share_of_the_cores(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cores: int,
    workers: int,
    share: int,
    model_threads: int,
    torch_threads: int,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    config = app_config(tmp_path, workers=workers)

    assert process_cores(config) == share
    assert model_workers(config) == model_threads
    assert inference_threads(config) == torch_threads


def test_configured_inference_threads_win(tmp_path: Path) -> None:
    assert inference_threads(app_config(tmp_path, workers=4, inference_threads=3)) == 3
