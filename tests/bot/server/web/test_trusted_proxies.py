"""Behind a reverse proxy: the client's address comes from X-Forwarded-For, but only when the
peer is one of ``trusted_proxies``, and only the hops those proxies wrote. Every limit keyed
by address uses it: the rate limits, the sign-in lock and the widget socket cap.

The test client's peer is 127.0.0.1, so listing that address makes it the proxy. Which
address the app saw shows in whose bucket a request lands: with a limit of one request a
minute, a second request from the same client is refused and one from another is not."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from tests.bot.server.web.conftest import PASSWORD, make_user, open_widget, widget_token
from tests.conftest import app_config

PROXIES = "127.0.0.1, 10.0.0.0/8"


async def bare(aiohttp_client: Any, tmp_path: Path, **settings: Any) -> TestClient:
    return await aiohttp_client(create_app(app_config(tmp_path, **settings)))


async def new_session(client: TestClient, *forwarded_for: str) -> int:
    headers = [("X-Forwarded-For", value) for value in forwarded_for]
    response = await client.post("/widget/session", headers=headers)
    return response.status


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, rate_limit_per_ip=1)
    assert await new_session(client, "203.0.113.7") == 201
    # Another "client" by its header only: the same peer, so the same bucket.
    assert await new_session(client, "198.51.100.9") == 429


async def test_behind_a_trusted_proxy_each_client_has_its_own_rate_limit(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, rate_limit_per_ip=1, trusted_proxies=PROXIES)
    assert await new_session(client, "203.0.113.7") == 201
    assert await new_session(client, "198.51.100.9") == 201
    assert await new_session(client, "203.0.113.7") == 429
    # A request straight from the proxy (no header) is the proxy's own.
    assert await new_session(client) == 201


@pytest.mark.parametrize(
    ("forwarded_for", "client_is"),
    [
        # What the client wrote itself is left of what the proxies appended: ignored.
        (["6.6.6.6, 203.0.113.7"], "203.0.113.7"),
        # Trusted hops (an inner proxy at 10.1.2.3) are skipped from the right.
        (["6.6.6.6, 203.0.113.8, 10.1.2.3"], "203.0.113.8"),
        # Several headers read as one list, in order.
        (["6.6.6.6", "203.0.113.9, 10.0.0.9"], "203.0.113.9"),
        # Ports some proxies add, and IPv6.
        (["203.0.113.10:5120"], "203.0.113.10"),
        (["[2001:db8::1]:443, 10.0.0.9"], "2001:db8::1"),
        (["2001:db8::2"], "2001:db8::2"),
        # Every hop a trusted proxy: the leftmost is the client.
        (["10.0.0.5, 10.0.0.6"], "10.0.0.5"),
        # Garbage behind trusted hops: the nearest good address is the client.
        (["6.6.6.6, not-an-address, 10.0.0.7"], "10.0.0.7"),
    ],
)
async def test_the_client_is_the_first_untrusted_hop_from_the_right(
    aiohttp_client: Any, tmp_path: Path, forwarded_for: list[str], client_is: str
) -> None:
    client = await bare(aiohttp_client, tmp_path, rate_limit_per_ip=1, trusted_proxies=PROXIES)
    assert await new_session(client, client_is) == 201
    assert await new_session(client, *forwarded_for) == 429, "not the client's bucket"
    assert await new_session(client, "192.0.2.1") == 201, "another client's bucket is free"


async def test_sign_in_locks_the_client_behind_the_proxy_not_the_proxy(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(
        aiohttp_client,
        tmp_path,
        trusted_proxies=PROXIES,
        login_failures_per_ip=2,
        login_failures_per_account=0,
    )
    await make_user(client.app, "ann", "agent")

    async def sign_in(address: str, password: str) -> Any:
        return await client.post(
            "/api/login",
            json={"username": "ann", "password": password},
            headers={"X-Forwarded-For": address},
        )

    for _ in range(2):
        assert (await sign_in("203.0.113.7", "wrong password!")).status == 401
    locked = await sign_in("203.0.113.7", PASSWORD)
    assert locked.status == 429
    assert (await locked.json())["error"].startswith(
        "too many failed sign-ins for this address; try again in"
    )
    # The colleague behind the same proxy is not locked out.
    assert (await sign_in("198.51.100.9", PASSWORD)).status == 200


async def test_the_widget_socket_cap_counts_clients_behind_the_proxy(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, trusted_proxies=PROXIES, widget_sockets_per_ip=1)
    first = await client.ws_connect("/widget/ws", headers={"X-Forwarded-For": "203.0.113.7"})
    same = await client.ws_connect("/widget/ws", headers={"X-Forwarded-For": "203.0.113.7"})
    event = await asyncio.wait_for(same.receive_json(), timeout=10)
    assert event["code"] == "too_many_sockets"
    assert (await same.receive()).type == WSMsgType.CLOSE
    token = await widget_token(client)
    other = await open_widget(client, token, headers={"X-Forwarded-For": "198.51.100.9"})
    assert (await asyncio.wait_for(other.receive_json(), timeout=10))["type"] == "status"
    await other.close()
    await first.close()
