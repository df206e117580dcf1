"""The live-event hub: in-process fan-out, and Redis fan-out between processes (real Redis)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.server.appkeys import RUNTIME
from bot.server.events import EventHub, RedisEventHub
from bot.server.web.auth import digest
from tests.bot.server.web.conftest import (
    accounts,
    bearer,
    make_token,
    make_user,
    open_widget,
    receive_until,
    web_config,
    widget_token,
)
from tests.conftest import TinyModels


async def test_in_process_hub_delivers_to_subscribers_of_the_topic_only() -> None:
    hub = EventHub()
    with hub.subscribe("a") as a, hub.subscribe("b") as b:
        await hub.publish("a", {"type": "changed"})
        assert await asyncio.wait_for(a.get(), 1) == {"type": "changed", "topic": "a"}
        assert b.empty()
    assert hub.subscriber_count("a") == 0


@pytest.mark.redis
async def test_redis_hub_fans_out_between_two_hubs(redis_url: str) -> None:
    one, two = RedisEventHub(redis_url), RedisEventHub(redis_url)
    await one.start()
    await two.start()
    try:
        with one.subscribe("t") as heard_by_one, two.subscribe("t") as heard_by_two:
            await one.publish("t", {"type": "changed", "n": 1})
            assert (await asyncio.wait_for(heard_by_two.get(), 5))["n"] == 1
            assert (await asyncio.wait_for(heard_by_one.get(), 5))["n"] == 1
    finally:
        await one.close()
        await two.close()


@pytest.mark.redis
async def test_staff_reply_on_one_server_reaches_a_widget_on_another(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels, redis_url: str
) -> None:
    from bot.server.app import create_app

    # Two processes' worth of app, sharing the database and Redis, as behind a load balancer.
    config = web_config(tmp_path, tiny_models, redis_url=redis_url)
    first = await aiohttp_client(create_app(config))
    second = await aiohttp_client(create_app(config))
    for client in (first, second):
        await asyncio.wait_for(client.app[RUNTIME].ready.wait(), timeout=120)

    agent = await make_user(first.app, "ann", "agent")
    headers = bearer(await make_token(first.app, agent))
    console = await first.ws_connect("/console/ws", headers=headers)

    token = await widget_token(second)
    widget = await open_widget(second, token)
    await widget.send_json(
        {"type": "message", "text": "I want to talk to a human", "client_id": "1"}
    )
    await receive_until(widget, lambda e: e.get("role") == "bot")
    conversation = await accounts(second.app).conversation_for_token(digest(token))
    assert conversation is not None
    # The console on the first server hears about the hand-off on the second.
    await receive_until(console, lambda e: e.get("conversation_id") == conversation.id)

    response = await first.post(
        f"/api/conversations/{conversation.id}/reply",
        json={"text": "Hello from Ann"},
        headers=headers,
    )
    assert response.status == 201
    events = await receive_until(widget, lambda e: e.get("role") == "agent", timeout=10)
    assert events[-1]["text"] == "Hello from Ann"
    await widget.close()
    await console.close()
