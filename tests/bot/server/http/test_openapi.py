"""/openapi.json: an OpenAPI 3.1 document built from the route table, valid, and complete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.http.openapi import NOT_DOCUMENTED, OPERATIONS, routes
from tests.bot.server.http.test_openapi_fuzz import operations_of
from tests.conftest import app_config

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    return await aiohttp_client(create_app(app_config(tmp_path)))


async def document(client: TestClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert isinstance(body, dict)
    return body


async def test_the_document_is_valid_openapi_3_1(client: TestClient) -> None:
    doc = await document(client)
    assert doc["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()
    labels = {operation.label for operation in operations_of(schema)}
    assert "POST /webhooks/rest/webhook" in labels
    assert "PATCH /api/admin/users/{user_id}" in labels


async def test_every_route_is_documented_or_listed_as_outside_the_api(
    client: TestClient,
) -> None:
    served = {(method, path) for method, path, _ in routes(client.app)}
    assert served - OPERATIONS.keys() - NOT_DOCUMENTED.keys() == set()
    assert (OPERATIONS.keys() | NOT_DOCUMENTED.keys()) - served == set(), "stale entries"
    doc = await document(client)
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert documented == set(OPERATIONS)


async def test_pages_sockets_and_static_files_are_left_out(client: TestClient) -> None:
    paths = (await document(client))["paths"]
    for left_out in ("/", "/widget/ws", "/console/ws", "/console/", "/ops/", "/widget.js"):
        assert left_out not in paths
    assert not [p for p in paths if p.startswith("/static") or p.startswith("/ops/static")]


async def test_staff_operations_take_a_bearer_token_or_the_session_and_say_401_and_403(
    client: TestClient,
) -> None:
    doc = await document(client)
    operation = doc["paths"]["/api/admin/users"]["post"]
    assert operation["security"] == [{"bearerToken": []}, {"sessionCookie": []}]
    assert operation["description"].startswith("Staff roles: admin.")
    for status in ("401", "403", "400", "413", "415", "409"):
        assert operation["responses"][status]["content"]["application/json"]["schema"] == ERROR_REF
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A staff API token (frontdesk token create NAME).",
    }
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert schemes["sessionCookie"]["name"] == "frontdesk_session"


async def test_the_error_shape_is_one_schema(client: TestClient) -> None:
    error = (await document(client))["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error", "status"]
    assert error["properties"]["error"]["type"] == "string"
    assert error["properties"]["status"]["type"] == "integer"


async def test_path_parameters_carry_their_types(client: TestClient) -> None:
    paths = (await document(client))["paths"]
    [alert_id] = paths["/api/alerts/{alert_id}/ack"]["post"]["parameters"]
    assert alert_id == {
        "name": "alert_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    }
    [conversation_id] = paths["/api/conversations/{conversation_id}"]["get"]["parameters"]
    assert conversation_id["schema"]["type"] == "string"
    assert "404" in paths["/api/conversations/{conversation_id}"]["get"]["responses"]


async def test_bodies_come_from_the_handlers_types(client: TestClient) -> None:
    schemas = (await document(client))["components"]["schemas"]
    message = schemas["RestMessage"]
    assert sorted(message["required"]) == ["message", "sender"]
    assert message["properties"]["sender"] == {
        "anyOf": [{"type": "string"}, {"type": "integer"}],
        "title": "Sender",
    }
    reply = schemas["RestReply"]
    assert reply["required"] == ["recipient_id"]
    assert reply["properties"]["buttons"]["items"] == {"$ref": "#/components/schemas/Button"}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/webhooks/rest/webhook", "post"),
        ("/model/parse", "post"),
        ("/api/login", "post"),
        ("/widget/session", "post"),
    ],
)
async def test_rate_limited_operations_document_429(
    client: TestClient, path: str, method: str
) -> None:
    responses = (await document(client))["paths"][path][method]["responses"]
    assert responses["429"]["description"].startswith("Too many requests")


async def test_an_open_channel_needs_no_credentials(client: TestClient) -> None:
    webhook = (await document(client))["paths"]["/webhooks/rest/webhook"]["post"]
    assert webhook["security"] == [{}]


async def test_the_channel_security_follows_the_settings(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    config = app_config(tmp_path, auth_token="s3cret", jwt_secret="j" * 32)
    client = await aiohttp_client(create_app(config))
    doc = await document(client)
    for path in ("/webhooks/rest/webhook", "/model/parse"):
        operation = doc["paths"][path]["post"]
        assert operation["security"] == [{"channelToken": []}, {"channelJwt": []}]
        assert "401" in operation["responses"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["channelToken"]["in"] == "query"
    assert schemes["channelToken"]["name"] == "token"
    assert schemes["channelJwt"]["bearerFormat"] == "JWT"
