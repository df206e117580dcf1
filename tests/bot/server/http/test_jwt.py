"""Rasa's --jwt-secret: with ``jwt_secret`` set, the channel and /model/parse take a bearer JWT
signed HS256 with it, alongside ``?token=`` when ``auth_token`` is set too."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from tests.conftest import app_config

WEBHOOK = "/webhooks/rest/webhook"
PARSE = "/model/parse"
# Long enough for HS512 too (64 bytes), which the algorithm test signs with.
SECRET = "a jwt secret long enough for every HMAC algorithm: 64 bytes or more"
BODY = {"sender": "ada", "message": "hi", "text": "hi"}
# Past the credentials check, this app (no models) says it is not ready.
PAST_THE_CHECK = 503


def token(secret: str = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    return jwt.encode({"user": "shop-backend", **claims}, secret, algorithm=algorithm)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    return await aiohttp_client(create_app(app_config(tmp_path, jwt_secret=SECRET)))


async def error_of(response: Any) -> str:
    assert response.status == 401, await response.text()
    payload = await response.json()
    assert payload["status"] == 401
    return str(payload["error"])


@pytest.mark.parametrize("path", [WEBHOOK, PARSE])
async def test_a_jwt_signed_with_the_secret_is_accepted(client: TestClient, path: str) -> None:
    response = await client.post(path, json=BODY, headers=bearer(token(exp=time.time() + 60)))
    assert response.status == PAST_THE_CHECK


@pytest.mark.parametrize("path", [WEBHOOK, PARSE])
async def test_without_a_jwt_the_error_says_how_to_send_one(client: TestClient, path: str) -> None:
    error = await error_of(await client.post(path, json=BODY))
    assert error == (
        "this endpoint needs a JWT: send Authorization: Bearer <JWT signed HS256 with jwt_secret>"
    )


async def test_an_expired_jwt_is_refused_as_expired(client: TestClient) -> None:
    response = await client.post(WEBHOOK, json=BODY, headers=bearer(token(exp=time.time() - 5)))
    assert await error_of(response) == "the bearer JWT has expired (its exp is past); get a new one"
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="frontdesk", error="invalid_token"'
    )


async def test_a_jwt_signed_with_another_secret_is_refused(client: TestClient) -> None:
    forged = token(secret="another secret of 64 bytes or more, so that PyJWT does not warn on it")
    error = await error_of(await client.post(WEBHOOK, json=BODY, headers=bearer(forged)))
    assert error == (
        "the bearer JWT's signature does not match: sign it HS256 with the server's jwt_secret"
    )


async def test_a_jwt_with_another_algorithm_is_refused(client: TestClient) -> None:
    other = token(algorithm="HS512")
    error = await error_of(await client.post(WEBHOOK, json=BODY, headers=bearer(other)))
    assert error == (
        "the bearer JWT is signed with another algorithm; this server accepts HS256 only"
    )


async def test_an_unsigned_jwt_is_refused(client: TestClient) -> None:
    unsigned = jwt.encode({"user": "x"}, None, algorithm="none")
    error = await error_of(await client.post(WEBHOOK, json=BODY, headers=bearer(unsigned)))
    assert "this server accepts HS256 only" in error


async def test_a_token_that_is_not_a_jwt_is_refused_as_unreadable(client: TestClient) -> None:
    error = await error_of(await client.post(WEBHOOK, json=BODY, headers=bearer("not-a-jwt")))
    assert error.startswith("the bearer token is not a readable JWT (")
    assert "expected header.payload.signature in base64url" in error


async def test_a_jwt_not_valid_yet_is_refused(client: TestClient) -> None:
    early = token(nbf=time.time() + 3600)
    error = await error_of(await client.post(WEBHOOK, json=BODY, headers=bearer(early)))
    assert error.startswith("the bearer JWT is not valid yet")


async def test_another_authorization_scheme_is_refused(client: TestClient) -> None:
    headers = {"Authorization": "Basic YWRhOnNlY3JldA=="}
    error = await error_of(await client.post(WEBHOOK, json=BODY, headers=headers))
    assert error == "the Authorization header must be 'Bearer <JWT>', got scheme 'Basic'"


async def test_with_both_settings_either_the_token_or_a_jwt_is_enough(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    config = app_config(tmp_path, jwt_secret=SECRET, auth_token="s3cret")
    client = await aiohttp_client(create_app(config))
    for path in (WEBHOOK, PARSE):
        assert (await client.post(f"{path}?token=s3cret", json=BODY)).status == PAST_THE_CHECK
        response = await client.post(path, json=BODY, headers=bearer(token()))
        assert response.status == PAST_THE_CHECK
        error = await error_of(await client.post(path, json=BODY))
        assert error == (
            "this endpoint needs the channel token: add ?token=<auth_token> to the URL, or a "
            "JWT: send Authorization: Bearer <JWT signed HS256 with jwt_secret>"
        )
        # A wrong token with a good JWT still gets in; a bad JWT says what is wrong with it.
        response = await client.post(f"{path}?token=wrong", json=BODY, headers=bearer(token()))
        assert response.status == PAST_THE_CHECK
        forged = bearer(
            token(secret="another secret of 64 bytes or more, so that PyJWT does not warn on it")
        )
        error = await error_of(await client.post(f"{path}?token=wrong", json=BODY, headers=forged))
        assert "signature does not match" in error


async def test_without_a_jwt_secret_a_bearer_header_does_not_replace_the_token(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(app_config(tmp_path, auth_token="s3cret")))
    response = await client.post(WEBHOOK, json=BODY, headers=bearer(token()))
    assert await error_of(response) == (
        "this endpoint needs the channel token: add ?token=<auth_token> to the URL"
    )
