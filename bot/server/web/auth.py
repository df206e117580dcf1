"""Staff authentication: argon2 password hashes, database sessions, bearer tokens, CSRF, roles.

- A session is a random token in an HttpOnly, SameSite=Strict, Secure cookie (Secure unless
  ``cookie_secure = false``); the database keeps only its SHA-256.
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
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.server.appkeys import CONFIG, REDIS
from bot.server.fleet import fleet_id
from bot.server.http.errors import ApiError
from bot.server.ratelimit import (
    FailureLock,
    address_key,
    client_address,
    retry_after_header,
)
from bot.server.web.stores import account_store
from bot.storage.accounts import ROLES, StaffUser

if TYPE_CHECKING:
    from redis.asyncio import Redis

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

# The password policy (NIST SP 800-63B): a length minimum and no well-known password; no
# rules about character classes, which make passwords harder to remember, not to guess.
MIN_PASSWORD_CHARS = 12
COMMON_PASSWORDS_FILE = "common_passwords.txt"
# Sequences people walk along the keyboard or count up; any 12 characters of these is weak.
_RUNS = (
    "0123456789" * 4,
    "9876543210" * 4,
    "qwertyuiopasdfghjklzxcvbnm",
    "abcdefghijklmnopqrstuvwxyz",
)


class WeakPasswordError(ApiError):
    """A password the policy refuses; the message says why and how to pick a better one."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list (package data beside this module), lower-case."""
    text = resources.files(__package__ or "bot.server.web").joinpath(COMMON_PASSWORDS_FILE)
    lines = text.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip() for x in lines if x.strip() and not x.startswith("#"))


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_CHARS:
        return (
            f"the password is {len(password)} characters; use at least {MIN_PASSWORD_CHARS} "
            "(a few unrelated words make a long password that is easy to remember)"
        )
    lowered = password.lower()
    squeezed = "".join(lowered.split())
    core = squeezed.strip("0123456789!@#$%^&*()_+-=.,;:?'\"/\\|[]{}<>~`")
    common = common_passwords()
    if lowered in common or squeezed in common or (core and core in common):
        return (
            "the password is one of the most common passwords (or one with digits and symbols "
            "added at an end); choose one nobody else would"
        )
    if username and username.lower() in squeezed:
        return "the password contains the username; choose one that does not"
    for size in range(1, len(squeezed) // 2 + 1):
        if len(squeezed) % size == 0 and squeezed[:size] * (len(squeezed) // size) == squeezed:
            return "the password repeats one short part; choose one that does not"
    if any(squeezed in run for run in _RUNS):
        return "the password is a run along the keyboard or the alphabet; choose another"
    return None


def check_password(password: str, username: str = "") -> str:
    """``password`` if the policy accepts it; WeakPasswordError (a 400) otherwise."""
    problem = password_problem(password, username)
    if problem is not None:
        raise WeakPasswordError(problem)
    return password


def hash_password(password: str, username: str = "") -> str:
    """The argon2 hash of a password the policy accepts: every way of setting one checks it."""
    return _hasher.hash(check_password(password, username))


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
            user = await store.token_user(digest(token.strip()), max_age=token_max_age(request.app))
            if user is not None:
                principal = Principal(user, "token")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            session_hash = digest(cookie)
            found = await store.session(
                session_hash,
                idle=session_idle(request.app),
                lifetime=timedelta(hours=session_hours(request.app)),
            )
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


def cookie_secure(request: web.Request) -> bool:
    """Whether staff cookies carry Secure: yes unless ``cookie_secure = false``.

    Browsers keep Secure cookies on http://127.0.0.1 and http://localhost (trustworthy
    origins), so only plain-HTTP development on another host needs the setting.
    """
    return request.app[CONFIG].cookie_secure


def session_hours(app: web.Application) -> float:
    try:
        return float(app[CONFIG].extra.get("session_hours", DEFAULT_SESSION_HOURS))
    except (TypeError, ValueError):
        return DEFAULT_SESSION_HOURS


def session_idle(app: web.Application) -> timedelta | None:
    minutes = app[CONFIG].session_idle_minutes
    return timedelta(minutes=minutes) if minutes > 0 else None


def token_max_age(app: web.Application) -> timedelta | None:
    days = app[CONFIG].api_token_days
    return timedelta(days=days) if days > 0 else None


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
    store = account_store(request.app)
    # Ended sessions and dead tokens go at each sign-in: a cheap delete on small tables.
    await store.purge_expired(token_max_age(request.app))
    await store.create_session(
        user.id, digest(token), csrf, timedelta(hours=hours), session_idle(request.app)
    )
    set_cookie(request, response, SESSION_COOKIE, token, max_age=int(hours * 3600))
    return csrf


async def end_session(
    request: web.Request, response: web.StreamResponse, principal: Principal | None
) -> None:
    if principal is not None and principal.session_hash:
        await account_store(request.app).delete_session(principal.session_hash)
    response.del_cookie(SESSION_COOKIE, path="/")


# Sign-in throttling ----------------------------------------------------------------------

# How long a sign-in waits for a free password check before it is told to come back.
HASH_WAIT_S = 10.0


class LoginGuard:
    """One app's sign-in limits: a lock per account and per address, and a cap on the
    password checks (argon2, 64 MiB each) running at once.

    With Redis the locks are the fleet's, whichever process takes the attempt (``fleet``,
    one per database, keeps deployments that share a Redis apart); the cap on checks stays
    per process, as it guards this process's memory."""

    def __init__(
        self,
        failures_per_account: int,
        failures_per_ip: int,
        lock_s: float,
        hashing: int,
        *,
        fleet: str = "local",
    ):
        self.accounts = FailureLock(failures_per_account, lock_s, name=f"signin-account:{fleet}")
        self.addresses = FailureLock(failures_per_ip, lock_s, name=f"signin-address:{fleet}")
        self.hashing = asyncio.Semaphore(hashing)

    def use_redis(self, client: Redis | None) -> None:
        for lock in (self.accounts, self.addresses):
            lock.use_redis(client)


_guards: weakref.WeakKeyDictionary[web.Application, LoginGuard] = weakref.WeakKeyDictionary()


def login_guard(app: web.Application) -> LoginGuard:
    guard = _guards.get(app)
    if guard is None:
        config = app[CONFIG]
        guard = _guards[app] = LoginGuard(
            config.login_failures_per_account,
            config.login_failures_per_ip,
            config.login_lock_s,
            config.login_hash_concurrency,
            fleet=fleet_id(config.database_url),
        )
    # The client appears when the app starts; a guard made before then follows it.
    client = app.get(REDIS)
    if client is not guard.accounts.redis:
        guard.use_redis(client)
    return guard


def _locked(wait: float, what: str) -> ApiError:
    return ApiError(
        429,
        f"too many failed sign-ins for {what}; try again in {retry_after_header(wait)} seconds",
        headers={"Retry-After": retry_after_header(wait)},
    )


async def attempt_login(request: web.Request, username: str, password: str) -> StaffUser | None:
    """``check_login`` behind the locks: ApiError 429 (with Retry-After) while the account
    or the address is locked, 503 while every password check slot stays busy."""
    guard = login_guard(request.app)
    by_address = await guard.addresses.start(f"ip:{address_key(client_address(request))}")
    if by_address.wait:
        raise _locked(by_address.wait, "this address")
    by_account = await guard.accounts.start(f"user:{username.casefold()}")
    if by_account.wait:
        await guard.addresses.hand_back(by_address)
        raise _locked(by_account.wait, "this account")
    try:
        user = await check_login(request.app, username, password)
    except BaseException:
        # No answer reached the caller (busy, cancelled): the try is handed back uncounted.
        await guard.accounts.hand_back(by_account)
        await guard.addresses.hand_back(by_address)
        raise
    ok = user is not None
    await guard.accounts.finish(by_account, ok)
    await guard.addresses.finish(by_address, ok, forgive=False)
    return user


async def check_login(app: web.Application, username: str, password: str) -> StaffUser | None:
    """The active user with this name and password, or None. The argon2 work runs off the loop,
    at most ``login_hash_concurrency`` at a time."""
    user = await account_store(app).user_by_name(username)
    known = user is not None and user.active
    stored = user.password_hash if user is not None and known else _DUMMY_HASH
    hashing = login_guard(app).hashing
    try:
        async with asyncio.timeout(HASH_WAIT_S):
            await hashing.acquire()
    except TimeoutError:
        raise ApiError(
            503,
            "too many sign-ins are being checked at once; retry shortly",
            headers={"Retry-After": "2"},
        ) from None
    try:
        ok = await asyncio.to_thread(verify_password, stored, password)
    finally:
        hashing.release()
    if ok and known:
        assert user is not None
        return user
    return None


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
