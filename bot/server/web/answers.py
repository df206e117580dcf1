"""Saved answers waiting for an admin's approval (being written: see issue #15)."""

from __future__ import annotations

from aiohttp import web


async def pending_answers(request: web.Request) -> web.Response:
    raise web.HTTPNotFound


async def approve_answer(request: web.Request) -> web.Response:
    raise web.HTTPNotFound


async def reject_answer(request: web.Request) -> web.Response:
    raise web.HTTPNotFound
