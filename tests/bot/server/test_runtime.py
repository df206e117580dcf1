"""How a server process sizes its model threads: by its share of the machine's cores, for torch
and numpy alike."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.server.appkeys import RUNTIME
from bot.server.runtime import inference_threads, model_workers, process_cores
from tests.bot.server.web.conftest import web_config
from tests.conftest import TinyModels, app_config


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


def process_wide_blas_threads() -> set[int]:
    """The thread counts of the BLAS libraries whose limit is the whole process's: OpenBLAS on
    pthreads, as numpy's and scipy's wheels ship it. One built on OpenMP (FAISS's) takes its
    limit per thread, and FAISS sets that itself."""
    from threadpoolctl import threadpool_info

    return {
        lib["num_threads"]
        for lib in threadpool_info()
        if lib["user_api"] == "blas" and lib.get("threading_layer") != "openmp"
    }


async def test_a_serving_process_gives_numpy_no_more_threads_than_torch(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    from threadpoolctl import threadpool_limits

    from bot.server.app import create_app

    # As numpy starts on a machine with cores to spare: a BLAS thread for each of them.
    with threadpool_limits(limits=3, user_api="blas"):
        app = create_app(web_config(tmp_path, tiny_models, inference_threads=1))
        await aiohttp_client(app)
        await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)

        assert process_wide_blas_threads() == {1}


async def test_the_servers_blas_limit_leaves_other_threads_free_to_set_theirs(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    from threadpoolctl import threadpool_limits

    from bot.server.app import create_app

    def limited_on_a_worker_thread() -> tuple[set[int], set[int]]:
        # What the index does when a reload rebuilds it on a model worker's thread.
        with threadpool_limits(limits=2, user_api="blas"):
            inside = process_wide_blas_threads()
        return inside, process_wide_blas_threads()

    app = create_app(web_config(tmp_path, tiny_models, inference_threads=1))
    await aiohttp_client(app)
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)

    inside, after = await asyncio.get_running_loop().run_in_executor(
        None, limited_on_a_worker_thread
    )
    assert inside == {2}
    assert after == {1}
