"""Fixtures for the widget and console: a real app on tiny real models, staff users, helpers,
and for the browser tests a server on a real port and one Chromium per module."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.appkeys import RUNTIME, STORE
from bot.server.web.auth import digest, hash_password, new_secret
from bot.storage.accounts import AccountStore, StaffUser
from tests.conftest import TinyModels, app_config

PASSWORD = "correct horse battery"


def web_config(tmp_path: Path, models: TinyModels, **settings: Any) -> Any:
    # Each app gets its own copy of the index: saving an answer rewrites it on disk.
    index = tmp_path / "index"
    if not index.exists():
        shutil.copytree(models.index, index)
    return app_config(tmp_path, models_dir=models.models_dir, index=index, **settings)


async def ready_app(
    aiohttp_client: Any, tmp_path: Path, models: TinyModels, **settings: Any
) -> TestClient:
    # aiohttp's client keeps Secure cookies from plain-HTTP servers but never sends them back.
    settings.setdefault("cookie_secure", False)
    app = create_app(web_config(tmp_path, models, **settings))
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    return client


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels) -> TestClient:
    return await ready_app(aiohttp_client, tmp_path, tiny_models)


def accounts(app: web.Application) -> AccountStore:
    return AccountStore(app[STORE].engine)


async def make_user(
    app: web.Application, name: str, role: str, password: str = PASSWORD
) -> StaffUser:
    password_hash = await asyncio.to_thread(hash_password, password)
    return await accounts(app).create_user(name, password_hash, role)


async def make_token(app: web.Application, user: StaffUser) -> str:
    token = new_secret()
    await accounts(app).create_api_token(user.id, digest(token))
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in with the JSON endpoint; the client keeps the cookie. Returns the CSRF token."""
    response = await client.post("/api/login", json={"username": name, "password": password})
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


async def widget_token(client: TestClient) -> str:
    response = await client.post("/widget/session")
    assert response.status == 201, await response.text()
    return str((await response.json())["token"])


async def open_widget(client: TestClient, token: str, after: int = 0, **kwargs: Any) -> Any:
    """A widget socket that has sent its auth frame, as the widget does on open."""
    ws = await client.ws_connect(f"/widget/ws?after={after}", **kwargs)
    await ws.send_json({"type": "auth", "token": token})
    return ws


async def agent(client: TestClient, name: str = "ann", role: str = "agent") -> dict[str, str]:
    """Bearer headers for staff member ``name``, who is created with ``role`` if new."""
    existing = await accounts(client.app).user_by_name(name)
    user = existing or await make_user(client.app, name, role)
    return bearer(await make_token(client.app, user))


async def handed_off(client: TestClient) -> tuple[Any, str]:
    """A widget conversation whose customer asked for a human; returns (socket, conversation)."""
    token = await widget_token(client)
    ws = await open_widget(client, token)
    await ws.send_json({"type": "message", "text": "I want to talk to a human", "client_id": "m1"})
    await receive_until(ws, lambda e: e.get("role") == "bot")
    queue = await (await client.get("/api/escalations", headers=await agent(client))).json()
    [item] = queue["escalations"]
    return ws, item["conversation_id"]


async def receive_until(
    ws: Any, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> list[dict[str, Any]]:
    """Every event up to and including the first one ``predicate`` accepts."""
    seen: list[dict[str, Any]] = []

    async def read() -> None:
        while True:
            event = await ws.receive_json()
            seen.append(event)
            if predicate(event):
                return

    await asyncio.wait_for(read(), timeout=timeout)
    return seen


async def drain(ws: Any, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Whatever arrives until the socket is quiet for ``quiet`` seconds."""
    seen: list[dict[str, Any]] = []
    while True:
        try:
            seen.append(await asyncio.wait_for(ws.receive_json(), timeout=quiet))
        except TimeoutError:
            return seen


# Browsers ------------------------------------------------------------------------------
# One app on a real port and one browser serve a whole test module (mark it with
# ``pytest.mark.asyncio(loop_scope="module")``), so the suite stays short on a small machine.

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<img src=x onerror=alert(1)>"
# Every browser server's staff, by role, all with PASSWORD.
STAFF = {"ann": "agent", "olga": "ops", "root": "admin"}


@dataclass
class Server:
    url: str
    app: web.Application


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(tmp_path: Path, models: TinyModels, **settings: Any) -> AsyncIterator[Server]:
    """The app with ``settings`` on a free port of 127.0.0.1, models loaded, STAFF added."""
    app = create_app(web_config(tmp_path, models, **settings))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    for name, role in STAFF.items():
        await make_user(app, name, role)
    try:
        yield Server(f"http://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels
) -> AsyncIterator[Server]:
    """The module's server with the default settings; a module that needs others defines
    its own ``server`` with :func:`serve`."""
    # The default settings: Secure cookies over plain HTTP to 127.0.0.1 work in Chromium.
    async with serve(tmp_path_factory.mktemp("browser"), tiny_models) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    """Debian's Chromium, driven by Playwright."""
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=20_000)
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        await browser.close()
        await playwright.stop()


async def sign_in(
    page: Any, server: Server, username: str, path: str = "/console/", password: str = PASSWORD
) -> None:
    """Open ``path``, which sends a signed-out browser to the sign-in form, and sign in."""
    await page.goto(server.url + path)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


@contextlib.asynccontextmanager
async def staff_page(
    browser: Any, server: Server, username: str, path: str = "/console/"
) -> AsyncIterator[Any]:
    """A page of its own browser context, signed in as ``username`` and on ``path``.

    Console pages never open a dialog: one that opens means something a customer or a model
    wrote ran as script, and fails the test when the block ends.
    """
    context = await browser.new_context()
    dialogs: list[str] = []

    async def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    try:
        page = await context.new_page()
        page.on("dialog", dismiss)
        await sign_in(page, server, username, path)
        yield page
        assert dialogs == [], "nothing anyone wrote runs as script"
    finally:
        await context.close()
