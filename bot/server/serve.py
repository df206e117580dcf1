"""Running the server: the only place that configures logging and owns the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator

from aiohttp import web

from bot.chat.pii import PiiFilter
from bot.core.config import Config
from bot.server.app import create_app
from bot.server.appkeys import CONFIG, RUNTIME
from bot.server.http.middleware import RequestIdFilter

log = logging.getLogger("frontdesk")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(LOG_FORMAT))
    # Filters on the handler see every record, from our loggers and libraries alike.
    handler.addFilter(RequestIdFilter())
    handler.addFilter(PiiFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Our access line (frontdesk.access, DEBUG) carries the request id; aiohttp's would repeat it.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # faiss logs at INFO that it could not load its AVX2 build before it loads the generic
    # one: an alarming line about a normal start.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


async def reload_on_sighup(app: web.Application) -> AsyncIterator[None]:
    """SIGHUP (or `frontdesk reload`) re-reads models, index and data files without a restart."""
    loop = asyncio.get_running_loop()
    config = app[CONFIG]
    pending: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            seconds = await app[RUNTIME].get().reload()
        except Exception:
            log.exception("reload failed; still serving the previous models")
        else:
            log.info("reloaded models, index and data files in %.1fs", seconds)

    def on_signal() -> None:
        task = loop.create_task(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_signal)
    config.pid_file.parent.mkdir(parents=True, exist_ok=True)
    config.pid_file.write_text(f"{os.getpid()}\n")
    yield
    loop.remove_signal_handler(signal.SIGHUP)
    with contextlib.suppress(FileNotFoundError):
        if config.pid_file.read_text().strip() == str(os.getpid()):
            config.pid_file.unlink()


def serve(config: Config) -> None:
    configure_logging(config.log_level, config.log_format)
    log.info("Frontdesk on http://%s:%s (store %s)", config.host, config.port, config.database_url)
    app = create_app(config)
    app.cleanup_ctx.append(reload_on_sighup)
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        print=None,
        # Requests in flight get this long to finish after SIGTERM/SIGINT.
        shutdown_timeout=10.0,
        access_log=None,
    )
