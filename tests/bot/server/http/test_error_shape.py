"""Every endpoint answers bad input with a 4xx and the one JSON error shape, never a 500.

Modelled on datasette's test_error_shape: one table of bad requests, one assertion each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from tests.conftest import app_config

WEBHOOK = "/webhooks/rest/webhook"
PARSE = "/model/parse"

BAD_REQUESTS: list[tuple[str, str, Any, int, str]] = [
    # method, path, body (str = raw), status, words the error must contain
    ("POST", WEBHOOK, "", 400, "request body is empty"),
    ("POST", WEBHOOK, "{not json", 400, "not valid JSON"),
    ("POST", WEBHOOK, [], 400, "expected a JSON object, got an array"),
    ("POST", WEBHOOK, {"message": "hi"}, 400, "field 'sender' is required"),
    ("POST", WEBHOOK, {"sender": "a"}, 400, "field 'message' is required"),
    ("POST", WEBHOOK, {"sender": "a", "message": ""}, 400, "field 'message' must not be empty"),
    ("POST", WEBHOOK, {"sender": "a", "message": "   "}, 400, "must not be empty"),
    ("POST", WEBHOOK, {"sender": "a", "message": 42}, 400, "must be a string, got a number"),
    ("POST", WEBHOOK, {"sender": ["a"], "message": "hi"}, 400, "'sender' must be a string"),
    ("POST", WEBHOOK, {"sender": "a", "message": "x" * 20_000}, 413, "the limit is 5000"),
    (
        "POST",
        WEBHOOK,
        {"sender": "a", "message": "hi", "metadata": 3},
        400,
        "'metadata' must be an object",
    ),
    ("POST", PARSE, {}, 400, "field 'text' is required"),
    ("POST", PARSE, {"text": None}, 400, "field 'text' is required"),
    ("POST", PARSE, "[1, 2", 400, "not valid JSON"),
    ("GET", WEBHOOK, None, 405, "method GET is not allowed"),
    ("GET", "/no/such/page", None, 404, "no such endpoint: /no/such/page"),
]


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    # No models: validation must answer before anything needs them.
    return await aiohttp_client(create_app(app_config(tmp_path)))


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), BAD_REQUESTS)
async def test_bad_request_gets_json_error_naming_the_problem(
    client: TestClient, method: str, path: str, body: Any, status: int, words: str
) -> None:
    if isinstance(body, str):
        response = await client.request(
            method, path, data=body, headers={"Content-Type": "application/json"}
        )
    elif body is None:
        response = await client.request(method, path)
    else:
        response = await client.request(method, path, json=body)
    assert response.status == status
    assert response.content_type == "application/json"
    payload = await response.json()
    assert payload["status"] == status
    assert words in payload["error"]


async def test_oversized_body_is_refused_with_413_json(client: TestClient) -> None:
    response = await client.post(
        WEBHOOK, data=b"x" * (200 * 1024), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert "too large" in (await response.json())["error"]


async def test_wrong_content_type_is_refused(client: TestClient) -> None:
    response = await client.post(
        WEBHOOK, data=b"sender=a", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 415
    assert "application/json" in (await response.json())["error"]


async def test_chat_endpoints_say_not_ready_while_models_are_missing(client: TestClient) -> None:
    response = await client.post(WEBHOOK, json={"sender": "a", "message": "hello"})
    assert response.status == 503
    assert response.headers["Retry-After"]
    assert "not ready" in (await response.json())["error"]


async def test_server_keeps_serving_after_bad_input(client: TestClient) -> None:
    for _ in range(3):
        await client.post(WEBHOOK, data="{broken", headers={"Content-Type": "application/json"})
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert response.headers["X-Request-Id"] == "abc123"
    response = await client.post(PARSE, json={})
    assert len(response.headers["X-Request-Id"]) == 16


@pytest.mark.parametrize(
    "sent",
    ["x" * 65, "id with spaces", "<script>", 'a"b', "ünïcode", "a/b", "a;b=c"],
)
async def test_a_request_id_that_is_long_or_not_plain_is_replaced(
    client: TestClient, sent: str
) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": sent})
    assert response.status == 200
    kept = response.headers["X-Request-Id"]
    assert kept != sent
    assert len(kept) == 16 and all(c in "0123456789abcdef" for c in kept)


async def test_a_plain_request_id_of_64_characters_is_kept(client: TestClient) -> None:
    sent = "Req-1.2_" + "a" * 56
    response = await client.get("/healthz", headers={"X-Request-Id": sent})
    assert response.headers["X-Request-Id"] == sent


def test_a_busy_store_is_a_503_with_retry_after_not_a_500() -> None:
    import json

    from aiohttp.test_utils import make_mocked_request
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from bot.server.http.errors import from_exception

    response = from_exception(make_mocked_request("POST", "/webhooks/rest/webhook"), PoolTimeout())
    assert isinstance(response, web.Response) and response.text is not None
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert json.loads(response.text) == {"error": "the store is busy; retry shortly", "status": 503}
