"""bot.server.fleet: a saved answer and a reload reach every process of the fleet."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import delete

from bot.server.app import create_app
from bot.server.appkeys import RUNTIME, STORE
from bot.server.fleet import AnswerSync, announce_reload, shares_store
from bot.storage import Store
from bot.storage.feedback import FeedbackStore
from bot.storage.staff_schema import saved_answers
from tests.conftest import TinyModels, app_config

QUESTION = "do you sell gift wrapping for birthdays"
ANSWER = "Yes: tick 'gift wrap' at checkout, it costs 3 EUR."


async def two_servers(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels, **settings: Any
) -> list[TestClient]:
    clients = []
    for name in ("one", "two"):
        # Each with its own copy of the index files, as replicas built from one image.
        models = tmp_path / name / "models"
        shutil.copytree(tiny_models.models_dir, models)
        config = app_config(tmp_path / name, models_dir=models, **settings)
        client = await aiohttp_client(create_app(config))
        await client.app[RUNTIME].ready.wait()
        clients.append(client)
    return clients


async def wait_for(condition: Any, seconds: float = 60.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.05)


def top_answer(client: TestClient, question: str) -> str | None:
    index = client.app[RUNTIME].get().index
    assert index is not None
    hits = index.search(question, k=1)
    return hits[0].answer if hits else None


async def test_an_answer_saved_on_one_server_is_found_on_the_other(
    postgres_url: str, aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    one, two = await two_servers(aiohttp_client, tmp_path, tiny_models, database_url=postgres_url)
    feedback = FeedbackStore(one.app[STORE].engine)
    await feedback.save_answer("qa-gift", QUESTION, ANSWER, None, "ann", None)

    await wait_for(lambda: top_answer(two, QUESTION) == ANSWER)
    # Corrected on the other server: the first follows.
    await FeedbackStore(two.app[STORE].engine).save_answer(
        "qa-gift", QUESTION, "Yes, for 2 EUR.", None, "bob", None
    )
    await wait_for(lambda: top_answer(one, QUESTION) == "Yes, for 2 EUR.")
    index = one.app[RUNTIME].get().index
    assert index is not None and len([p for p in index.pairs() if p.id == "qa-gift"]) == 1


async def test_a_server_started_later_has_every_saved_answer(
    postgres_url: str, tmp_path: Path, tiny_models: TinyModels, aiohttp_client: Any
) -> None:
    store = await Store.open(postgres_url)
    try:
        await FeedbackStore(store.engine).save_answer(
            "qa-gift", QUESTION, ANSWER, None, "ann", None
        )
    finally:
        await store.close()
    # A replica recreated from its image: its index files never saw the answer.
    late, _ = await two_servers(aiohttp_client, tmp_path, tiny_models, database_url=postgres_url)
    await wait_for(lambda: top_answer(late, QUESTION) == ANSWER)


async def test_an_answer_taken_back_leaves_every_index(
    tmp_path: Path, tiny_models: TinyModels, sqlite_url: str, aiohttp_client: Any
) -> None:
    config = app_config(tmp_path, models_dir=tiny_models.models_dir, database_url=sqlite_url)
    client = await aiohttp_client(create_app(config))
    await client.app[RUNTIME].ready.wait()
    sync = AnswerSync(client.app[STORE].engine, client.app[RUNTIME])
    feedback = FeedbackStore(client.app[STORE].engine)
    await feedback.save_answer("qa-gift", QUESTION, ANSWER, None, "ann", None)
    assert await sync.sync() == 1
    assert top_answer(client, QUESTION) == ANSWER

    async with client.app[STORE].engine.begin() as conn:
        await conn.execute(delete(saved_answers))
    for _ in range(4):  # removals are looked for every few rounds
        await sync.sync()
    index = client.app[RUNTIME].get().index
    assert index is not None and index.get("qa-gift") is None


def test_only_a_shared_store_is_followed(tmp_path: Path) -> None:
    assert shares_store(app_config(tmp_path)) is False, "one process on SQLite is its own fleet"
    assert shares_store(app_config(tmp_path, redis_url="redis://127.0.0.1:6379/0")) is True
    assert (
        shares_store(app_config(tmp_path, database_url="postgresql+asyncpg://u@127.0.0.1/db"))
        is True
    )


async def test_a_reload_announced_through_redis_reaches_every_server(
    postgres_url: str,
    redis_url: str,
    aiohttp_client: Any,
    tmp_path: Path,
    tiny_models: TinyModels,
) -> None:
    clients = await two_servers(
        aiohttp_client, tmp_path, tiny_models, database_url=postgres_url, redis_url=redis_url
    )
    before = [c.app[RUNTIME].get().loaded for c in clients]
    heard = await announce_reload(clients[0].app[RUNTIME].get().config)
    assert heard >= 2
    await wait_for(
        lambda: all(
            c.app[RUNTIME].get().loaded is not old for c, old in zip(clients, before, strict=True)
        )
    )
