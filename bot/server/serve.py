"""Running the server: the only place that configures logging and owns the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from bot.chat.pii import PiiFilter
from bot.core.config import Config
from bot.core.redact import RedactingFilter, config_secrets, redact
from bot.server.app import create_app
from bot.server.appkeys import CONFIG
from bot.server.fleet import reload_runtime
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
        # The RedactingFilter leaves the redacted traceback in exc_text; formatting exc_info
        # again would bring the secrets back.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """One handler on stderr for every logger; ``secrets`` are values never to be printed."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(LOG_FORMAT))
    # Filters on the handler see every record, from our loggers and libraries alike.
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter(secrets))
    handler.addFilter(PiiFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # At DEBUG, SQLAlchemy's engine would log every statement's parameters and every row
    # (CSRF tokens, session hashes, customers' messages), and aiosqlite every call with its
    # arguments. Neither is worth that at any level.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
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

    def on_signal() -> None:
        task = loop.create_task(reload_runtime(app))
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


def serve(config: Config, *, reuse_port: bool = False) -> None:
    """Serve until SIGTERM/SIGINT; with ``config.workers`` > 1, as a parent of that many.

    ``reuse_port`` is for those workers (bot.server.workers): each listens on the same port.
    """
    configure_logging(config.log_level, config.log_format, config_secrets(config))
    if config.workers > 1 and not reuse_port:
        from bot.server.workers import serve_workers

        serve_workers(config, config.workers)
        return
    store = redact(config.database_url)
    log.info("Frontdesk on http://%s:%s (store %s)", config.host, config.port, store)
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
        reuse_port=reuse_port or None,
    )
