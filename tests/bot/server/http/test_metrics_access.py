"""/metrics: a bearer token when metrics_token is set; without one, this machine only.

The loopback check reads the socket's peer: a client on another machine cannot become local
by writing X-Forwarded-For. The tests that need such a client bind the app to this machine's
non-loopback address and connect there.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from tests.conftest import app_config

TOKEN = "metrics-token-0123456789"
PROMETHEUS = "text/plain"


def non_loopback_address() -> str:
    """An IPv4 address of this machine that is not 127.x, or skip."""
    candidates: set[str] = set()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            candidates.add(str(info[4][0]))
    # Connecting a UDP socket sends nothing; it only picks the outgoing interface.
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        candidates.add(str(probe.getsockname()[0]))
    for address in sorted(candidates):
        if "." in address and not address.startswith(("127.", "0.")):
            return address
    pytest.skip("this machine has no non-loopback IPv4 address to connect from")


async def metrics_client(
    aiohttp_client: Any, tmp_path: Path, *, remote: bool = False, **settings: Any
) -> TestClient:
    app = create_app(app_config(tmp_path, **settings))
    host = non_loopback_address() if remote else "127.0.0.1"
    client: TestClient = await aiohttp_client(app, server_kwargs={"host": host})
    return client


async def test_without_a_token_a_loopback_peer_reads_the_metrics(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await metrics_client(aiohttp_client, tmp_path)

    response = await client.get("/metrics")

    assert response.status == 200
    assert response.headers["Content-Type"].startswith(PROMETHEUS)
    assert "frontdesk_" in await response.text()


async def test_without_a_token_a_peer_on_another_address_is_refused_and_told_what_to_set(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await metrics_client(aiohttp_client, tmp_path, remote=True)
    peer = client.server.host

    response = await client.get("/metrics")

    assert response.status == 403
    assert await response.json() == {
        "error": "/metrics answers only to this machine while metrics_token is empty, and "
        f"this request came from {peer}; set metrics_token (FRONTDESK_METRICS_TOKEN) and "
        "send 'Authorization: Bearer <metrics_token>'",
        "status": 403,
    }


async def test_a_forged_forwarded_for_header_does_not_make_a_remote_peer_loopback(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await metrics_client(
        aiohttp_client, tmp_path, remote=True, trusted_proxies=("0.0.0.0/0",)
    )

    response = await client.get(
        "/metrics", headers={"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}
    )

    assert response.status == 403


async def test_the_rest_of_the_api_still_answers_a_remote_peer(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await metrics_client(aiohttp_client, tmp_path, remote=True)

    assert (await client.get("/healthz")).status == 200


async def test_with_a_token_the_right_bearer_token_reads_the_metrics_from_anywhere(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await metrics_client(aiohttp_client, tmp_path, remote=True, metrics_token=TOKEN)

    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status == 200
    assert "frontdesk_" in await response.text()


async def test_with_a_token_a_request_without_one_gets_401_saying_how_to_send_it(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await metrics_client(aiohttp_client, tmp_path, metrics_token=TOKEN)

    response = await client.get("/metrics")

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert (await response.json())["error"] == (
        "/metrics needs the metrics token: send 'Authorization: Bearer <metrics_token>' "
        "(Prometheus: authorization: {credentials: <metrics_token>} in the scrape job)"
    )


@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer wrong-token"]
)
async def test_with_a_token_a_wrong_one_gets_401_even_from_loopback(
    aiohttp_client: Any, tmp_path: Path, authorization: str
) -> None:
    client = await metrics_client(aiohttp_client, tmp_path, metrics_token=TOKEN)

    response = await client.get("/metrics", headers={"Authorization": authorization})

    assert response.status == 401
    assert (await response.json())["error"] == (
        "the bearer token sent does not match the server's metrics_token; check the "
        "scraper's credentials"
    )


async def test_with_a_token_the_token_sent_another_way_is_not_accepted(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await metrics_client(aiohttp_client, tmp_path, metrics_token=TOKEN)

    for request in (
        client.get("/metrics", headers={"Authorization": TOKEN}),
        client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}),
        client.get("/metrics", params={"token": TOKEN}),
    ):
        response = await request
        assert response.status == 401
        assert "needs the metrics token" in (await response.json())["error"]
