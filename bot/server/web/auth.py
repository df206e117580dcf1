"""Staff authentication: argon2 password hashes, database sessions, bearer tokens, CSRF, roles.

- A session is a random token in an HttpOnly, SameSite=Strict cookie (Secure whenever the
  request is not plain HTTP to a loopback address); the database keeps only its SHA-256.
- Each session has a CSRF token: pages carry it in ``<meta name="csrf-token">`` and in hidden
  form fields; state-changing JSON requests made with the cookie must send it back in the
  ``X-CSRF-Token`` header. Requests with ``Authorization: Bearer`` carry no ambient authority
  and need no CSRF token.
- JSON APIs answer 401 without credentials and 403 for the wrong role (the one error shape);
  pages redirect to ``/console/login`` instead, and show a 403 page for the wrong role.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import html
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.server.appkeys import CONFIG
from bot.server.http.errors import ApiError
from bot.server.web.stores import account_store
from bot.storage.accounts import ROLES, StaffUser

SESSION_COOKIE = "frontdesk_session"
LOGIN_CSRF_COOKIE = "frontdesk_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LOGIN_PATH = "/console/login"
DEFAULT_SESSION_HOURS = 12.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

STAFF_ROLES = ("agent", "ops", "admin")
AGENT_ROLES = ("agent", "admin")
ADMIN_ROLES = ("admin",)

_hasher = PasswordHasher()
# Verifying against this when a username is unknown keeps login time the same either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def digest(secret: str) -> str:
    """How session ids and tokens are stored: they are long and random, so SHA-256 suffices."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Principal:
    user: StaffUser
    via: str  # session | token
    csrf_token: str | None = None
    session_hash: str | None = None

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def role(self) -> str:
        return self.user.role


PRINCIPAL = web.RequestKey("staff_principal", Principal)


async def authenticate(request: web.Request) -> Principal | None:
    """The staff member behind the request's bearer token or session cookie, if any."""
    if PRINCIPAL in request:
        return request[PRINCIPAL]
    store = account_store(request.app)
    principal: Principal | None = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            user = await store.token_user(digest(token.strip()))
            if user is not None:
                principal = Principal(user, "token")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            session_hash = digest(cookie)
            found = await store.session(session_hash)
            if found is not None:
                user, csrf = found
                principal = Principal(user, "session", csrf, session_hash)
    if principal is not None:
        request[PRINCIPAL] = principal
    return principal


def _check_csrf(request: web.Request, principal: Principal, sent: str | None) -> None:
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    expected = principal.csrf_token or ""
    if not sent or not hmac.compare_digest(sent, expected):
        raise ApiError(
            403,
            f"CSRF token missing or wrong: send the page's csrf-token in the {CSRF_HEADER} "
            "header (or use Authorization: Bearer)",
        )


async def require_role(request: web.Request, *roles: str) -> Principal:
    """The caller, who must have one of ``roles``; ApiError 401/403 otherwise.

    Also enforces CSRF for state-changing requests authenticated by the session cookie.
    """
    principal = await authenticate(request)
    if principal is None:
        raise ApiError(
            401,
            "sign in at /console/login or send Authorization: Bearer <token> "
            "(from 'frontdesk token create NAME')",
            headers={"WWW-Authenticate": 'Bearer realm="frontdesk"'},
        )
    if roles and principal.role not in roles:
        raise ApiError(
            403, f"this needs the role {' or '.join(roles)}; you are signed in as {principal.role}"
        )
    _check_csrf(request, principal, request.headers.get(CSRF_HEADER))
    return principal


async def check_form_csrf(request: web.Request, principal: Principal, form: Any) -> None:
    """CSRF for an HTML form post: the hidden field must carry the session's token."""
    sent = form.get(CSRF_FIELD) if form is not None else None
    _check_csrf(request, principal, sent if isinstance(sent, str) else None)


ApiHandler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


def api(
    *roles: str,
) -> Callable[[ApiHandler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Decorate a JSON API handler: it runs only for a caller with one of ``roles``."""

    def decorate(handler: ApiHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            principal = await require_role(request, *roles)
            return await handler(request, principal)

        wrapped.roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorate


def login_redirect(request: web.Request) -> web.HTTPFound:
    target = request.path_qs
    return web.HTTPFound(f"{LOGIN_PATH}?next={quote(target, safe='')}")


def forbidden_page(principal: Principal, roles: tuple[str, ...]) -> web.Response:
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Not allowed · Frontdesk</title>"
        "<link rel='stylesheet' href='/static/console.css'></head><body><main class='narrow'>"
        "<h1>Not allowed</h1>"
        f"<p>This page needs the role {html.escape(' or '.join(roles))}; you are signed in as "
        f"{html.escape(principal.username)} ({html.escape(principal.role)}).</p>"
        "<p><a href='/console/'>Back to the queue</a></p></main></body></html>"
    )
    return web.Response(status=403, text=body, content_type="text/html", headers=SECURITY_HEADERS)


def page(
    *roles: str,
) -> Callable[[ApiHandler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Decorate a console page: no session → redirect to login; wrong role → 403 page."""

    def decorate(handler: ApiHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            principal = await authenticate(request)
            if principal is None or principal.via != "session":
                raise login_redirect(request)
            if roles and principal.role not in roles:
                return forbidden_page(principal, roles)
            return await handler(request, principal)

        wrapped.roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorate


# Cookies -------------------------------------------------------------------------------

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def cookie_secure(request: web.Request) -> bool:
    """Secure cookies everywhere except plain HTTP to a loopback address (development and
    tests); ``cookie_secure = true|false`` in the config overrides the rule."""
    setting = request.app[CONFIG].extra.get("cookie_secure")
    if isinstance(setting, bool):
        return setting
    if isinstance(setting, str) and setting.strip().lower() in {"true", "false", "1", "0"}:
        return setting.strip().lower() in {"true", "1"}
    if request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https":
        return True
    host = request.url.host or ""
    return host not in _LOOPBACK


def session_hours(app: web.Application) -> float:
    try:
        return float(app[CONFIG].extra.get("session_hours", DEFAULT_SESSION_HOURS))
    except (TypeError, ValueError):
        return DEFAULT_SESSION_HOURS


def set_cookie(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        secure=cookie_secure(request),
        samesite="Strict",
    )


async def start_session(request: web.Request, response: web.StreamResponse, user: StaffUser) -> str:
    """Create a session for ``user``, set its cookie on ``response``; returns the CSRF token."""
    token = new_secret()
    csrf = new_secret()
    hours = session_hours(request.app)
    await account_store(request.app).create_session(
        user.id, digest(token), csrf, timedelta(hours=hours)
    )
    set_cookie(request, response, SESSION_COOKIE, token, max_age=int(hours * 3600))
    return csrf


async def end_session(
    request: web.Request, response: web.StreamResponse, principal: Principal | None
) -> None:
    if principal is not None and principal.session_hash:
        await account_store(request.app).delete_session(principal.session_hash)
    response.del_cookie(SESSION_COOKIE, path="/")


async def check_login(app: web.Application, username: str, password: str) -> StaffUser | None:
    """The active user with this name and password, or None. The argon2 work runs off the loop."""
    user = await account_store(app).user_by_name(username)
    known = user is not None and user.active
    stored = user.password_hash if user is not None and known else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, stored, password)
    return user if ok and known else None


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ApiError(400, f"field 'role' must be one of {', '.join(ROLES)}, got {role!r}")
    return role


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
