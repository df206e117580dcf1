"""The staff audit log, for admins.

    GET /api/admin/audit[?action=A][&actor=NAME][&since=ISO][&limit=N]
        {"events": [...]}: the latest events first, ``limit`` (default 100, at most 1000)
    GET /api/admin/audit?format=jsonl          (or Accept: application/x-ndjson)
        every matching event as JSON lines, oldest first, for archiving or a SIEM

The same export from the command line: ``frontdesk audit export [--since ...] [--out FILE]``.
"""

from __future__ import annotations

import json

from aiohttp import web

from bot.server.http.errors import ApiError
from bot.server.http.validation import check_storable
from bot.server.web.auth import ADMIN_ROLES, Principal, api
from bot.server.web.stores import audit_log as audit_store
from bot.storage.audit import ACTIONS, AuditEvent, parse_since

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
JSONL = "application/x-ndjson"


def jsonl_line(event: AuditEvent) -> str:
    return json.dumps(event.public(), ensure_ascii=False) + "\n"


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(
            400,
            f"query 'limit' must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}; "
            "for the whole log use ?format=jsonl",
        )
    return limit


def _wants_jsonl(request: web.Request) -> bool:
    wanted = request.query.get("format")
    if wanted is not None and wanted not in ("json", "jsonl"):
        raise ApiError(400, f"query 'format' must be json or jsonl, got {wanted!r}")
    return wanted == "jsonl" or (wanted is None and JSONL in request.headers.get("Accept", ""))


@api(*ADMIN_ROLES)
async def audit_log(request: web.Request, principal: Principal) -> web.StreamResponse:
    action = request.query.get("action")
    if action is not None and action not in ACTIONS:
        raise ApiError(400, f"query 'action' must be one of {', '.join(ACTIONS)}, got {action!r}")
    actor = request.query.get("actor")
    if actor is not None:
        check_storable(actor, "query 'actor'")
    since = None
    if "since" in request.query:
        try:
            since = parse_since(request.query["since"])
        except ValueError as exc:
            raise ApiError(400, f"query 'since': {exc}") from None
    store = audit_store(request.app)
    if not _wants_jsonl(request):
        events = await store.events(action=action, actor=actor, since=since, limit=_limit(request))
        return web.json_response({"events": [e.public() for e in events]})
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{JSONL}; charset=utf-8",
            "Content-Disposition": 'attachment; filename="audit.jsonl"',
        }
    )
    await response.prepare(request)
    async for event in store.stream(action=action, actor=actor, since=since):
        await response.write(jsonl_line(event).encode())
    await response.write_eof()
    return response
