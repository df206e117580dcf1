"""Several `frontdesk serve` instances sharing PostgreSQL and Redis behave as one bot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.server.app import create_app
from bot.server.appkeys import RUNTIME, STORE
from bot.storage import StoreError
from tests.conftest import TinyModels, app_config


async def start(
    aiohttp_client: Any, tmp_path: Path, models: TinyModels, **settings: Any
) -> TestClient:
    app = create_app(app_config(tmp_path, models_dir=models.models_dir, **settings))
    client: TestClient = await aiohttp_client(app)
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    return client


async def test_one_conversation_split_over_two_instances_stays_in_order(
    aiohttp_client: Any,
    tmp_path: Path,
    tiny_models: TinyModels,
    postgres_url: str,
    redis_url: str,
) -> None:
    shared = {"database_url": postgres_url, "redis_url": redis_url}
    first = await start(aiohttp_client, tmp_path / "a", tiny_models, **shared)
    second = await start(aiohttp_client, tmp_path / "b", tiny_models, **shared)
    texts = ["hi", "thanks", "hey", "cheers", "hello", "thanks a lot"]

    async def say(client: TestClient, text: str) -> None:
        response = await client.post(
            "/webhooks/rest/webhook", json={"sender": "shared", "message": text}
        )
        assert response.status == 200

    await asyncio.gather(*(say(first if i % 2 else second, text) for i, text in enumerate(texts)))
    store = first.app[STORE]
    conversation = await store.conversation_for("rest", "shared")
    turns = await store.turns(conversation.id)
    assert [t.role for t in turns] == ["user", "bot"] * len(texts)
    for user, bot in zip(turns[::2], turns[1::2], strict=True):
        assert bot.reply_to == user.id
    assert sorted(t.text for t in turns if t.role == "user") == sorted(texts)


async def test_unreachable_redis_stops_the_start_with_the_setting_to_fix(tmp_path: Path) -> None:
    runner = web.AppRunner(create_app(app_config(tmp_path, redis_url="redis://127.0.0.1:1/0")))
    with pytest.raises(StoreError) as raised:
        await runner.setup()
    await runner.cleanup()
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in str(raised.value)
    assert "fix redis_url" in str(raised.value)
