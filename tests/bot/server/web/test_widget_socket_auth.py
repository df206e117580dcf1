"""The widget socket's handshake and limits: the token arrives in the first frame (never the
URL) and expires, and each token and each client address may hold only so many sockets.
A bare app: opening a conversation needs the store, not the models."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.web.widget import socket_counts
from tests.bot.server.web.conftest import open_widget, widget_token
from tests.conftest import app_config

STATUS = {"type": "status", "status": "bot", "rating_requested": False}


async def bare(aiohttp_client: Any, tmp_path: Path, **settings: Any) -> TestClient:
    return await aiohttp_client(create_app(app_config(tmp_path, **settings)))


async def refused(ws: Any) -> tuple[dict[str, Any], int]:
    """The error frame a refused socket gets, and the code it is closed with."""
    event = await asyncio.wait_for(ws.receive_json(), timeout=10)
    closing = await asyncio.wait_for(ws.receive(), timeout=10)
    assert closing.type == WSMsgType.CLOSE
    return event, int(closing.data)


async def released(client: TestClient) -> None:
    """Until the server has finished with every socket the test closed."""
    counts = socket_counts(client.app)
    for _ in range(100):
        if not counts.tokens and not counts.addresses:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"sockets still counted: {counts}")


async def test_the_widget_socket_serves_the_conversation_after_the_auth_frame(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path)
    token = await widget_token(client)
    ws = await client.ws_connect("/widget/ws")
    # Nothing is sent before the client says who it is.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.receive_json(), timeout=0.3)
    await ws.send_json({"type": "auth", "token": token})
    assert await asyncio.wait_for(ws.receive_json(), timeout=10) == STATUS
    await ws.close()


async def test_widget_socket_refuses_a_token_in_the_url(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path)
    token = await widget_token(client)
    response = await client.get(f"/widget/ws?token={token}")
    assert response.status == 400
    assert (await response.json())["error"] == (
        "the widget token no longer goes in the URL (where logs keep it): open /widget/ws "
        'without it and send {"type": "auth", "token": ...} as the first frame'
    )


@pytest.mark.parametrize(
    "first",
    [
        {"type": "message", "text": "hello", "client_id": "c1"},
        {"type": "auth"},
        {"type": "auth", "token": 12},
        "not json",
    ],
)
async def test_widget_socket_closes_when_the_first_frame_is_not_auth(
    aiohttp_client: Any, tmp_path: Path, first: Any
) -> None:
    client = await bare(aiohttp_client, tmp_path)
    ws = await client.ws_connect("/widget/ws")
    if isinstance(first, str):
        await ws.send_str(first)
    else:
        await ws.send_json(first)
    event, code = await refused(ws)
    assert code == 4400
    assert event == {
        "type": "error",
        "code": "auth_required",
        "error": 'the first frame must be {"type": "auth", "token": "<token from POST '
        '/widget/session>"}; the token does not go in the URL',
        "retry": False,
    }


async def test_widget_socket_closes_without_an_auth_frame_within_the_timeout(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path)
    socket_counts(client.app).auth_timeout_s = 0.3
    ws = await client.ws_connect("/widget/ws")
    event, code = await refused(ws)
    assert (code, event["code"]) == (4408, "auth_timeout")
    assert event["error"] == (
        'no auth frame within 0.3 seconds: send {"type": "auth", "token": ...} first, '
        "right after the socket opens"
    )
    await released(client)


async def test_an_expired_token_is_refused_everywhere_and_a_new_session_replaces_it(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    # 0.01 minutes: 0.6 seconds.
    client = await bare(aiohttp_client, tmp_path, widget_token_minutes=0.01)
    token = await widget_token(client)
    fresh = await open_widget(client, token)
    assert await asyncio.wait_for(fresh.receive_json(), timeout=10) == STATUS
    await fresh.close()
    await asyncio.sleep(0.7)

    expected = (
        "the conversation token expired (tokens last 0.01 minutes from the start of their "
        "session, the setting widget_token_minutes): POST /widget/session for a new one"
    )
    ws = await open_widget(client, token)
    event, code = await refused(ws)
    assert (code, event["code"], event["error"]) == (4401, "token_expired", expected)
    turns = await client.get("/widget/turns", headers={"X-Conversation-Token": token})
    assert turns.status == 401
    assert (await turns.json())["error"] == expected

    renewed = await client.post("/widget/session", json={"token": token})
    assert renewed.status == 201
    body = await renewed.json()
    assert body["resumed"] is False and body["token"] != token
    again = await open_widget(client, body["token"])
    assert await asyncio.wait_for(again.receive_json(), timeout=10) == STATUS
    await again.close()


async def test_an_open_socket_is_closed_when_its_token_expires(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, widget_token_minutes=0.02)
    ws = await open_widget(client, await widget_token(client))
    assert await asyncio.wait_for(ws.receive_json(), timeout=10) == STATUS
    event, code = await refused(ws)
    assert (code, event["code"]) == (4401, "token_expired")
    await released(client)


async def test_tokens_never_expire_with_widget_token_minutes_zero(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, widget_token_minutes=0)
    token = await widget_token(client)
    resumed = await client.post("/widget/session", json={"token": token})
    assert (await resumed.json()) == {"token": token, "resumed": True}
    ws = await open_widget(client, token)
    assert await asyncio.wait_for(ws.receive_json(), timeout=10) == STATUS
    await ws.close()


async def test_a_token_may_hold_only_widget_sockets_per_token_sockets(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, widget_sockets_per_token=2)
    token = await widget_token(client)
    first, second = await open_widget(client, token), await open_widget(client, token)
    for ws in (first, second):
        assert await asyncio.wait_for(ws.receive_json(), timeout=10) == STATUS

    third = await open_widget(client, token)
    event, code = await refused(third)
    assert (code, event["code"]) == (4429, "too_many_sockets")
    assert event["error"] == (
        "this conversation is already open in 2 windows (the limit is 2, the setting "
        "widget_sockets_per_token); close one"
    )
    other = await open_widget(client, await widget_token(client))
    assert await asyncio.wait_for(other.receive_json(), timeout=10) == STATUS, "per token"

    await first.close()
    await other.close()
    await asyncio.sleep(0.1)
    replacement = await open_widget(client, token)
    assert await asyncio.wait_for(replacement.receive_json(), timeout=10) == STATUS
    await replacement.close()
    await second.close()
    await released(client)


async def test_an_address_may_hold_only_widget_sockets_per_ip_sockets(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await bare(aiohttp_client, tmp_path, widget_sockets_per_ip=2)
    # Sockets count from the upgrade: ones that never authenticate take a place too.
    idle = await client.ws_connect("/widget/ws")
    chatting = await open_widget(client, await widget_token(client))
    assert await asyncio.wait_for(chatting.receive_json(), timeout=10) == STATUS

    extra = await client.ws_connect("/widget/ws")
    event, code = await refused(extra)
    assert (code, event["code"]) == (4429, "too_many_sockets")
    assert event["error"] == (
        "too many chat connections from this address (the limit is 2, the setting "
        "widget_sockets_per_ip); close some and try again"
    )
    await idle.close()
    await asyncio.sleep(0.1)
    now = await open_widget(client, await widget_token(client))
    assert await asyncio.wait_for(now.receive_json(), timeout=10) == STATUS
    await now.close()
    await chatting.close()
    await released(client)
