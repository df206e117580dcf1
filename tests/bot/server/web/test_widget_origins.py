"""Which pages may use the chat widget: this server's own always, others only when listed in
``widget_origins`` (or "*"). A refused origin gets a 403 that names it and the setting; CORS
headers only ever name an origin that is allowed. A bare app: no models needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from tests.conftest import app_config

SHOP = "https://shop.example"


async def bare(aiohttp_client: Any, tmp_path: Path, **settings: Any) -> TestClient:
    return await aiohttp_client(create_app(app_config(tmp_path, **settings)))


def own_origin(client: TestClient) -> str:
    return f"http://{client.host}:{client.port}"


def refusal(origin: str) -> str:
    return (
        f"the page at origin {origin!r} may not use this chat widget: only this server's own "
        "pages and those listed in the setting widget_origins may; add it there, e.g. "
        f"widget_origins = [{origin!r}] in frontdesk.toml or FRONTDESK_WIDGET_ORIGINS={origin}"
    )


async def test_widget_session_refuses_a_foreign_origin_by_default(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path)
    response = await client.post("/widget/session", headers={"Origin": SHOP})
    assert response.status == 403
    assert (await response.json())["error"] == refusal(SHOP)
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = await client.options(
        "/widget/session", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_the_servers_own_pages_and_non_browsers_may_always_start_a_session(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path)
    own = await client.post("/widget/session", headers={"Origin": own_origin(client)})
    assert own.status == 201
    assert own.headers["Access-Control-Allow-Origin"] == own_origin(client)
    # No Origin header: not a browser, so there is no visitor's page to protect.
    script = await client.post("/widget/session")
    assert script.status == 201
    assert "Access-Control-Allow-Origin" not in script.headers


async def test_a_listed_origin_is_allowed_and_echoed_and_no_other(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, widget_origins=f"{SHOP}, http://other.test")
    preflight = await client.options(
        "/widget/session", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == SHOP
    assert preflight.headers["Vary"] == "Origin"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    session = await client.post("/widget/session", headers={"Origin": SHOP})
    assert session.status == 201
    assert session.headers["Access-Control-Allow-Origin"] == SHOP
    # The same origin spelt with its default port and in capitals is still the same origin.
    spelt = await client.post("/widget/session", headers={"Origin": "HTTPS://Shop.Example:443"})
    assert spelt.status == 201
    for stranger in ("https://shop.example.evil.test", "http://shop.example", "null"):
        response = await client.post("/widget/session", headers={"Origin": stranger})
        assert response.status == 403, stranger
        assert (await response.json())["error"] == refusal(stranger)


async def test_a_star_lets_any_page_embed_the_widget_but_cors_names_the_page(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, widget_origins="*")
    response = await client.post("/widget/session", headers={"Origin": "https://anyone.test"})
    assert response.status == 201
    assert response.headers["Access-Control-Allow-Origin"] == "https://anyone.test"


async def test_a_refused_origin_still_gets_cors_on_a_rate_limit_it_passed(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, widget_origins=SHOP, rate_limit_per_ip=1)
    assert (await client.post("/widget/session", headers={"Origin": SHOP})).status == 201
    limited = await client.post("/widget/session", headers={"Origin": SHOP})
    assert limited.status == 429
    # The page can read why: the error carries the same CORS headers as a success.
    assert limited.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Retry-After" in limited.headers


@pytest.mark.parametrize("listed", ["", SHOP])
async def test_widget_socket_refuses_a_foreign_origin(
    aiohttp_client: Any, tmp_path: Path, listed: str
) -> None:
    client = await bare(aiohttp_client, tmp_path, widget_origins=listed)
    stranger = "https://evil.test"
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/widget/ws", headers={"Origin": stranger})
    assert refused.value.status == 403
    plain = await client.get("/widget/ws", headers={"Origin": stranger})
    assert (await plain.json())["error"] == refusal(stranger)
    for allowed in [own_origin(client)] + ([listed] if listed else []):
        ws = await client.ws_connect("/widget/ws", headers={"Origin": allowed})
        assert not ws.closed, allowed
        await ws.close()
