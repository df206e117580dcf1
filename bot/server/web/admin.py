"""User management for admins: the /console/admin page and its JSON API.

GET   /api/admin/users            list
POST  /api/admin/users            {"username", "password", "role"}
PATCH /api/admin/users/{id}       {"role"?, "active"?, "password"?}
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bot.server.http.errors import ApiError
from bot.server.http.validation import json_object, text_field
from bot.server.web import pages
from bot.server.web.auth import (
    ADMIN_ROLES,
    Principal,
    api,
    check_role,
    hash_password,
    page,
)
from bot.server.web.stores import account_store
from bot.storage.accounts import AccountError

MIN_PASSWORD_CHARS = 8


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ApiError(400, f"field 'password' must be at least {MIN_PASSWORD_CHARS} characters")
    return password


@page(*ADMIN_ROLES)
async def admin_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    return pages.layout("Users", pages.ADMIN_BODY, principal=principal, page="admin")


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
        user = await account_store(request.app).create_user(username, password_hash, role)
    except AccountError as exc:
        raise ApiError(409, str(exc)) from None
    return web.json_response({"user": user.public()}, status=201)


@api(*ADMIN_ROLES)
async def change_user(request: web.Request, principal: Principal) -> web.Response:
    store = account_store(request.app)
    try:
        user_id = int(request.match_info["user_id"])
    except ValueError:
        raise ApiError(404, f"no user {request.match_info['user_id']!r}") from None
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
    user = await store.update_user(user_id, **changes)
    assert user is not None
    return web.json_response({"user": user.public()})
