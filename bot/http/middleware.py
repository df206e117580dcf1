"""Middlewares: a request id on every request and log line, metrics, and the error shape."""

from __future__ import annotations

import logging
import time
import uuid
from contextvars import ContextVar

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.appkeys import METRICS, REQUEST_ID
from bot.http.errors import from_exception

log = logging.getLogger("frontdesk.access")

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record so structured logs can be joined."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
    request[REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        try:
            response = await handler(request)
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
