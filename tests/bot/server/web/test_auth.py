"""Staff authentication: login, cookies, CSRF, and 401/403 endpoint by endpoint.

The endpoint table below is the contract: every staff, ops and admin endpoint refuses a
request without credentials (401 JSON; pages redirect to the login page) and a request from
the wrong role (403). These tests need no models, so they run on a bare app.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.core.config import Config
from bot.server.app import create_app
from bot.storage.accounts import StaffUser
from tests.bot.server.web.conftest import PASSWORD, bearer, login, make_token, make_user
from tests.conftest import app_config

STAFF = ("agent", "ops", "admin")
AGENTS = ("agent", "admin")
OPS = ("ops", "admin")
ADMIN = ("admin",)

# (method, path, roles allowed): every JSON endpoint behind login.
API_ENDPOINTS: list[tuple[str, str, tuple[str, ...]]] = [
    ("GET", "/api/me", STAFF),
    ("GET", "/api/escalations", STAFF),
    ("POST", "/api/escalations/1/claim", AGENTS),
    ("GET", "/api/conversations/c-1", STAFF),
    ("POST", "/api/conversations/c-1/reply", AGENTS),
    ("POST", "/api/conversations/c-1/notes", AGENTS),
    ("POST", "/api/conversations/c-1/resolve", AGENTS),
    ("POST", "/api/conversations/c-1/handback", AGENTS),
    ("POST", "/api/turns/1/correction", AGENTS),
    ("POST", "/api/turns/1/save-answer", AGENTS),
    ("GET", "/api/feedback/corrections.csv", OPS),
    ("GET", "/api/feedback/answers.csv", OPS),
    ("GET", "/api/admin/users", ADMIN),
    ("POST", "/api/admin/users", ADMIN),
    ("PATCH", "/api/admin/users/1", ADMIN),
    ("GET", "/api/admin/audit", ADMIN),
    ("GET", "/api/answers/pending", ADMIN),
    ("POST", "/api/answers/1/approve", ADMIN),
    ("POST", "/api/answers/1/reject", ADMIN),
    ("GET", "/console/ws", STAFF),
    ("GET", "/api/sentiment/series", OPS),
    ("GET", "/api/sentiment/topics", OPS),
    ("GET", "/api/sentiment/examples", OPS),
    ("GET", "/api/alerts", OPS),
    ("POST", "/api/alerts/1/ack", OPS),
    ("POST", "/api/alerts/1/resolve", OPS),
    ("GET", "/api/review", STAFF),
    ("POST", "/api/review/labels", AGENTS),
    ("GET", "/api/review/counts", STAFF),
]
# (path, roles allowed): pages behind login.
PAGES: list[tuple[str, tuple[str, ...]]] = [
    ("/console/", STAFF),
    ("/console/conversations/c-1", STAFF),
    ("/console/admin", ADMIN),
    ("/ops/", OPS),
    ("/console/review", STAFF),
]
PUBLIC = {"/api/login", "/console/login", "/console/logout", "/console", "/ops", "/ops/static"}


@pytest.fixture
async def bare(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    """The real app without models: authentication does not need them. Its cookies are not
    Secure: aiohttp's client jar never sends Secure cookies back over plain HTTP."""
    return await aiohttp_client(create_app(app_config(tmp_path, cookie_secure=False)))


async def tokens_by_role(client: TestClient) -> dict[str, str]:
    tokens = {}
    for role in STAFF:
        user = await make_user(client.app, f"{role}-user", role)
        tokens[role] = await make_token(client.app, user)
    return tokens


def test_the_table_names_every_protected_route(tmp_path: Path) -> None:
    app = create_app(app_config(tmp_path))
    listed = {re.sub(r"\{[^}]+\}", "X", p) for _, p, _ in API_ENDPOINTS}
    listed |= {p for p, _ in PAGES}
    normalise = {"/api/escalations/1/claim": "/api/escalations/X/claim"}
    listed = {re.sub(r"/(c-1|1)(/|$)", r"/X\2", normalise.get(p, p)) for p in listed}
    routes = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(("/api/", "/console", "/ops")) and path not in PUBLIC:
            routes.add(re.sub(r"\{[^}]+\}", "X", path))
    assert routes == listed


