"""Sign-in throttling: a lock per account and per address with Retry-After, a cap on the
argon2 checks at once, and the password policy. A bare app: no models needed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.web.auth import password_problem
from tests.bot.server.web.conftest import PASSWORD, bearer, make_token, make_user
from tests.conftest import app_config


async def bare(aiohttp_client: Any, tmp_path: Path, **settings: Any) -> TestClient:
    # The form's CSRF cookie must come back: aiohttp's client sends no Secure cookie over http.
    settings.setdefault("cookie_secure", False)
    return await aiohttp_client(create_app(app_config(tmp_path, **settings)))


async def sign_in(client: TestClient, name: str, password: str) -> Any:
    return await client.post("/api/login", json={"username": name, "password": password})


async def test_login_locks_an_account_after_five_wrong_passwords_with_retry_after(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path)
    await make_user(client.app, "ann", "admin")
    for _ in range(5):
        assert (await sign_in(client, "ann", "wrong password!")).status == 401
    for password in ["wrong password!"] * 5 + [PASSWORD]:
        response = await sign_in(client, "ann", password)
        assert response.status == 429
        assert 55 <= int(response.headers["Retry-After"]) <= 60
        payload = await response.json()
        assert payload["error"].startswith("too many failed sign-ins for this account; try again")


async def test_the_right_password_works_once_the_lock_expires(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, login_lock_s=1.0)
    await make_user(client.app, "ann", "admin")
    for _ in range(5):
        assert (await sign_in(client, "ann", "wrong password!")).status == 401
    assert (await sign_in(client, "ann", PASSWORD)).status == 429
    await asyncio.sleep(1.1)
    assert (await sign_in(client, "ann", PASSWORD)).status == 200


async def test_an_attacker_gets_at_most_ten_guesses_a_minute_per_account_and_100_per_address(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path)
    await make_user(client.app, "ann", "admin")
    # Concurrent guesses get no more tries than sequential ones.
    answers = await asyncio.gather(*(sign_in(client, "ann", f"guess {i}") for i in range(40)))
    checked = [r.status for r in answers if r.status != 429]
    assert checked == [401] * 5
    # Spraying other accounts from the same address: 50 checked, then the address is locked.
    statuses = [(await sign_in(client, f"user{i}", "guess")).status for i in range(70)]
    assert statuses.count(401) == 45
    response = await sign_in(client, "someone-else", "guess")
    assert response.status == 429
    assert "for this address" in (await response.json())["error"]


async def test_form_login_shows_the_lock_with_retry_after(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, login_failures_per_account=1)
    await make_user(client.app, "ann", "agent")
    assert (await sign_in(client, "ann", "wrong password!")).status == 401
    form = await client.get("/console/login")
    csrf = form.cookies["frontdesk_login_csrf"].value
    response = await client.post(
        "/console/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": csrf},
        allow_redirects=False,
    )
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins for this account" in await response.text()


async def test_common_and_short_passwords_are_refused_everywhere_they_are_set(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    assert password_problem("12345678") == (
        "the password is 8 characters; use at least 12 (a few unrelated words make a long "
        "password that is easy to remember)"
    )
    for weak in ("password1234", "Qwerty123456!", "iloveyou2024", "p@ssw0rd2024!"):
        assert "one of the most common passwords" in (password_problem(weak) or ""), weak
    assert "a run along the keyboard" in (password_problem("123456789012") or "")
    assert "repeats" in (password_problem("abcabcabcabc") or "")
    assert "contains the username" in (password_problem("ann-is-the-best", "ann") or "")
    assert password_problem("violet staple orbit") is None

    client = await bare(aiohttp_client, tmp_path)
    admin = await make_user(client.app, "root-admin", "admin")
    headers = bearer(await make_token(client.app, admin))
    for weak, words in (("12345678", "at least 12"), ("password1234", "most common")):
        response = await client.post(
            "/api/admin/users",
            json={"username": "bea", "password": weak, "role": "admin"},
            headers=headers,
        )
        assert response.status == 400
        assert words in (await response.json())["error"]


async def test_addresses_of_one_ipv6_64_share_one_address_lock(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(
        aiohttp_client, tmp_path, trusted_proxies=("127.0.0.1",), login_failures_per_ip=3
    )

    async def from_address(address: str, name: str) -> int:
        response = await client.post(
            "/api/login",
            json={"username": name, "password": "wrong password!"},
            headers={"X-Forwarded-For": address},
        )
        return response.status

    # A new address of the same /64 (and a new username) each time: still one budget.
    statuses = [await from_address(f"2001:db8:1:2::{i}", f"user{i}") for i in range(1, 5)]
    assert statuses == [401, 401, 401, 429]
    # Another /64 is another subscriber.
    assert await from_address("2001:db8:1:3::1", "user9") == 401
