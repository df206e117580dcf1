"""/model/parse in Rasa's shape, readiness and Prometheus metrics, on the real app."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.appkeys import RUNTIME, STORE
from tests.conftest import TinyModels, app_config


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels) -> TestClient:
    app = create_app(app_config(tmp_path, models_dir=tiny_models.models_dir))
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    return client


async def parse(client: TestClient, text: str) -> dict[str, Any]:
    response = await client.post("/model/parse", json={"text": text})
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_parse_returns_rasa_shape_with_ranking_entities_and_sentiment(
    client: TestClient,
) -> None:
    body = await parse(client, "where is my order NW-10003")
    assert body["text"] == "where is my order NW-10003"
    assert body["intent"]["name"] == "order_status"
    ranking = body["intent_ranking"]
    assert ranking[0] == body["intent"]
    confidences = [item["confidence"] for item in ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert {item["name"] for item in ranking} >= {"order_status", "greet", "thanks"}
    [entity] = body["entities"]
    assert entity["entity"] == "order_id"
    assert entity["value"] == "NW-10003"
    assert body["text"][entity["start"] : entity["end"]] == "NW-10003"
    assert body["sentiment"]["label"] in {"negative", "neutral", "positive"}


async def test_parse_names_out_of_scope_text_nlu_fallback(client: TestClient) -> None:
    body = await parse(client, "what is the weather in paris")
    assert body["intent"]["name"] == "nlu_fallback"
    assert body["intent_ranking"][0]["name"] == "nlu_fallback"
    assert body["intent_ranking"][1]["name"] == "out_of_scope"


async def test_parse_does_not_store_anything(client: TestClient) -> None:
    await parse(client, "hello there")
    assert await client.app[STORE].count_turns() == 0


async def test_readyz_reports_models_and_store_once_loaded(client: TestClient) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body["ready"] is True
    assert body["store"] is True
    assert body["index_entries"] == 8


async def test_readyz_is_503_with_the_reason_when_models_are_missing(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    app = create_app(app_config(tmp_path))
    client = await aiohttp_client(app)
    for _ in range(100):
        if app[RUNTIME].error:
            break
        await asyncio.sleep(0.05)
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["ready"] is False
    assert "does not exist; train one with 'frontdesk train intent" in body["error"]


async def test_metrics_count_requests_routes_and_batches(client: TestClient) -> None:
    await client.post("/webhooks/rest/webhook", json={"sender": "m", "message": "hello there"})
    await client.post("/webhooks/rest/webhook", json={"sender": "m", "message": ""})
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert 'frontdesk_dialogue_routes_total{route="template"} 1.0' in text
    assert 'frontdesk_http_errors_total{route="/webhooks/rest/webhook",status="400"} 1.0' in text
    assert 'frontdesk_model_batch_size_count{model="intent"} 1.0' in text
    assert 'frontdesk_model_batch_size_count{model="sentiment"} 1.0' in text
    assert "frontdesk_http_request_seconds_bucket" in text
    assert "frontdesk_ready 1.0" in text


async def test_button_payload_names_its_intent_and_entities(client: TestClient) -> None:
    body = await parse(client, '/order_status{"order_id": "NW-10002"}')
    assert body["intent"] == {"name": "order_status", "confidence": 1.0}
    assert body["entities"][0]["entity"] == "order_id"
    assert body["entities"][0]["value"] == "NW-10002"


async def test_slash_text_for_an_unknown_intent_is_classified_as_text(client: TestClient) -> None:
    body = await parse(client, "/usr/bin/python")
    assert body["intent"]["confidence"] < 1.0
