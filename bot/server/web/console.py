"""The staff console's pages and its live channel.

    GET  /console                                  → /console/
    GET  /console/                                 the queue page
    GET  /console/conversations/{id}               a conversation's page
    GET  /console/ws                               live "something changed" events for consoles

The pages are shells: ``console.js`` fills them from the JSON APIs (sign-in and ``/api/me``
in :mod:`.login`, the hand-off workflow in :mod:`.conversations`, corrections, saved answers
and exports in :mod:`.feedback`) and re-reads whatever ``/console/ws`` says has changed.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from bot.server.appkeys import HUB
from bot.server.events import STAFF_TOPIC
from bot.server.http.errors import ApiError
from bot.server.web import pages
from bot.server.web.auth import STAFF_ROLES, Principal, page, require_role
from bot.server.web.conversations import conversation_or_404
from bot.server.web.stores import escalation_store


async def console_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


@page(*STAFF_ROLES)
async def queue_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    return pages.layout("Queue", pages.QUEUE_BODY, principal=principal, page="queue")


@page(*STAFF_ROLES)
async def conversation_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    conversation_id = request.match_info["conversation_id"]
    await conversation_or_404(escalation_store(request.app), conversation_id)
    return pages.layout(
        "Conversation",
        pages.conversation_body(conversation_id),
        principal=principal,
        page="conversation",
        data={"conversation": conversation_id, "role": principal.role},
    )


async def console_events(request: web.Request) -> web.StreamResponse:
    """Live notifications for consoles: ``{"type": "changed", "conversation_id"}``."""
    await require_role(request, *STAFF_ROLES)
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise ApiError(403, "cross-site WebSocket connections are refused")
    ws = web.WebSocketResponse(heartbeat=25)
    await ws.prepare(request)
    hub = request.app[HUB]
    with hub.subscribe(STAFF_TOPIC) as queue:

        async def pump() -> None:
            while True:
                event = await queue.get()
                await ws.send_json(
                    {"type": "changed", "conversation_id": event.get("conversation_id")}
                )

        task = asyncio.get_running_loop().create_task(pump())
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
    return ws
