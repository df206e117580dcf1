"""A real `frontdesk serve` process: readiness, hot reload without dropping requests, shutdown."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.appkeys import RUNTIME
from bot.server.runtime import freeze_heap
from tests.conftest import REPO, TinyModels, app_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_reload_swaps_models_while_requests_keep_being_answered(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    app = create_app(app_config(tmp_path, models_dir=tiny_models.models_dir))
    client: TestClient = await aiohttp_client(app)
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    runtime = app[RUNTIME].get()
    before_models, before_loaded_at = runtime.nlu.models, runtime.loaded_at

    async def talk(i: int) -> int:
        response = await client.post(
            "/webhooks/rest/webhook", json={"sender": f"s{i}", "message": "hello there"}
        )
        return response.status

    statuses, seconds = await asyncio.gather(
        asyncio.gather(*(talk(i) for i in range(20))), runtime.reload()
    )
    assert set(statuses) == {200}
    assert seconds > 0
    assert runtime.nlu.models is not before_models
    assert runtime.loaded_at > before_loaded_at
    assert await talk(99) == 200


async def test_the_served_models_are_quantized_as_configured(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    from torch import nn

    from retrieval.models.int8 import RowwiseInt8Linear

    for mode, layer in (("int8-row", RowwiseInt8Linear), ("off", nn.Linear)):
        config = app_config(tmp_path, models_dir=tiny_models.models_dir, quantization=mode)
        app = create_app(config)
        client: TestClient = await aiohttp_client(app)
        await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
        models = app[RUNTIME].get().nlu.models
        for classifier in (models.intent, models.sentiment):
            assert classifier is not None
            assert {type(m) for m in classifier.model.modules()} & {
                RowwiseInt8Linear,
                nn.Linear,
            } == {layer}
        await client.close()


class Node:
    """Something a reference cycle can be made of."""

    me: Node


@pytest.fixture
def collector() -> Iterator[None]:
    """Only the code under test collects (no automatic passes to blur what it did), and
    nothing stays frozen for the tests after this one."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


@pytest.mark.usefixtures("collector")
async def test_a_reload_freezes_the_new_models_and_frees_what_the_old_ones_held(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    # Without the topic priors' first read, which may still be running on the old models
    # when the reload below begins (a model call in flight keeps what it uses alive).
    no_priors = {"negative_share": {"prior_weight": 0}}
    app = create_app(app_config(tmp_path, models_dir=tiny_models.models_dir, alerts=no_priors))
    await aiohttp_client(app)
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    runtime = app[RUNTIME].get()
    assert gc.get_freeze_count() > 0
    # A cycle that only the old models hold: once they go, only a collection frees it.
    cycle = Node()
    cycle.me = cycle
    runtime.nlu.models.intent.held = cycle  # type: ignore[attr-defined]
    alive = weakref.ref(cycle)
    del cycle

    await runtime.reload()

    assert alive() is None  # collected before the new models were frozen, not frozen for good
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("collector")
def test_freezing_the_heap_again_reclaims_cycles_frozen_the_time_before() -> None:
    node = Node()
    node.me = node
    alive = weakref.ref(node)
    freeze_heap()
    del node
    gc.collect()
    assert alive() is not None  # frozen: out of the collector's reach

    freeze_heap()

    assert alive() is None


@pytest.fixture
def server(
    tmp_path: Path, tiny_models: TinyModels
) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    port = free_port()
    pid_file = tmp_path / "frontdesk.pid"
    env = {
        **os.environ,
        "FRONTDESK_PORT": str(port),
        "FRONTDESK_MODELS_DIR": str(tiny_models.models_dir),
        "FRONTDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.sqlite3'}",
        "FRONTDESK_PID_FILE": str(pid_file),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, pid_file, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


async def wait_ready(url: str, timeout: float = 120) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < timeout:
            try:
                async with session.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} was not ready within {timeout}s")


async def test_serve_answers_reloads_on_request_and_shuts_down_cleanly(
    server: tuple[str, Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    url, pid_file, process = server
    await wait_ready(url)
    assert int(pid_file.read_text()) == process.pid
    async with aiohttp.ClientSession() as session:
        body = {"sender": "ops", "message": "hello there"}
        async with session.post(f"{url}/webhooks/rest/webhook", json=body) as response:
            assert response.status == 200
            assert (await response.json())[0]["recipient_id"] == "ops"
        async with session.get(f"{url}/readyz") as response:
            first_load = (await response.json())["loaded_at"]

    reload = subprocess.run(
        [sys.executable, "-m", "bot", "reload"],
        cwd=REPO,
        env={**os.environ, "FRONTDESK_PID_FILE": str(pid_file)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert reload.returncode == 0, reload.stderr
    assert f"asked server {process.pid} to reload" in reload.stdout
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            async with session.get(f"{url}/readyz") as response:
                if (await response.json())["loaded_at"] > first_load:
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the server did not reload")

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "reloaded models, index and data files" in output
    assert not pid_file.exists()


def test_reload_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "reload"],
        cwd=REPO,
        env={**os.environ, "FRONTDESK_PID_FILE": str(tmp_path / "none.pid")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "no running server" in result.stderr
    assert "frontdesk serve" in result.stderr
