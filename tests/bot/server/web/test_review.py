"""The review queue's API on the real app: grouping, labels, counts and the gauges."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp.test_utils import TestClient

from bot.server.appkeys import CONFIG, RUNTIME, STORE
from bot.server.web.review import group_texts, refresh_gauges
from bot.storage.records import Understanding
from tests.bot.server.web.conftest import agent, login, make_user


async def misunderstood(client: TestClient, *texts: str) -> list[int]:
    store = client.app[STORE]
    ids = []
    for number, text in enumerate(texts):
        conversation = await store.conversation_for("rest", f"review-{number}")
        turn, _ = await store.add_user_turn(conversation.id, text)
        await store.record_reply(
            conversation.id,
            turn.id,
            [],
            route="fallback",
            understanding=Understanding(intent="nlu_fallback", confidence=0.2),
        )
        ids.append(turn.id)
    return ids


def test_grouping_puts_a_row_with_the_first_row_it_is_alike_enough() -> None:
    import numpy as np

    rows = np.array([[1.0, 0.0], [0.0, 1.0], [0.96, 0.28], [0.28, 0.96]], dtype="float32")
    assert group_texts(rows, 0.9) == [0, 1, 0, 1]
    assert group_texts(rows, 0.99) == [0, 1, 2, 3]


async def test_review_queue_groups_similar_messages(client: TestClient) -> None:
    await misunderstood(
        client,
        "the cash machine swallowed my card",
        "what is the capital of peru",
        "the ATM swallowed my bank card",
    )
    response = await client.get("/api/review", headers=await agent(client))
    assert response.status == 200
    body = await response.json()
    assert (body["total"], body["grouped_by"]) == (3, "encoder")
    first, second = body["groups"]
    assert sorted(item["text"] for item in first["items"]) == [
        "the ATM swallowed my bank card",
        "the cash machine swallowed my card",
    ]
    assert first["size"] == 2 and second["size"] == 1
    item = second["items"][0]
    assert (item["reason"], item["intent"], item["route"]) == (
        "fallback",
        "nlu_fallback",
        "fallback",
    )
    assert "order_status" in body["intents"]


async def test_the_queue_is_grouped_by_the_serving_index_and_follows_a_reload(
    client: TestClient,
) -> None:
    """No encoder of its own: the loaded index's. Reloaded without an index, the queue
    groups identical texts only; with one again, it groups by meaning again."""
    await misunderstood(client, "my card got swallowed", "My card  got swallowed", "card eaten")
    headers = await agent(client)

    async def grouped() -> tuple[str, list[int]]:
        body = await (await client.get("/api/review", headers=headers)).json()
        return body["grouped_by"], [group["size"] for group in body["groups"]]

    assert (await grouped())[0] == "encoder"
    index_dir: Path = client.app[CONFIG].index_path
    aside = index_dir.with_name("index-aside")
    index_dir.rename(aside)
    await client.app[RUNTIME].get().reload()
    assert client.app[RUNTIME].get().index is None
    assert await grouped() == ("text", [2, 1]), "identical but for case and spacing"

    aside.rename(index_dir)
    await client.app[RUNTIME].get().reload()
    assert (await grouped())[0] == "encoder"


async def test_the_review_page_runs_only_scripts_from_its_own_files(client: TestClient) -> None:
    """The shared helpers (common.js) load before the page scripts that use them, and the
    page has no inline script for the Content-Security-Policy to refuse."""
    await make_user(client.app, "ann", "agent")
    await login(client, "ann")
    response = await client.get("/console/review")
    assert response.status == 200
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    page = await response.text()
    sources = re.findall(r'<script src="([^"]+)" defer></script>', page)
    assert sources == ["/static/common.js", "/static/console.js", "/static/review.js"]
    assert page.count("<script") == len(sources)
    for source in sources:
        script = await client.get(source)
        assert script.status == 200, source


async def test_labelling_a_group_writes_corrections_and_empties_the_queue(
    client: TestClient,
) -> None:
    first, second = await misunderstood(client, "where's my parcel gone", "parcel where")
    headers = await agent(client)
    response = await client.post(
        "/api/review/labels",
        json={"turn_ids": [first, second], "kind": "intent", "intent": "order_status"},
        headers=headers,
    )
    assert response.status == 201, await response.text()
    labels = (await response.json())["labels"]
    assert [(label["turn_id"], label["intent"]) for label in labels] == [
        (first, "order_status"),
        (second, "order_status"),
    ]
    assert (await (await client.get("/api/review", headers=headers)).json())["total"] == 0
    admin = await agent(client, "root", "admin")
    exported = await (await client.get("/api/feedback/corrections.csv", headers=admin)).text()
    assert exported.splitlines()[1:] == [
        "where's my parcel gone,order_status",
        "parcel where,order_status",
    ]


async def test_out_of_scope_and_dismissals_leave_the_queue_too(client: TestClient) -> None:
    weather, noise = await misunderstood(client, "weather in oslo?", "ok")
    headers = await agent(client)
    for turn_id, body in ((weather, {"kind": "out_of_scope"}), (noise, {"kind": "dismissed"})):
        response = await client.post(
            "/api/review/labels", json={"turn_ids": [turn_id], **body}, headers=headers
        )
        assert response.status == 201, await response.text()
    counts = await (await client.get("/api/review/counts?days=2", headers=headers)).json()
    assert counts["queue_length"] == 0
    assert [day["misunderstood"] for day in counts["days"]] == [0, 2]
    assert counts["days"][-1]["reviewed"] == 2


async def test_a_wrong_label_is_a_4xx_naming_the_field(client: TestClient) -> None:
    [turn_id] = await misunderstood(client, "hmm")
    headers = await agent(client)
    cases = [
        ({"turn_ids": [turn_id], "kind": "intent", "intent": "no_such"}, 400, "'intent'"),
        ({"turn_ids": [turn_id], "kind": "guess"}, 400, "'kind'"),
        ({"turn_ids": [], "kind": "dismissed"}, 400, "'turn_ids'"),
        ({"turn_ids": ["1"], "kind": "dismissed"}, 400, "'turn_ids'"),
        ({"turn_ids": [987654], "kind": "dismissed"}, 404, "no turn 987654"),
        ({"turn_ids": [turn_id], "kind": "answer", "qa_id": "qa-nope"}, 400, "'qa_id'"),
    ]
    for body, status, named in cases:
        response = await client.post("/api/review/labels", json=body, headers=headers)
        assert response.status == status, (body, await response.text())
        assert named in (await response.json())["error"]
    ops = await agent(client, "olga", "ops")
    response = await client.post(
        "/api/review/labels", json={"turn_ids": [turn_id], "kind": "dismissed"}, headers=ops
    )
    assert response.status == 403
    assert (await client.get("/api/review/counts?days=0", headers=ops)).status == 400


async def test_the_queue_length_and_the_model_age_are_prometheus_gauges(
    client: TestClient,
) -> None:
    await misunderstood(client, "blorp", "blip")
    await refresh_gauges(client.app)
    text = await (await client.get("/metrics")).text()
    assert "frontdesk_review_queue_length 2.0" in text
    [age] = [line for line in text.splitlines() if line.startswith("frontdesk_intent_model_age")]
    assert float(age.split()[-1]) > 0
