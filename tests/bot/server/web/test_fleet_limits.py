"""Sign-in locks and widget socket caps across a fleet: two app instances on one database and
one Redis are two processes of one deployment, and hold the limits once between them. Without
Redis, or while it is away, each process keeps them on its own. Bare apps: no models needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.web.widget import socket_counts
from tests.bot.server.web.conftest import PASSWORD, make_user, open_widget, widget_token
from tests.bot.server.web.test_widget_socket_auth import STATUS, refused, released
from tests.conftest import app_config

WRONG = "wrong password!"
ACCOUNT_LOCKED = "too many failed sign-ins for this account; try again in"
ADDRESS_LOCKED = "too many failed sign-ins for this address; try again in"


async def server(aiohttp_client: Any, tmp_path: Path, **settings: Any) -> TestClient:
    # The form's CSRF cookie must come back: aiohttp's client sends no Secure cookie over http.
    settings.setdefault("cookie_secure", False)
    return await aiohttp_client(create_app(app_config(tmp_path, **settings)))


async def two_servers(
    aiohttp_client: Any, tmp_path: Path, database_url: str, redis_url: str, **settings: Any
) -> tuple[TestClient, TestClient]:
    """Two processes of one deployment: one database, one Redis."""
    one, two = [
        await server(
            aiohttp_client,
            tmp_path / name,
            database_url=database_url,
            redis_url=redis_url,
            **settings,
        )
        for name in ("one", "two")
    ]
    return one, two


async def sign_in(client: TestClient, name: str, password: str) -> Any:
    return await client.post("/api/login", json={"username": name, "password": password})


async def error_of(response: Any) -> str:
    return str((await response.json())["error"])


async def test_account_locked_on_one_server_is_locked_on_the_other(
    postgres_url: str, redis_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    one, two = await two_servers(aiohttp_client, tmp_path, postgres_url, redis_url)
    await make_user(one.app, "ann", "admin")

    # Five wrong passwords, spread over both servers: one budget, not five on each.
    for i in range(5):
        assert (await sign_in((one, two)[i % 2], "ann", WRONG)).status == 401

    for client in (two, one):
        response = await sign_in(client, "ann", PASSWORD)
        assert response.status == 429
        assert 55 <= int(response.headers["Retry-After"]) <= 60
        assert (await error_of(response)).startswith(ACCOUNT_LOCKED)


async def test_wrong_passwords_from_one_address_count_once_across_servers(
    postgres_url: str, redis_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    one, two = await two_servers(
        aiohttp_client, tmp_path, postgres_url, redis_url, login_failures_per_ip=3
    )

    # Spraying other accounts from one address: three guesses in all, whichever server.
    statuses = [(await sign_in((one, two)[i % 2], f"user{i}", WRONG)).status for i in range(3)]
    assert statuses == [401, 401, 401]

    response = await sign_in(two, "someone-else", WRONG)
    assert response.status == 429
    assert (await error_of(response)).startswith(ADDRESS_LOCKED)


async def test_an_address_s_sockets_on_two_servers_reach_the_cap_together(
    postgres_url: str, redis_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    one, two = await two_servers(
        aiohttp_client, tmp_path, postgres_url, redis_url, widget_sockets_per_ip=2
    )
    on_one = await open_widget(one, await widget_token(one))
    on_two = await open_widget(two, await widget_token(two))
    for ws in (on_one, on_two):
        assert await asyncio.wait_for(ws.receive_json(), timeout=10) == STATUS

    for client in (one, two):
        event, code = await refused(await client.ws_connect("/widget/ws"))
        assert (code, event["code"]) == (4429, "too_many_sockets")
        assert event["error"] == (
            "too many chat connections from this address (the limit is 2, the setting "
            "widget_sockets_per_ip); close some and try again"
        )

    await on_one.close()
    await released(one)
    again = await open_widget(two, await widget_token(two))
    assert await asyncio.wait_for(again.receive_json(), timeout=10) == STATUS, "a place freed"
    for ws in (again, on_two):
        await ws.close()
    await released(two)


async def test_a_conversation_open_on_two_servers_reaches_its_socket_cap_together(
    postgres_url: str, redis_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    one, two = await two_servers(
        aiohttp_client, tmp_path, postgres_url, redis_url, widget_sockets_per_token=2
    )
    token = await widget_token(one)
    windows = [await open_widget(one, token), await open_widget(two, token)]
    for ws in windows:
        assert await asyncio.wait_for(ws.receive_json(), timeout=10) == STATUS

    event, code = await refused(await open_widget(two, token))
    assert (code, event["code"]) == (4429, "too_many_sockets")
    assert event["error"] == (
        "this conversation is already open in 2 windows (the limit is 2, the setting "
        "widget_sockets_per_token); close one"
    )
    for ws in windows:
        await ws.close()
    await released(one)
    await released(two)


async def test_the_sockets_of_a_server_that_stops_heartbeating_stop_counting(
    postgres_url: str, redis_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    one, two = await two_servers(
        aiohttp_client, tmp_path, postgres_url, redis_url, widget_sockets_per_ip=1
    )
    # Server one beats no more after its socket opens, as one frozen or killed would.
    stopped = socket_counts(one.app).by_address
    stopped.entry_ttl = 2.0
    stopped.heartbeat_s = 3600.0
    loop = asyncio.get_running_loop()
    opened_at = loop.time()
    held = await open_widget(one, await widget_token(one))
    assert await asyncio.wait_for(held.receive_json(), timeout=10) == STATUS

    event, code = await refused(await two.ws_connect("/widget/ws"))
    assert (code, event["code"]) == (4429, "too_many_sockets")
    await asyncio.sleep(opened_at + stopped.entry_ttl + 0.2 - loop.time())

    fresh = await open_widget(two, await widget_token(two))
    assert await asyncio.wait_for(fresh.receive_json(), timeout=10) == STATUS
    for ws in (fresh, held):
        await ws.close()
    await released(one)
    await released(two)


async def test_without_redis_each_server_keeps_its_own_sign_in_lock(
    postgres_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    one, two = [
        await server(
            aiohttp_client,
            tmp_path / name,
            database_url=postgres_url,
            login_failures_per_account=1,
        )
        for name in ("one", "two")
    ]
    await make_user(one.app, "ann", "admin")

    assert (await sign_in(one, "ann", WRONG)).status == 401
    assert (await sign_in(one, "ann", PASSWORD)).status == 429

    assert (await sign_in(two, "ann", PASSWORD)).status == 200, "the gap redis_url closes"


async def test_two_deployments_sharing_a_redis_keep_their_sign_in_locks_apart(
    redis_url: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    # Each with its own database (a SQLite file), and an account of the same name.
    shop = await server(
        aiohttp_client, tmp_path / "shop", redis_url=redis_url, login_failures_per_account=1
    )
    other = await server(
        aiohttp_client, tmp_path / "other", redis_url=redis_url, login_failures_per_account=1
    )
    for client in (shop, other):
        await make_user(client.app, "ann", "admin")

    assert (await sign_in(shop, "ann", WRONG)).status == 401
    assert (await sign_in(shop, "ann", PASSWORD)).status == 429

    assert (await sign_in(other, "ann", PASSWORD)).status == 200


class RedisLine:
    """A TCP line to the real Redis that a test can cut, as a failed network or a Redis that
    went away would: open connections drop and new ones are refused."""

    def __init__(self, redis_url: str) -> None:
        parts = urlsplit(redis_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.database = parts.path
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"redis://127.0.0.1:{port}{self.database}"

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in self._writers:
            writer.close()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, upstream_writer]
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def redis_line(redis_url: str) -> AsyncIterator[RedisLine]:
    line = RedisLine(redis_url)
    await line.open()
    yield line
    await line.cut()


async def test_when_redis_goes_away_the_limits_fall_back_to_this_process_without_errors(
    redis_line: RedisLine, aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = await server(
        aiohttp_client,
        tmp_path,
        redis_url=redis_line.url,
        login_failures_per_account=2,
        widget_sockets_per_ip=1,
    )
    await make_user(client.app, "ann", "admin")
    assert (await sign_in(client, "ann", WRONG)).status == 401
    token = await widget_token(client)
    held = await open_widget(client, token)
    assert await asyncio.wait_for(held.receive_json(), timeout=10) == STATUS

    with caplog.at_level(logging.WARNING, logger="bot.server.ratelimit"):
        await redis_line.cut()
        # The failure counted in Redis is out of reach: this process counts from here on.
        statuses = [(await sign_in(client, "ann", WRONG)).status for _ in range(3)]
        locked = await sign_in(client, "ann", PASSWORD)
        # The socket taken through Redis still counts here, so the cap still holds.
        event, code = await refused(await client.ws_connect("/widget/ws"))
        await held.close()
        await released(client)
        again = await open_widget(client, token)
        assert await asyncio.wait_for(again.receive_json(), timeout=10) == STATUS
        await again.close()
        await released(client)

    assert statuses == [401, 401, 429]
    assert locked.status == 429
    assert (await error_of(locked)).startswith(ACCOUNT_LOCKED)
    assert (code, event["code"]) == (4429, "too_many_sockets")
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.server.ratelimit"]
    assert warnings, "the outage is logged"
    assert all("Redis did not answer" in w and "redis_url" in w for w in warnings)
    limits = {w.split(": Redis did not answer")[0] for w in warnings}
    assert len(limits) == len(warnings), f"one warning per limit, not one per request: {warnings}"