@pytest.mark.parametrize(("method", "path", "roles"), API_ENDPOINTS)
async def test_api_endpoint_refuses_the_unauthenticated_and_the_wrong_role(
    bare: TestClient, method: str, path: str, roles: tuple[str, ...]
) -> None:
    response = await bare.request(method, path, json={})
    assert response.status == 401
    body = await response.json()
    assert body["status"] == 401 and "sign in" in body["error"]

    response = await bare.request(method, path, json={}, headers=bearer("not-a-token"))
    assert response.status == 401

    tokens = await tokens_by_role(bare)
    for role in STAFF:
        response = await bare.request(method, path, json={}, headers=bearer(tokens[role]))
        if role in roles:
            assert response.status not in {401, 403}, (role, await response.text())
        else:
            assert response.status == 403, role
            assert (await response.json())["status"] == 403


@pytest.mark.parametrize(("path", "roles"), PAGES)
async def test_page_redirects_to_login_without_a_session_and_refuses_the_wrong_role(
    bare: TestClient, path: str, roles: tuple[str, ...]
) -> None:
    response = await bare.get(path, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/console/login?next=")

    for role in STAFF:
        await make_user(bare.app, f"page-{role}", role)
        bare.session.cookie_jar.clear()
        await login(bare, f"page-{role}")
        response = await bare.get(path, allow_redirects=False)
        if role in roles:
            assert response.status in {200, 404}, role  # 404: no such conversation
        else:
            assert response.status == 403, role
            assert "Not allowed" in await response.text()


async def test_bearer_tokens_do_not_open_pages(bare: TestClient) -> None:
    token = (await tokens_by_role(bare))["admin"]
    response = await bare.get("/console/admin", headers=bearer(token), allow_redirects=False)
    assert response.status == 302


async def test_form_login_sets_a_strict_http_only_session_cookie(bare: TestClient) -> None:
    await make_user(bare.app, "ann", "agent")
    page = await bare.get("/console/login")
    html = await page.text()
    assert '<label for="username">Username</label>' in html
    assert '<label for="password">Password</label>' in html
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf is not None
    response = await bare.post(
        "/console/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": csrf[1], "next": "/console/"},
        allow_redirects=False,
    )
    assert response.status == 302
    assert response.headers["Location"] == "/console/"
    cookie = next(
        c for c in response.headers.getall("Set-Cookie") if c.startswith("frontdesk_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    queue = await bare.get("/console/", allow_redirects=False)
    assert queue.status == 200
    assert "csrf-token" in await queue.text()


async def test_session_cookies_are_secure_by_default_even_on_loopback(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    default = Config().cookie_secure
    assert default is True
    client = await aiohttp_client(create_app(app_config(tmp_path, cookie_secure=default)))
    await make_user(client.app, "ann", "agent")
    # Plain HTTP to 127.0.0.1: browsers keep Secure cookies there, so nothing is relaxed.
    response = await client.post("/api/login", json={"username": "ann", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    form = await client.get("/console/login")
    assert "Secure" in form.headers["Set-Cookie"], "the sign-in form's CSRF cookie too"


async def test_cookie_secure_false_is_for_plain_http_on_another_host(bare: TestClient) -> None:
    await make_user(bare.app, "ann", "agent")
    response = await bare.post(
        "/api/login",
        json={"username": "ann", "password": PASSWORD},
        headers={"Host": "devbox.internal:8080"},
    )
    cookie = response.headers["Set-Cookie"]
    assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_wrong_password_and_disabled_users_cannot_sign_in(bare: TestClient) -> None:
    user: StaffUser = await make_user(bare.app, "ann", "agent")
    response = await bare.post("/api/login", json={"username": "ann", "password": "nope nope"})
    assert response.status == 401
    response = await bare.post("/api/login", json={"username": "nobody", "password": PASSWORD})
    assert response.status == 401
    admin = await make_user(bare.app, "root", "admin")
    token = await make_token(bare.app, admin)
    response = await bare.patch(
        f"/api/admin/users/{user.id}", json={"active": False}, headers=bearer(token)
    )
    assert response.status == 200
    response = await bare.post("/api/login", json={"username": "ann", "password": PASSWORD})
    assert response.status == 401


async def test_json_login_refuses_a_text_plain_body_that_a_cross_site_form_could_send(
    bare: TestClient,
) -> None:
    await make_user(bare.app, "ann", "agent")
    body = json.dumps({"username": "ann", "password": PASSWORD})
    response = await bare.post(
        "/api/login", data=body, headers={"Content-Type": "text/plain"}, allow_redirects=False
    )
    assert response.status == 415
    assert (await response.json())["error"] == (
        "expected Content-Type application/json, got text/plain"
    )
    assert "frontdesk_session" not in response.cookies


async def test_form_login_without_its_csrf_token_is_refused(bare: TestClient) -> None:
    await make_user(bare.app, "ann", "agent")
    response = await bare.post(
        "/console/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": "forged"},
        allow_redirects=False,
    )
    assert response.status == 403
    assert "frontdesk_session" not in response.cookies


async def test_state_changing_requests_with_the_cookie_need_the_csrf_header(
    bare: TestClient,
) -> None:
    await make_user(bare.app, "root", "admin")
    csrf = await login(bare, "root")
    body = {"username": "bea", "password": PASSWORD, "role": "agent"}
    refused = await bare.post("/api/admin/users", json=body)
    assert refused.status == 403
    assert "CSRF" in (await refused.json())["error"]
    wrong = await bare.post("/api/admin/users", json=body, headers={"X-CSRF-Token": "x" + csrf})
    assert wrong.status == 403
    accepted = await bare.post("/api/admin/users", json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status == 201
    # Reads need no token.
    assert (await bare.get("/api/admin/users")).status == 200


async def test_logout_ends_the_session(bare: TestClient) -> None:
    await make_user(bare.app, "ann", "agent")
    csrf = await login(bare, "ann")
    refused = await bare.post("/console/logout", data={}, allow_redirects=False)
    assert refused.status == 403
    response = await bare.post("/console/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 302
    assert (await bare.get("/api/me")).status == 401


async def test_admin_manages_users_but_cannot_lock_themselves_out(bare: TestClient) -> None:
    admin = await make_user(bare.app, "root", "admin")
    token = bearer(await make_token(bare.app, admin))
    created = await bare.post(
        "/api/admin/users",
        json={"username": "bea", "password": PASSWORD, "role": "ops"},
        headers=token,
    )
    assert created.status == 201
    bea = (await created.json())["user"]
    again = await bare.post(
        "/api/admin/users",
        json={"username": "bea", "password": PASSWORD, "role": "ops"},
        headers=token,
    )
    assert again.status == 409
    short = await bare.post(
        "/api/admin/users",
        json={"username": "cid", "password": "short", "role": "ops"},
        headers=token,
    )
    assert short.status == 400
    changed = await bare.patch(
        f"/api/admin/users/{bea['id']}", json={"role": "agent"}, headers=token
    )
    assert (await changed.json())["user"]["role"] == "agent"
    self_demote = await bare.patch(
        f"/api/admin/users/{admin.id}", json={"role": "agent"}, headers=token
    )
    assert self_demote.status == 400
    listed = await (await bare.get("/api/admin/users", headers=token)).json()
    assert [u["username"] for u in listed["users"]] == ["bea", "root"]
    assert all("password" not in key for u in listed["users"] for key in u)
