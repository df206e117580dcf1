"""The staff audit log through the real app: what gets recorded when staff sign in, change
accounts and teach the bot, and how admins read and export it (GET /api/admin/audit).

Most of these need no models, so they run on a bare app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from tests.bot.server.web.conftest import (
    PASSWORD,
    agent,
    bearer,
    handed_off,
    login,
    make_token,
    make_user,
)
from tests.conftest import app_config

NEW_PASSWORD = "another long passphrase"
# What the tests' own set-up (users and tokens made in the store) records.
SETUP = {"user_created", "token_create"}


@pytest.fixture
async def bare(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    # The test client speaks plain HTTP, and its cookie jar keeps Secure cookies to itself.
    return await aiohttp_client(create_app(app_config(tmp_path, cookie_secure=False)))


async def admin_headers(client: TestClient) -> dict[str, str]:
    root = await make_user(client.app, "root", "admin")
    return bearer(await make_token(client.app, root))


async def events(client: TestClient, headers: dict[str, str], query: str = "") -> list[Any]:
    response = await client.get(f"/api/admin/audit{query}", headers=headers)
    assert response.status == 200, await response.text()
    return list((await response.json())["events"])


async def test_sign_ins_failed_sign_ins_and_sign_outs_are_in_the_audit_log(
    bare: TestClient,
) -> None:
    root = await admin_headers(bare)
    await make_user(bare.app, "ann", "agent")
    refused = await bare.post("/api/login", json={"username": "ann", "password": "guess"})
    assert refused.status == 401
    csrf = await login(bare, "ann")
    out = await bare.post("/console/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 302, await out.text()

    signing = [e for e in await events(bare, root) if e["action"] not in SETUP]
    logout, signed_in, failed = signing
    assert (failed["action"], failed["actor"], failed["target"]) == ("login_failed", None, "ann")
    assert failed["client"] == "127.0.0.1", "the address the attempt came from"
    assert failed["details"] == {"via": "api"}
    assert (signed_in["action"], signed_in["actor"], signed_in["client"]) == (
        "login",
        "ann",
        "127.0.0.1",
    )
    assert (logout["action"], logout["actor"]) == ("logout", "ann")


async def test_a_failed_sign_in_on_the_form_is_in_the_audit_log(bare: TestClient) -> None:
    root = await admin_headers(bare)
    form = await bare.get("/console/login")
    assert form.status == 200
    csrf = bare.session.cookie_jar.filter_cookies(bare.make_url("/console/login"))[
        "frontdesk_login_csrf"
    ].value
    response = await bare.post(
        "/console/login",
        data={"username": "nobody", "password": "wrong password", "csrf_token": csrf},
    )
    assert response.status == 401
    [failed] = await events(bare, root, "?action=login_failed")
    assert (failed["target"], failed["details"]) == ("nobody", {"via": "form"})


async def test_only_admins_read_the_audit_log(bare: TestClient) -> None:
    assert (await bare.get("/api/admin/audit")).status == 401
    for role in ("agent", "ops"):
        user = await make_user(bare.app, f"{role}-user", role)
        token = bearer(await make_token(bare.app, user))
        response = await bare.get("/api/admin/audit", headers=token)
        assert response.status == 403
        assert (await response.json())["error"] == (
            f"this needs the role admin; you are signed in as {role}"
        )


async def test_an_admins_account_changes_are_audited_and_sign_the_user_out_everywhere(
    bare: TestClient,
) -> None:
    root = await admin_headers(bare)
    created = await bare.post(
        "/api/admin/users",
        json={"username": "bea", "password": PASSWORD, "role": "agent"},
        headers=root,
    )
    bea = (await created.json())["user"]
    for change, action in (
        ({"role": "ops"}, "role_change"),
        ({"password": NEW_PASSWORD}, "password_change"),
    ):
        await login(bare, "bea", PASSWORD)
        token = bearer(await make_token(bare.app, await _user(bare, "bea")))
        assert (await bare.get("/api/me")).status == 200
        assert (await bare.get("/api/me", headers=token)).status == 200

        changed = await bare.patch(f"/api/admin/users/{bea['id']}", json=change, headers=root)
        assert changed.status == 200, await changed.text()
        assert (await bare.get("/api/me")).status == 401, f"{action}: the session ended"
        assert (await bare.get("/api/me", headers=token)).status == 401, f"{action}: token revoked"
        [event] = await events(bare, root, f"?action={action}")
        assert (event["actor"], event["target"], event["client"]) == ("root", "bea", "127.0.0.1")
        assert event["details"]["sessions_ended"] == 1
        assert event["details"]["tokens_revoked"] == 1
        bare.session.cookie_jar.clear()

    await login(bare, "bea", NEW_PASSWORD)
    [made] = await events(bare, root, "?action=user_created&actor=root")
    assert (made["actor"], made["target"], made["details"]) == ("root", "bea", {"role": "agent"})


async def _user(client: TestClient, name: str) -> Any:
    from tests.bot.server.web.conftest import accounts

    return await accounts(client.app).user_by_name(name)


async def test_the_audit_log_filters_by_action_actor_and_time(bare: TestClient) -> None:
    root = await admin_headers(bare)
    await make_user(bare.app, "ann", "agent")
    for name in ("ann", "root", "ann"):
        await login(bare, name)
    await bare.post("/api/login", json={"username": "ann", "password": "guess"})

    assert [e["actor"] for e in await events(bare, root, "?actor=ann")] == ["ann", "ann"]
    assert len(await events(bare, root, "?action=login")) == 3
    assert len(await events(bare, root, "?limit=2")) == 2
    everything = await events(bare, root)
    assert len(everything) == 4 + 3, "3 from the set-up: two users, a token"
    assert len(await events(bare, root, "?since=2000-01-01")) == len(everything)
    assert await events(bare, root, "?since=2999-01-01T00:00:00Z") == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?limit=0", "query 'limit' must be a whole number from 1 to 1000, got '0'"),
        ("?limit=5000", "query 'limit' must be a whole number from 1 to 1000, got '5000'"),
        ("?action=hack", "query 'action' must be one of login, login_failed, logout"),
        ("?since=yesterday", "query 'since': expected an ISO 8601 date or time"),
        ("?format=xml", "query 'format' must be json or jsonl, got 'xml'"),
    ],
)
async def test_a_bad_audit_query_says_what_it_expected(
    bare: TestClient, query: str, message: str
) -> None:
    response = await bare.get(f"/api/admin/audit{query}", headers=await admin_headers(bare))
    assert response.status == 400
    assert (await response.json())["error"].startswith(message)


@pytest.mark.parametrize("how", ["query", "accept"])
async def test_the_audit_log_exports_as_json_lines_oldest_first(bare: TestClient, how: str) -> None:
    root = await admin_headers(bare)
    await make_user(bare.app, "ann", "agent")
    await login(bare, "ann")
    await login(bare, "root")
    if how == "query":
        response = await bare.get("/api/admin/audit?format=jsonl&actor=ann", headers=root)
    else:
        headers = {**root, "Accept": "application/x-ndjson"}
        response = await bare.get("/api/admin/audit?actor=ann", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    assert 'filename="audit.jsonl"' in response.headers["Content-Disposition"]
    lines = (await response.text()).splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["login"]
    everything = await bare.get("/api/admin/audit?format=jsonl&action=login", headers=root)
    actors = [json.loads(line)["actor"] for line in (await everything.text()).splitlines()]
    assert actors == ["ann", "root"], "oldest first"


async def test_an_intent_correction_is_audited_with_the_agents_address(
    client: TestClient,
) -> None:
    ws, conversation_id = await handed_off(client)
    headers = await agent(client)
    detail = await (
        await client.get(f"/api/conversations/{conversation_id}", headers=headers)
    ).json()
    user_turn = detail["turns"][0]
    fixed = await client.post(
        f"/api/turns/{user_turn['id']}/correction", json={"intent": "greet"}, headers=headers
    )
    assert fixed.status == 201
    [event] = await events(client, await admin_headers(client), "?action=intent_correction")
    assert (event["actor"], event["target"], event["client"]) == (
        "ann",
        conversation_id,
        "127.0.0.1",
    )
    assert event["details"] == {"turn": user_turn["id"], "from": "human_handoff", "to": "greet"}
    await ws.close()
