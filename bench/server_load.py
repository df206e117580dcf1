"""Load on a real `frontdesk serve`: latency, throughput, errors, memory and cold start.

Starts the server with the models in --models (default: models/, what `make run` trains),
waits for /readyz (cold start), then drives the Rasa REST webhook at each concurrency level
with messages from --messages (one customer per concurrent worker, as in real traffic).
Prints one JSON line. Usage:

    python bench/server_load.py [--models models] [--requests 400] [--concurrency 1 16]
        [--workers N --redis redis://127.0.0.1:6379/14]

With ``--workers N`` it runs ``frontdesk serve --workers N`` (N processes on one port), which
needs Redis beside the SQLite file; the memory figure adds up every worker. ``--database URL``
serves on that (empty) database instead of a new SQLite file, as a fleet would run on
PostgreSQL.

The issue's comparison with Rasa serves an intent model trained on BANKING77 and sends
BANKING77's test questions:

    python bench/server_load.py --intent-model /tmp/b77 \
        --messages ../shared/data/banking77/test.csv

With ``--intent-model`` the bot also gets one response template per intent of that model
(a copy of data/ plus ``[intent] ...`` answers), as a bot built on those intents would have,
so that a confident intent is answered from its template as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_messages(path: Path) -> list[str]:
    """The ``text`` column of a CSV, or one message a line of any other file."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if "text" not in (reader.fieldnames or []):
                raise SystemExit(f"{path}: expected a 'text' column, got {reader.fieldnames}")
            return [row["text"] for row in reader if row["text"].strip()]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def data_dir_with_templates(intent_model: Path, workdir: Path) -> Path:
    """data/ plus a response for every intent of ``intent_model`` that has none there."""
    import shutil

    import yaml

    from retrieval.base.modeldir import LABELS_NAME

    data = workdir / "data"
    shutil.copytree(REPO / "data", data)
    labels = json.loads((intent_model / LABELS_NAME).read_text(encoding="utf-8"))
    responses = yaml.safe_load((data / "responses.yml").read_text(encoding="utf-8")) or {}
    for label in labels:
        responses.setdefault(label, [f"[{label}] Here is what you need to know."])
    (data / "responses.yml").write_text(yaml.safe_dump(responses), encoding="utf-8")
    return data


def default_messages() -> list[str]:
    texts: list[str] = []
    for name, column in (
        ("intent_paraphrases.csv", "text"),
        ("out_of_domain.csv", "text"),
        ("retrieval_queries.csv", "text"),
    ):
        path = REPO / "data" / "eval" / name
        with path.open(newline="", encoding="utf-8") as handle:
            texts.extend(row[column] for row in csv.DictReader(handle))
    return texts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}")
            try:
                async with session.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit(f"not ready within {timeout}s")


async def wait_every_worker(url: str, workers: int, timeout: float) -> None:
    """Ready on fresh connections, which the kernel spreads over the workers' sockets."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        ready = 0
        for _ in range(6 * workers):
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                try:
                    async with session.get(f"{url}/readyz") as response:
                        ready += response.status == 200
                except aiohttp.ClientConnectionError:
                    pass
        if ready == 6 * workers:
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"not every one of {workers} workers was ready within {timeout}s")


async def drive(
    url: str, messages: list[str], requests: int, concurrency: int, tag: str, start: int = 0
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(worker_id: int) -> None:
            nonlocal errors
            for sent, i in enumerate(counter):
                # A new customer every few messages: conversations are short in real traffic.
                sender = f"{tag}-w{worker_id}-c{sent // 4}"
                body = {"sender": sender, "message": messages[(start + i) % len(messages)]}
                started = time.perf_counter()
                try:
                    async with session.post(f"{url}/webhooks/rest/webhook", json=body) as response:
                        await response.read()
                        if response.status != 200:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return {
        "requests": requests,
        "throughput_per_s": round(requests / elapsed, 1),
        "p50_ms": round(percentile(ms, 50), 1),
        "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "errors": errors,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    messages = read_messages(args.messages) if args.messages else default_messages()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="frontdesk-bench-"))
    env = {
        **os.environ,
        "FRONTDESK_PORT": str(port),
        "FRONTDESK_MODELS_DIR": str(args.models.resolve()),
        "FRONTDESK_DATABASE_URL": args.database
        or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}",
        "FRONTDESK_PID_FILE": str(workdir / "frontdesk.pid"),
        "FRONTDESK_RATE_LIMIT_PER_SENDER": "0",
        "FRONTDESK_RATE_LIMIT_PER_IP": "0",
        "FRONTDESK_LOG_LEVEL": "WARNING",
        "FRONTDESK_WORKERS": str(args.workers),
    }
    if args.workers > 1:
        env["FRONTDESK_REDIS_URL"] = args.redis
    if args.intent_model:
        env["FRONTDESK_INTENT_MODEL"] = str(args.intent_model.resolve())
        env["FRONTDESK_DATA_DIR"] = str(data_dir_with_templates(args.intent_model, workdir))
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, stdout=subprocess.DEVNULL
    )
    try:
        await wait_ready(url, process, timeout=300)
        if args.workers > 1:
            await wait_every_worker(url, args.workers, timeout=300)
        cold_start = time.perf_counter() - started
        await drive(url, messages, 40, 4, "warmup")
        result: dict[str, Any] = {
            "bench": "server_load",
            "models": str(args.models),
            "intent_model": str(args.intent_model or args.models / "intent"),
            "messages": str(args.messages or "data/eval/*"),
            "cold_start_s": round(cold_start, 2),
            "workers": args.workers,
            "database": "sqlite" if args.database is None else args.database.split(":", 1)[0],
        }
        for level, concurrency in enumerate(args.concurrency):
            # Each level sends the messages after the previous level's (as far as the file
            # goes), so nothing it measures was warmed by the same texts.
            result[f"c{concurrency}"] = await drive(
                url, messages, args.requests, concurrency, f"c{concurrency}", level * args.requests
            )
        server = psutil.Process(process.pid)
        rss = server.memory_info().rss + sum(
            child.memory_info().rss for child in server.children(recursive=True)
        )
        result["rss_mb"] = round(rss / 2**20)
        return result
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workers", type=int, default=1, help="server processes on the port")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/14", help="shared state for --workers > 1"
    )
    parser.add_argument(
        "--database",
        default=None,
        help="an empty database to serve on (postgresql+asyncpg://...); default a new SQLite file",
    )
    parser.add_argument("--intent-model", type=Path, default=None, help="serve this intent model")
    parser.add_argument("--messages", type=Path, default=None, help="CSV with a text column")
    args = parser.parse_args()
    from retrieval.base.modeldir import CARD_NAME

    if not (args.models / "intent" / CARD_NAME).is_file():
        raise SystemExit(f"no trained models in {args.models}: run `make models` first")
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
