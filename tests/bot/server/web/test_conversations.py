"""bot.server.web.conversations: the hand-off workflow through the JSON APIs, on the real app
with tiny real models: queue, claim, reply (live in the widget), notes, resolve, rating and
hand back."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from bot.chat.execution import DEFAULT_STAFF_OFFLINE
from tests.bot.server.web.conftest import agent, drain, handed_off, receive_until


async def test_queue_shows_reason_waiting_time_last_message_and_sentiment(
    client: TestClient,
) -> None:
    ws, _ = await handed_off(client)
    response = await client.get("/api/escalations", headers=await agent(client))
    [item] = (await response.json())["escalations"]
    assert item["reason"] == "asked_for_human"
    assert item["status"] == "open" and item["assignee"] is None
    assert item["waiting_s"] >= 0
    # Nobody was in the console when the customer asked, and the bot said so last.
    assert item["last_message"]["role"] == "bot"
    assert item["last_message"]["text"] == DEFAULT_STAFF_OFFLINE
    assert item["sentiment"] in {"negative", "neutral", "positive"}
    await ws.close()


async def test_claim_reply_note_resolve_and_rating(client: TestClient) -> None:
    ws, conversation_id = await handed_off(client)
    headers = await agent(client)
    [item] = (await (await client.get("/api/escalations", headers=headers)).json())["escalations"]

    claimed = await client.post(f"/api/escalations/{item['id']}/claim", headers=headers)
    assert (await claimed.json()) == {"id": item["id"], "status": "claimed", "assignee": "ann"}

    reply = await client.post(
        f"/api/conversations/{conversation_id}/reply",
        json={"text": "Hi, Ann here. Let me look."},
        headers=headers,
    )
    assert reply.status == 201
    events = await receive_until(ws, lambda e: e.get("role") == "agent")
    assert events[-1]["text"] == "Hi, Ann here. Let me look."
    assert "intent" not in events[-1], "customers do not see the bot's decisions"

    note = await client.post(
        f"/api/conversations/{conversation_id}/notes",
        json={"text": "VIP customer"},
        headers=headers,
    )
    assert note.status == 201
    assert not [e for e in await drain(ws) if e.get("type") == "turn"], "notes stay internal"

    detail = await (
        await client.get(f"/api/conversations/{conversation_id}", headers=headers)
    ).json()
    user_turn = detail["turns"][0]
    assert (user_turn["role"], user_turn["intent"], user_turn["route"]) == (
        "user",
        "human_handoff",
        "handoff",
    )
    assert 0 < user_turn["confidence"] <= 1
    assert user_turn["answer_source"] == "handoff:asked_for_human"
    # The hand-off, the note that nobody was in the console yet, the agent's reply.
    assert [t["role"] for t in detail["turns"]] == ["user", "bot", "bot", "agent"]
    assert detail["notes"][0]["text"] == "VIP customer"
    assert "human_handoff" in detail["intents"]

    resolved = await client.post(f"/api/conversations/{conversation_id}/resolve", headers=headers)
    assert (await resolved.json())["status"] == "resolved"
    await receive_until(ws, lambda e: e.get("type") == "status" and e["rating_requested"])

    await ws.send_json({"type": "rating", "score": 6})
    assert (await receive_until(ws, lambda e: e["type"] == "error"))[-1]["type"] == "error"
    await ws.send_json({"type": "rating", "score": 4})
    await receive_until(ws, lambda e: e["type"] == "rated")
    await receive_until(ws, lambda e: e.get("type") == "status" and not e["rating_requested"])
    await ws.send_json({"type": "rating", "score": 5})
    error = (await receive_until(ws, lambda e: e["type"] == "error"))[-1]
    assert "already been rated" in error["error"]

    detail = await (
        await client.get(f"/api/conversations/{conversation_id}", headers=headers)
    ).json()
    assert detail["escalation"]["status"] == "resolved"
    assert detail["escalation"]["rating"] == 4
    queue = await (await client.get("/api/escalations", headers=headers)).json()
    assert queue["escalations"] == []
    await ws.close()


async def test_claiming_a_closed_escalation_conflicts(client: TestClient) -> None:
    ws, conversation_id = await handed_off(client)
    headers = await agent(client)
    [item] = (await (await client.get("/api/escalations", headers=headers)).json())["escalations"]
    await client.post(f"/api/conversations/{conversation_id}/resolve", headers=headers)
    response = await client.post(f"/api/escalations/{item['id']}/claim", headers=headers)
    assert response.status == 409
    missing = await client.post("/api/escalations/999/claim", headers=headers)
    assert missing.status == 404
    await ws.close()


async def test_hand_back_lets_the_bot_answer_again(client: TestClient) -> None:
    ws, conversation_id = await handed_off(client)
    headers = await agent(client)
    await ws.send_json({"type": "message", "text": "hello there", "client_id": "m2"})
    await receive_until(ws, lambda e: e.get("client_id") == "m2")
    assert not [e for e in await drain(ws) if e.get("role") == "bot"], "the bot stays quiet"

    response = await client.post(f"/api/conversations/{conversation_id}/handback", headers=headers)
    assert (await response.json())["status"] == "bot"
    await receive_until(ws, lambda e: e.get("role") == "system")
    await ws.send_json({"type": "message", "text": "hello there", "client_id": "m3"})
    events = await receive_until(ws, lambda e: e.get("role") == "bot")
    assert events[-1]["buttons"], "a template answer with its quick replies"
    detail = await (
        await client.get(f"/api/conversations/{conversation_id}", headers=headers)
    ).json()
    assert detail["escalation"]["status"] == "handed_back"
    await ws.close()
