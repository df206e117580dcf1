"""The published API schema at ``/openapi.json`` (being written: see issue #15)."""

from __future__ import annotations

from aiohttp import web


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(
        {"openapi": "3.1.0", "info": {"title": "Frontdesk", "version": "0"}, "paths": {}}
    )
