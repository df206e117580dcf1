"""The one place where exceptions become HTTP responses: ``{"error": "...", "status": N}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.server.appkeys import REQUEST_ID
from bot.server.runtime import NotReadyError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request we refuse, with the status and a message that says how to fix it."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> web.Response:
    return web.json_response(
        {"error": message, "status": status, **extra}, status=status, headers=headers
    )


_REASONS = {
    404: "no such endpoint: {path}",
    405: "method {method} is not allowed on {path}",
    413: "request body too large",
}


def from_exception(request: web.Request, exc: BaseException) -> web.StreamResponse:
    """Turn any exception raised by a handler into the JSON error shape."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, headers=exc.headers)
    if isinstance(exc, NotReadyError):
        return error_response(503, f"not ready: {exc}; retry shortly", headers={"Retry-After": "2"})
    if isinstance(exc, PoolTimeout):
        # Overload, not a bug: every database connection stayed busy (on SQLite there is one).
        return error_response(503, "the store is busy; retry shortly", headers={"Retry-After": "1"})
    if isinstance(exc, OverflowError):
        # A number or date from the request that Python or the database cannot hold (a row id
        # past 64 bits, a time past the year 9999): the input is wrong, so it is a 400. The
        # traceback still goes to the log, where a handler that should have checked shows.
        log.warning("out-of-range input on %s %s", request.method, request.path, exc_info=exc)
        return error_response(
            400,
            f"a number or date in the request is out of range ({exc}): ids are whole numbers "
            "below 2**63, times lie between the years 1 and 9999 in UTC",
        )
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        template = _REASONS.get(exc.status)
        message = (
            template.format(path=request.path, method=request.method)
            if template
            else (exc.text or exc.reason or "request failed")
        )
        if exc.status == 413:
            message = f"request body too large: {exc.text}"
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error_response(exc.status, message, headers=headers)
    log.exception("unhandled error on %s %s", request.method, request.path)
    request_id = request.get(REQUEST_ID, "-")
    return error_response(500, f"internal error; quote request id {request_id} when reporting it")
