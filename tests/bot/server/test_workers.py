"""``frontdesk serve --workers N``: one port, N real processes, one bot."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
import pytest

from bot.core.config import Config, ConfigError
from bot.server.workers import check_can_share
from bot.storage import Store
from bot.storage.ops_store import OpsStore
from tests.bot.server.test_serve_and_reload import free_port, wait_ready
from tests.conftest import REPO, TinyModels


def test_several_workers_on_sqlite_without_redis_are_refused_with_what_to_set() -> None:
    config = Config.from_mapping({"database_url": "sqlite+aiosqlite:///var/x.sqlite3"})
    with pytest.raises(ConfigError) as error:
        check_can_share(config, 2)
    assert str(error.value).startswith(
        "--workers 2 needs state shared between processes, and this server has SQLite "
        "(sqlite+aiosqlite:///var/x.sqlite3) without Redis"
    )
    assert "Set redis_url" in str(error.value)
    check_can_share(config, 1)
    check_can_share(config.replace(redis_url="redis://127.0.0.1:6379/0"), 2)


def test_serve_refuses_two_workers_on_sqlite_before_loading_anything(tmp_path: Path) -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--workers", "2"],
        cwd=REPO,
        env={
            **os.environ,
            "FRONTDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
            "FRONTDESK_PID_FILE": str(tmp_path / "frontdesk.pid"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "--workers 2 needs state shared between processes" in result.stderr
    assert not (tmp_path / "frontdesk.pid").exists()
    assert time.perf_counter() - started < 60


@dataclass
class Fleet:
    url: str
    port: int
    pid_file: Path
    process: subprocess.Popen[str]

    def workers(self) -> list[psutil.Process]:
        children = psutil.Process(self.process.pid).children()
        return [c for c in children if "spawn_main" in " ".join(c.cmdline())]


@contextlib.contextmanager
def running_fleet(
    tmp_path: Path,
    tiny_models: TinyModels,
    postgres_url: str,
    redis_url: str,
    workers: int,
    **settings: str,
) -> Iterator[Fleet]:
    port = free_port()
    pid_file = tmp_path / "frontdesk.pid"
    env = {
        **os.environ,
        "FRONTDESK_PORT": str(port),
        "FRONTDESK_MODELS_DIR": str(tiny_models.models_dir),
        "FRONTDESK_DATABASE_URL": postgres_url,
        "FRONTDESK_REDIS_URL": redis_url,
        "FRONTDESK_PID_FILE": str(pid_file),
        "FRONTDESK_RATE_LIMIT_PER_SENDER": "0",
        "FRONTDESK_RATE_LIMIT_PER_IP": "0",
        "FRONTDESK_LOG_LEVEL": "INFO",
        **{f"FRONTDESK_{key.upper()}": value for key, value in settings.items()},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--workers", str(workers)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield Fleet(f"http://127.0.0.1:{port}", port, pid_file, process)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def fleet(
    tmp_path: Path, tiny_models: TinyModels, postgres_url: str, redis_url: str
) -> Iterator[Fleet]:
    with running_fleet(tmp_path, tiny_models, postgres_url, redis_url, 2) as started:
        yield started


async def every_worker_ready(fleet: Fleet, workers: int, timeout: float = 180) -> None:
    """Ready answers on fresh connections, which the kernel spreads over the workers."""
    deadline = time.perf_counter() + timeout
    await wait_ready(fleet.url, timeout)
    while time.perf_counter() < deadline:
        listening = [
            worker
            for worker in fleet.workers()
            if any(
                c.status == "LISTEN" and c.laddr and c.laddr.port == fleet.port
                for c in worker.net_connections(kind="tcp")
            )
        ]
        # A worker that has not bound yet gets no connection: count only when all have.
        if len(listening) == workers:
            statuses = []
            for _ in range(12):
                connector = aiohttp.TCPConnector(force_close=True)
                async with aiohttp.ClientSession(connector=connector) as session:
                    try:
                        async with session.get(f"{fleet.url}/readyz") as response:
                            statuses.append(response.status)
                    except aiohttp.ClientConnectionError:
                        statuses.append(0)
            if set(statuses) == {200}:
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{workers} workers were not ready within {timeout}s")


async def loaded_at(fleet: Fleet) -> set[float]:
    """When each worker that answered a fresh connection loaded its models."""
    seen: set[float] = set()
    for _ in range(12):
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(f"{fleet.url}/readyz") as response,
        ):
            body = await response.json()
            if "loaded_at" in body:  # else a worker between loads, counted next time
                seen.add(float(body["loaded_at"]))
    return seen


async def say(url: str, sender: str, text: str) -> int:
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        body = {"sender": sender, "message": text}
        async with session.post(f"{url}/webhooks/rest/webhook", json=body) as response:
            await response.read()
            return response.status


async def test_two_workers_share_one_port_one_conversation_a_kill_and_a_reload(
    fleet: Fleet, postgres_url: str
) -> None:
    await every_worker_ready(fleet, 2)
    assert int(fleet.pid_file.read_text()) == fleet.process.pid
    first, second = fleet.workers()

    # Sixteen held connections: the kernel gives each worker some of them.
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(i: int) -> int:
            body = {"sender": f"spread-{i}", "message": "hello"}
            async with session.post(f"{fleet.url}/webhooks/rest/webhook", json=body) as reply:
                await reply.read()
                return reply.status

        assert await asyncio.gather(*(post(i) for i in range(16))) == [200] * 16
        held = {
            worker.pid: sum(
                1
                for c in worker.net_connections(kind="tcp")
                if c.laddr and c.laddr.port == fleet.port and c.status == "ESTABLISHED"
            )
            for worker in (first, second)
        }
    assert all(count > 0 for count in held.values()), held

    # One customer, each message on a new connection (so on either worker), in order.
    texts = ["hi", "thanks", "hey", "cheers", "hello", "thanks a lot"]
    for text in texts:
        assert await say(fleet.url, "shared", text) == 200
    store = await Store.open(postgres_url)
    try:
        conversation = await store.conversation_for("rest", "shared")
        turns = await store.turns(conversation.id)
    finally:
        await store.close()
    assert [t.text for t in turns if t.role == "user"] == texts
    assert [t.role for t in turns] == ["user", "bot"] * len(texts)

    # A killed worker is replaced; the other one answers meanwhile.
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert await say(fleet.url, "meanwhile", "hello") == 200
    await every_worker_ready(fleet, 2)
    assert first.pid not in {w.pid for w in fleet.workers()}
    assert second.pid in {w.pid for w in fleet.workers()}
    statuses = await asyncio.gather(*(say(fleet.url, f"after-{i}", "hello") for i in range(8)))
    assert statuses == [200] * 8

    # `frontdesk reload` signals the parent, which passes it to every worker.
    before = max(await loaded_at(fleet))
    reload = subprocess.run(
        [sys.executable, "-m", "bot", "reload"],
        cwd=REPO,
        env={**os.environ, "FRONTDESK_PID_FILE": str(fleet.pid_file)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert reload.returncode == 0, reload.stderr
    assert f"asked server {fleet.process.pid} to reload" in reload.stdout
    deadline = time.perf_counter() + 240
    while len({t for t in await loaded_at(fleet) if t > before}) < 2:
        assert time.perf_counter() < deadline, "not every worker reloaded"
        await asyncio.sleep(1)

    fleet.process.send_signal(signal.SIGTERM)
    output, _ = fleet.process.communicate(timeout=90)
    assert fleet.process.returncode == 0, output
    assert output.count("reloaded models, index and data files") == 2, output
    assert "exited with -9; restarting it" in output
    assert not fleet.pid_file.exists()


QUICK_ALERTS = """
[alerts]
overall = true
[alerts.negative_share]
threshold = 0.5
min_volume = 6
prior_weight = 0
[alerts.shift]
enabled = false
"""
# The tiny sentiment model memorised these as negative (tests/fixtures/tiny_sentiment.csv).
ANGRY = [
    "this is terrible",
    "I am so angry with you",
    "worst service ever",
    "my parcel arrived broken and nobody helps",
    "awful experience",
    "I hate this shop",
]


async def reply_text(url: str, sender: str, text: str) -> tuple[int, str]:
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        body = {"sender": sender, "message": text}
        async with session.post(f"{url}/webhooks/rest/webhook", json=body) as response:
            if response.status != 200:
                return response.status, await response.text()
            return 200, " ".join(m.get("text", "") for m in await response.json())


async def test_three_workers_keep_slots_share_limits_alert_once_and_reload_under_load(
    tmp_path: Path, tiny_models: TinyModels, postgres_url: str, redis_url: str
) -> None:
    settings = tmp_path / "frontdesk.toml"
    settings.write_text(QUICK_ALERTS)
    with running_fleet(
        tmp_path,
        tiny_models,
        postgres_url,
        redis_url,
        3,
        config=str(settings),
        rate_limit_per_sender="6",
    ) as fleet:
        await every_worker_ready(fleet, 3)

        # A surge spread over the workers (the first traffic): found at its sixth message, as
        # in one process.
        for i, text in enumerate(ANGRY):
            assert (await reply_text(fleet.url, f"angry-{i}", text))[0] == 200
        store = await Store.open(postgres_url)
        try:
            ops = OpsStore(store.engine, store.transactions)
            deadline = time.perf_counter() + 30
            while not [a for a in await ops.alerts() if a.scope == "*"]:
                assert time.perf_counter() < deadline, "no alert for the surge"
                await asyncio.sleep(0.25)
            alerts = await ops.alerts()
        finally:
            await store.close()
        overall = [a for a in alerts if a.scope == "*"]
        assert len(overall) == 1 and overall[0].volume == 6, overall
        assert len({(a.rule, a.scope) for a in alerts}) == len(alerts), "each raised once"

        # Slots: the order number given on one connection is known on the next ones.
        status, first = await reply_text(fleet.url, "slots", "where is my order NW-10003")
        assert status == 200 and "NW-10003" in first, first
        for _ in range(3):
            status, later = await reply_text(fleet.url, "slots", "has my order shipped yet")
            assert status == 200 and "NW-10003" in later, later

        # One sender's budget is one budget, whichever worker takes the message.
        statuses = [(await reply_text(fleet.url, "chatty", "hello"))[0] for _ in range(12)]
        assert 6 <= statuses.count(200) <= 7, statuses
        assert set(statuses) == {200, 429}

        # A reload while customers keep writing: no request fails.
        before = max(await loaded_at(fleet))
        results: list[int] = []
        stop = asyncio.Event()

        async def customer(n: int) -> None:
            i = 0
            while not stop.is_set():
                results.append(await say(fleet.url, f"load-{n}-{i}", "hello"))
                i += 1

        load = [asyncio.ensure_future(customer(n)) for n in range(4)]
        await asyncio.sleep(1)
        # Announced through Redis, which reaches replicas on other hosts too.
        reload = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot", "reload"],
            cwd=REPO,
            env={
                **os.environ,
                "FRONTDESK_DATABASE_URL": postgres_url,
                "FRONTDESK_REDIS_URL": redis_url,
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert reload.returncode == 0, reload.stderr
        assert "asked 3 server processes to reload" in reload.stdout
        deadline = time.perf_counter() + 240
        while len({t for t in await loaded_at(fleet) if t > before}) < 3:
            assert time.perf_counter() < deadline, "not every worker reloaded"
            await asyncio.sleep(1)
        await asyncio.sleep(1)
        stop.set()
        await asyncio.gather(*load)
        assert len(results) > 10 and set(results) == {200}, results

        fleet.process.send_signal(signal.SIGTERM)
        output, _ = fleet.process.communicate(timeout=90)
    assert output.count("reloaded models, index and data files") == 3, output
    assert output.count(": High negative share in all topics") == 1, output
