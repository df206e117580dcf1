"""Running the server: the only place that configures logging and owns the event loop."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from bot.app import create_app
from bot.config import Config
from bot.http.middleware import RequestIdFilter
from bot.pii import PiiFilter

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    # Filters on the handler see every record, from our loggers and libraries alike.
    handler.addFilter(RequestIdFilter())
    handler.addFilter(PiiFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Our access line (frontdesk.access, DEBUG) carries the request id; aiohttp's would repeat it.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def serve(config: Config) -> None:
    configure_logging(config.log_level)
    logging.getLogger(__name__).info(
        "Frontdesk on http://%s:%s (store %s)", config.host, config.port, config.database_url
    )
    web.run_app(
        create_app(config),
        host=config.host,
        port=config.port,
        print=None,
        # Requests in flight get this long to finish after SIGTERM/SIGINT.
        shutdown_timeout=10.0,
        access_log=None,
    )
