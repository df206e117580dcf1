"""User management for admins: the /console/admin page and its JSON API.

GET   /api/admin/users            list
POST  /api/admin/users            {"username", "password", "role"}
PATCH /api/admin/users/{id}       {"role"?, "active"?, "password"?}

The page also shows the answers waiting for approval (:mod:`.answers`) and the latest audit
events (:mod:`.audit`). Every change here is recorded in the audit log by the account store.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bot.server.http.errors import ApiError
from bot.server.http.validation import json_object, path_id, text_field
from bot.server.web import pages
from bot.server.web.auth import (
    ADMIN_ROLES,
    Principal,
    api,
    check_role,
    hash_password,
    page,
)
from bot.server.web.stores import account_store, actor
from bot.storage.accounts import AccountError

MIN_PASSWORD_CHARS = 8


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ApiError(400, f"field 'password' must be at least {MIN_PASSWORD_CHARS} characters")
    return password


# Filled by console.js from /api/answers/pending and /api/admin/audit. Their messages are live
# regions without role=status: the page keeps one status, the user list's.
PENDING_SECTION = (
    '<section aria-labelledby="pending-title"><h2 id="pending-title">Answers awaiting approval</h2>'
    '<p id="pending-status" aria-live="polite"></p>'
    '<ul id="pending-answers" class="pending"></ul></section>'
)
AUDIT_SECTION = (
    '<section aria-labelledby="audit-title"><h2 id="audit-title">Audit log</h2>'
    '<p id="audit-status" aria-live="polite"></p>'
    '<table class="audit" aria-labelledby="audit-title"><thead><tr>'
    '<th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th>'
    '<th scope="col">Target</th><th scope="col">From</th><th scope="col">Details</th>'
    '</tr></thead><tbody id="audit-rows"></tbody></table>'
    '<p><a href="/api/admin/audit?format=jsonl" download="audit.jsonl">'
    "Download the audit log (JSON lines)</a></p></section>"
)


@page(*ADMIN_ROLES)
async def admin_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    body = pages.ADMIN_BODY + PENDING_SECTION + AUDIT_SECTION
    return pages.layout("Users", body, principal=principal, page="admin")


@api(*ADMIN_ROLES)
async def list_users(request: web.Request, principal: Principal) -> web.Response:
    users = await account_store(request.app).users()
    return web.json_response({"users": [u.public() for u in users]})


@api(*ADMIN_ROLES)
async def add_user(request: web.Request, principal: Principal) -> web.Response:
    body = await json_object(request)
    username = (text_field(body, "username", max_chars=64) or "").strip()
    password = check_password(text_field(body, "password", max_chars=1024) or "")
    role = check_role(text_field(body, "role", max_chars=16) or "")
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        user = await account_store(request.app).create_user(
            username, password_hash, role, by=actor(request, principal.username)
        )
    except AccountError as exc:
        raise ApiError(409, str(exc)) from None
    return web.json_response({"user": user.public()}, status=201)


@api(*ADMIN_ROLES)
async def change_user(request: web.Request, principal: Principal) -> web.Response:
    store = account_store(request.app)
    user_id = path_id(request, "user_id")
    if await store.get_user(user_id) is None:
        raise ApiError(404, f"no user {user_id}")
    body = await json_object(request)
    changes: dict[str, Any] = {}
    role = text_field(body, "role", max_chars=16, required=False)
    if role is not None:
        changes["role"] = check_role(role)
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise ApiError(400, "field 'active' must be true or false")
        changes["active"] = body["active"]
    password = text_field(body, "password", max_chars=1024, required=False)
    if password is not None:
        changes["password_hash"] = await asyncio.to_thread(hash_password, check_password(password))
    if not changes:
        raise ApiError(400, "send at least one of 'role', 'active', 'password'")
    if user_id == principal.user.id and (
        changes.get("active") is False or changes.get("role", "admin") != "admin"
    ):
        raise ApiError(400, "you cannot disable or demote your own account")
    user = await store.update_user(user_id, **changes, by=actor(request, principal.username))
    assert user is not None
    return web.json_response({"user": user.public()})
