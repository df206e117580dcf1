"""Hostile input is a 4xx in the one JSON error shape, never a 500, on every JSON endpoint;
the channel token (Rasa's --auth-token) and the parse endpoint's rate limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.web.auth import hash_password
from bot.storage.accounts import AccountStore
from tests.conftest import app_config

WEBHOOK = "/webhooks/rest/webhook"
PARSE = "/model/parse"
DEEP = "[" * 30_000 + "]" * 30_000
JSON_ENDPOINTS = [WEBHOOK, PARSE, "/api/login", "/widget/session"]


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    return await aiohttp_client(create_app(app_config(tmp_path)))


async def error_of(response: Any, status: int) -> str:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    payload = await response.json()
    assert payload["status"] == status
    return str(payload["error"])


async def post_raw(client: TestClient, path: str, raw: str) -> Any:
    return await client.post(path, data=raw, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
async def test_deeply_nested_json_is_a_400_not_a_500(client: TestClient, path: str) -> None:
    error = await error_of(await post_raw(client, path, DEEP), 400)
    assert error == "request body nests deeper than 32 levels; flatten it"


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
async def test_a_five_thousand_digit_number_is_a_400(client: TestClient, path: str) -> None:
    error = await error_of(await post_raw(client, path, '{"n": ' + "9" * 5000 + "}"), 400)
    assert "a number has more than 4300 digits; send it as a string" in error


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize(
    ("escaped", "words"),
    [("\\ud800", "a lone surrogate (\\ud800)"), ("\\u0000", "a NUL character (\\u0000)")],
)
async def test_lone_surrogates_and_nul_bytes_are_refused(
    client: TestClient, path: str, escaped: str, words: str
) -> None:
    raw = '{"sender": "a", "message": "hi%s", "text": "hi%s", "username": "a%s", "token": "%s"}'
    error = await error_of(await post_raw(client, path, raw % ((escaped,) * 4)), 400)
    assert words in error
    assert "send valid UTF-8 text without NUL characters" in error


@pytest.mark.parametrize("raw", ['{"text": NaN}', '{"text": Infinity}', '{"text": 1e999}'])
async def test_non_finite_numbers_are_refused(client: TestClient, raw: str) -> None:
    error = await error_of(await post_raw(client, PARSE, raw), 400)
    assert "send a finite number" in error


async def test_an_integer_sender_meets_the_255_character_limit(client: TestClient) -> None:
    raw = '{"sender": ' + "7" * 300 + ', "message": "hi"}'
    error = await error_of(await post_raw(client, WEBHOOK, raw), 413)
    assert error == "field 'sender' is 300 characters; the limit is 255"


async def test_a_message_id_longer_than_128_characters_is_refused(client: TestClient) -> None:
    body = {"sender": "a", "message": "hi", "metadata": {"message_id": "m" * 129}}
    error = await error_of(await client.post(WEBHOOK, json=body), 400)
    assert "field 'metadata.message_id' is 129 characters; the limit is 128" in error


async def test_an_out_of_range_time_on_the_ops_api_is_a_400(client: TestClient) -> None:
    from bot.server.appkeys import STORE
    from bot.server.web.auth import digest

    store = AccountStore(client.app[STORE].engine)
    user = await store.create_user("olga", hash_password("olga's long passphrase"), "ops")
    await store.create_api_token(user.id, digest("ops-token"))
    headers = {"Authorization": "Bearer ops-token"}
    for query in ("until=9999-12-31T23:59:59-23:59", "since=99999999999d"):
        response = await client.get(f"/api/sentiment/series?{query}", headers=headers)
        error = await error_of(response, 400)
        assert "is out of range: expected a time between 1970-01-01 and 9998-12-31" in error
    response = await client.get("/api/sentiment/topics?window=99999999999d", headers=headers)
    assert "expected a duration up to 366d" in await error_of(response, 400)


async def test_the_channel_token_guards_the_webhook_and_parse(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(app_config(tmp_path, auth_token="s3cret")))
    body = {"sender": "a", "message": "hi", "text": "hi"}
    for path in (WEBHOOK, PARSE):
        error = await error_of(await client.post(path, json=body), 401)
        assert error == (
            "this endpoint needs the channel token: add ?token=<auth_token> to the URL"
        )
        error = await error_of(await client.post(f"{path}?token=wrong", json=body), 401)
        assert "does not match the server's auth_token" in error
        # The right token gets past the check (to "not ready": this app has no models).
        assert (await client.post(f"{path}?token=s3cret", json=body)).status == 503


async def test_model_parse_shares_the_per_address_rate_limit(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(app_config(tmp_path, rate_limit_per_ip=2)))
    for _ in range(2):
        assert (await client.post(PARSE, json={"text": "hi"})).status == 503
    response = await client.post(PARSE, json={"text": "hi"})
    error = await error_of(response, 429)
    assert error == "too many messages from this address: the limit is 2 a minute"
    assert int(response.headers["Retry-After"]) >= 1


async def admin_headers(client: TestClient) -> dict[str, str]:
    from bot.server.appkeys import STORE
    from bot.server.web.auth import digest

    store = AccountStore(client.app[STORE].engine)
    user = await store.create_user("root", hash_password("root's long passphrase"), "admin")
    await store.create_api_token(user.id, digest("admin-token"))
    return {"Authorization": "Bearer admin-token"}


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/widget/turns?after=%00", "query parameter 'after' contains a NUL character"),
        ("/widget/turns?a%00=1", "a query parameter's name contains a NUL character"),
        ("/api/conversations/a%00b", "path parameter 'conversation_id' contains a NUL character"),
    ],
)
async def test_a_nul_in_the_url_is_a_400_before_any_handler(
    client: TestClient, path: str, words: str
) -> None:
    error = await error_of(await client.get(path), 400)
    assert error.startswith(words)
    assert error.endswith("send valid UTF-8 text without NUL characters")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (
            "/api/alerts/99999999999999999999/ack",
            "no alert '99999999999999999999': ids are whole numbers from 1 to 9223372036854775807",
        ),
        ("/api/alerts/0/ack", "no alert '0': ids are whole numbers from 1 to 9223372036854775807"),
        (
            "/api/turns/1e5/correction",
            "no turn '1e5': ids are whole numbers from 1 to 9223372036854775807",
        ),
        (
            "/api/escalations/%D9%A3/claim",
            "no escalation '٣': ids are whole numbers from 1 to 9223372036854775807",
        ),
    ],
)
async def test_an_id_that_is_no_64_bit_row_id_is_a_404(
    client: TestClient, path: str, error: str
) -> None:
    headers = await admin_headers(client)
    assert await error_of(await client.post(path, headers=headers), 404) == error


async def test_a_date_past_what_python_holds_is_a_400_on_the_audit_log(
    client: TestClient,
) -> None:
    headers = await admin_headers(client)
    for since in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00%2B23:59"):
        response = await client.get(f"/api/admin/audit?since={since}", headers=headers)
        assert "out of range" in await error_of(response, 400)


def test_an_overflow_from_input_is_a_400_that_says_so() -> None:
    import json

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from bot.server.http.errors import from_exception

    request = make_mocked_request("PATCH", "/api/admin/users/99999999999999999999")
    response = from_exception(request, OverflowError("Python int too large to convert"))
    assert isinstance(response, web.Response) and response.text is not None
    assert json.loads(response.text) == {
        "error": "a number or date in the request is out of range (Python int too large to "
        "convert): ids are whole numbers below 2**63, times lie between the years 1 and 9999 "
        "in UTC",
        "status": 400,
    }
