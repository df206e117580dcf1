"""``frontdesk serve --workers N``: N server processes on one port, kept alive by a parent.

Each worker is a whole ``frontdesk serve`` (its own event loop, models and model thread),
listening on the same address with SO_REUSEPORT, so the kernel spreads connections over
them and no worker waits on another's Python. They share what must be shared through the
database and Redis: conversations and their locks, rate limits, live events.

The parent only supervises. It writes the pid file, so ``frontdesk reload`` (SIGHUP) reaches
it, and passes SIGHUP on to every worker; it restarts a worker that dies, with a growing
pause if one keeps dying at start; SIGTERM or SIGINT stop every worker gracefully.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from bot.core.config import Config, ConfigError

log = logging.getLogger("frontdesk.workers")

# A worker that dies sooner than this after its start is crashing at start (a bad model, a
# port taken): restarting it at once would spin, so each such death doubles the pause.
QUICK_DEATH_S = 30.0
MAX_RESTART_PAUSE_S = 60.0
STOP_TIMEOUT_S = 20.0


def check_can_share(config: Config, workers: int) -> None:
    """Several workers need a store and locks they can share; say what to set if not."""
    if workers < 1:
        raise ConfigError(f"--workers {workers} is invalid: expected a positive integer")
    if workers == 1:
        return
    if config.sqlite_path is not None and not config.redis_url:
        raise ConfigError(
            f"--workers {workers} needs state shared between processes, and this server has "
            f"SQLite ({config.database_url}) without Redis: each worker would keep its own "
            "conversation locks, rate limits and live events. Set redis_url (and for more "
            "than a little traffic database_url = 'postgresql+asyncpg://...'), or serve "
            "with one worker"
        )


def worker_pid_file(config: Config, number: int) -> Path:
    return config.pid_file.with_name(f"{config.pid_file.name}.worker{number}")


def _run_worker(config: Config, number: int) -> None:
    from bot.server.serve import serve

    serve(config.replace(pid_file=worker_pid_file(config, number)), reuse_port=True)


@dataclass
class Worker:
    number: int
    process: BaseProcess
    started: float = field(default_factory=time.monotonic)
    quick_deaths: int = 0


class Supervisor:
    def __init__(self, config: Config, workers: int) -> None:
        self.config = config
        self.count = workers
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, Worker] = {}
        self.stopping = False
        self.restarts = 0

    def start(self, number: int, quick_deaths: int = 0) -> None:
        process = self.context.Process(
            target=_run_worker,
            args=(self.config, number),
            name=f"frontdesk-worker-{number}",
            daemon=False,
        )
        process.start()
        self.workers[number] = Worker(number, process, quick_deaths=quick_deaths)
        log.info("worker %d started (pid %s)", number, process.pid)

    def signal_all(self, signum: int) -> None:
        for worker in self.workers.values():
            if worker.process.pid is not None and worker.process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signum)

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def on_reload(self, signum: int, frame: FrameType | None) -> None:
        log.info("reload asked: passing it to %d workers", len(self.workers))
        self.signal_all(signal.SIGHUP)

    def replace_dead(self) -> None:
        now = time.monotonic()
        for number, worker in list(self.workers.items()):
            # Ctrl-C reaches every worker of the process group as well as this one.
            if self.stopping or worker.process.is_alive():
                continue
            quick = now - worker.started < QUICK_DEATH_S
            deaths = worker.quick_deaths + 1 if quick else 0
            pause = min(MAX_RESTART_PAUSE_S, 0.5 * 2**deaths) if quick else 0.0
            log.warning(
                "worker %d (pid %s) exited with %s; restarting it%s",
                number,
                worker.process.pid,
                worker.process.exitcode,
                f" in {pause:.1f}s" if pause else "",
            )
            worker.process.close()
            del self.workers[number]
            if pause:
                self._sleep(pause)
                if self.stopping:
                    return
            self.restarts += 1
            self.start(number, quick_deaths=deaths)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in self.workers.values():
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.warning("worker %d did not stop in time; killing it", worker.number)
                worker.process.kill()
                worker.process.join()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.on_stop)
        signal.signal(signal.SIGINT, self.on_stop)
        signal.signal(signal.SIGHUP, self.on_reload)
        for number in range(self.count):
            self.start(number)
        try:
            while not self.stopping:
                self.replace_dead()
                self._sleep(0.5)
        finally:
            self.stop()


def serve_workers(config: Config, workers: int) -> None:
    """Run ``workers`` server processes on ``config``'s address until SIGTERM or SIGINT."""
    check_can_share(config, workers)
    config.pid_file.parent.mkdir(parents=True, exist_ok=True)
    config.pid_file.write_text(f"{os.getpid()}\n")
    log.info(
        "Frontdesk on http://%s:%s with %d workers (parent pid %d)",
        config.host,
        config.port,
        workers,
        os.getpid(),
    )
    try:
        Supervisor(config, workers).run()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if config.pid_file.read_text().strip() == str(os.getpid()):
                config.pid_file.unlink()
