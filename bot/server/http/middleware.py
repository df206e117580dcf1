"""Middlewares: a request id on every request and log line, metrics, and the error shape."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from contextvars import ContextVar

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.server.appkeys import CONFIG, METRICS, REQUEST_ID
from bot.server.http.errors import error_response, from_exception
from bot.server.http.validation import check_storable

log = logging.getLogger("frontdesk.access")

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# A caller's id goes into every log line and back in a header: only short, plain ones are
# kept, so nobody can forge log lines, split headers or fill the logs through it.
_CALLER_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_for(request: web.Request) -> str:
    """The caller's ``X-Request-Id`` when it is short and plain, else a new one."""
    sent = request.headers.get("X-Request-Id", "")
    if _CALLER_REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex[:16]


def check_url(request: web.Request) -> None:
    """Path parameters and the query hold no NUL: no database column stores it, so it would
    fail deep in a query (a 500) instead of here (a 400)."""
    for name, value in request.match_info.items():
        check_storable(value, f"path parameter {name!r}")
    for name, value in request.query.items():
        check_storable(name, "a query parameter's name")
        check_storable(value, f"query parameter {name!r}")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record so structured logs can be joined."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_for(request)
    request[REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    # Live connections have no deadline; everything else answers within request_timeout_s.
    live = request.headers.get("Upgrade", "").lower() == "websocket"
    timeout = None if live else request.app[CONFIG].request_timeout_s or None
    try:
        try:
            check_url(request)
            response = await asyncio.wait_for(handler(request), timeout)
        except TimeoutError:
            # The customer's message, if any, is already stored; a retry with the same
            # message id is answered from the store or processed then.
            response = error_response(
                503,
                f"the request took longer than {timeout:g}s; retry it",
                headers={"Retry-After": "1"},
            )
        except Exception as exc:
            response = from_exception(request, exc)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        metrics = request.app[METRICS]
        metrics.request_seconds.labels(request.method, name, str(status)).observe(elapsed)
        if status >= 400:
            metrics.errors.labels(name, str(status)).inc()
        log.debug("%s %s -> %s in %.1f ms", request.method, request.path, status, elapsed * 1000)
        request_id_var.reset(token)
