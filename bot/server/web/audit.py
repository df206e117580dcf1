"""The staff audit log, for admins (being written: see issue #15)."""

from __future__ import annotations

from aiohttp import web


async def audit_log(request: web.Request) -> web.Response:
    raise web.HTTPNotFound
