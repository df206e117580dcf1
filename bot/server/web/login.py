"""Signing staff in and out: the login form, its JSON twin for scripts, and who am I.

GET  /console/login       the sign-in form (already signed in: on to ``next``)
POST /console/login       username, password, csrf_token, next → session cookie
POST /api/login           {"username", "password"} → {"user", "csrf_token"} + cookie
POST /console/logout      ends the session (form post with the session's csrf_token)
GET  /api/me              who am I (any staff role; session or bearer token)

Sign-ins, failed sign-ins (with the name tried) and sign-outs go into the audit log.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from aiohttp import web

from bot.server.http.errors import ApiError
from bot.server.http.validation import check_storable, json_object, text_field
from bot.server.web import pages
from bot.server.web.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    STAFF_ROLES,
    Principal,
    api,
    attempt_login,
    authenticate,
    check_form_csrf,
    end_session,
    new_secret,
    set_cookie,
    start_session,
)
from bot.server.web.stores import actor, audit_log
from bot.storage.accounts import StaffUser


async def _signed_in(request: web.Request, user: StaffUser, via: str) -> None:
    await audit_log(request.app).record(
        "login", by=actor(request, user.username), details={"via": via}
    )


async def _refused(request: web.Request, username: str, via: str) -> None:
    # Nobody is signed in yet, so there is no actor: the name tried is the target.
    await audit_log(request.app).record(
        "login_failed", by=actor(request, None), target=username, details={"via": via}
    )


def _safe_next(value: object) -> str:
    text = value if isinstance(value, str) else ""
    parts = urlsplit(text)
    if not text.startswith("/") or text.startswith("//") or parts.scheme or parts.netloc:
        return "/console/"
    return text


async def login_form(request: web.Request) -> web.StreamResponse:
    principal = await authenticate(request)
    next_url = _safe_next(request.query.get("next"))
    if principal is not None and principal.via == "session":
        raise web.HTTPFound(next_url)
    csrf = new_secret()
    response = pages.layout("Sign in", pages.login_page(csrf=csrf, next_url=next_url), page="login")
    set_cookie(request, response, LOGIN_CSRF_COOKIE, csrf, path="/console/login")
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    next_url = _safe_next(form.get("next"))
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    sent = form.get(CSRF_FIELD)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)

    def again(message: str, status: int, headers: dict[str, str] | None = None) -> web.Response:
        csrf = new_secret()
        response = pages.layout(
            "Sign in",
            pages.login_page(csrf=csrf, next_url=next_url, error=message, username=username),
            page="login",
            status=status,
        )
        response.headers.update(headers or {})
        set_cookie(request, response, LOGIN_CSRF_COOKIE, csrf, path="/console/login")
        return response

    if not expected or not isinstance(sent, str) or sent != expected:
        return again("The sign-in form expired; please try again.", 403)
    try:
        if len(username) > 64 or len(password) > 1024:
            raise ApiError(413, "The username or password is too long.")
        check_storable(username, "form field 'username'")
        check_storable(password, "form field 'password'")
        user = await attempt_login(request, username, password)
    except ApiError as exc:
        retry = {k: v for k, v in exc.headers.items() if k == "Retry-After"}
        username = ""
        return again(exc.message[:1].upper() + exc.message[1:] + ".", exc.status, retry)
    if user is None:
        await _refused(request, username, "form")
        return again("Wrong username or password.", 401)
    response = web.HTTPFound(next_url)
    await start_session(request, response, user)
    await _signed_in(request, user, "form")
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    raise response


async def api_login(request: web.Request) -> web.Response:
    """JSON sign-in for scripts and tests: sets the session cookie, returns the CSRF token."""
    body = await json_object(request, json_only=True)
    username = text_field(body, "username", max_chars=64) or ""
    password = text_field(body, "password", max_chars=1024) or ""
    user = await attempt_login(request, username.strip(), password)
    if user is None:
        await _refused(request, username.strip(), "api")
        raise ApiError(401, "wrong username or password")
    response = web.json_response({})
    csrf = await start_session(request, response, user)
    await _signed_in(request, user, "api")
    response.text = json.dumps({"user": user.public(), "csrf_token": csrf})
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    principal = await authenticate(request)
    if principal is not None and principal.via == "session":
        await check_form_csrf(request, principal, await request.post())
    response = web.HTTPFound("/console/login")
    await end_session(request, response, principal)
    if principal is not None and principal.via == "session":
        await audit_log(request.app).record("logout", by=actor(request, principal.username))
    raise response


@api(*STAFF_ROLES)
async def me(request: web.Request, principal: Principal) -> web.Response:
    return web.json_response({"user": principal.user.public(), "via": principal.via})
