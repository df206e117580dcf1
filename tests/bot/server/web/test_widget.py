"""The widget's server side: script and demo page, conversation tokens, the WebSocket chat,
reconnecting without loss or duplicates, and one token reading only its own conversation."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from bot.chat.execution import DEFAULT_STAFF_OFFLINE
from bot.server.appkeys import STORE
from bot.server.web.auth import digest
from tests.bot.server.web.conftest import (
    accounts,
    bearer,
    drain,
    open_widget,
    receive_until,
    widget_token,
)


async def test_widget_script_and_demo_page_are_served(client: TestClient) -> None:
    script = await client.get("/widget.js")
    assert script.status == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert script.headers["Access-Control-Allow-Origin"] == "*"
    source = await script.text()
    assert "innerHTML" not in source, "message text is only ever set with textContent"
    assert (await client.get("/widget.css")).status == 200
    page = await client.get("/")
    html = await page.text()
    assert '<script src="/widget.js" defer' in html
    assert "data-title=" in html and "data-colour=" in html and "data-greeting=" in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_session_tokens_are_unguessable_stored_hashed_and_resumable(
    client: TestClient,
) -> None:
    first = await widget_token(client)
    second = await widget_token(client)
    assert first != second and len(first) >= 40
    resumed = await client.post("/widget/session", json={"token": first})
    assert (await resumed.json()) == {"token": first, "resumed": True}
    unknown = await client.post("/widget/session", json={"token": "made-up"})
    assert unknown.status == 201 and (await unknown.json())["token"] != "made-up"
    async with client.app[STORE].engine.connect() as conn:
        stored = [
            row[0] for row in await conn.execute(text("SELECT token_hash FROM conversation_tokens"))
        ]
    assert first not in stored and len(stored) == 3


async def test_a_conversation_over_the_socket(client: TestClient) -> None:
    token = await widget_token(client)
    ws = await open_widget(client, token)
    assert (await ws.receive_json()) == {
        "type": "status",
        "status": "bot",
        "rating_requested": False,
    }
    await ws.send_json({"type": "message", "text": "hello there", "client_id": "c1"})
    events = await receive_until(ws, lambda e: e.get("role") == "bot")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "typing" and events[0]["on"] is True
    user = next(e for e in events if e.get("role") == "user")
    assert (user["text"], user["client_id"]) == ("hello there", "c1")
    bot = events[-1]
    assert {"title": "Talk to a person", "payload": "I want to talk to a human"} in bot["buttons"]
    assert bot["id"] > user["id"]
    await ws.close()


async def test_bad_messages_get_an_error_and_store_nothing(client: TestClient) -> None:
    token = await widget_token(client)
    ws = await open_widget(client, token)
    await ws.receive_json()
    for message in (
        {"type": "message", "text": "   ", "client_id": "a"},
        {"type": "message", "text": "x" * 6000, "client_id": "b"},
        {"type": "message", "text": "hi", "client_id": "c" * 500},
        {"type": "dance"},
    ):
        await ws.send_json(message)
        event = (await receive_until(ws, lambda e: e["type"] == "error"))[-1]
        assert event["error"]
    await ws.send_str("not json")
    assert (await receive_until(ws, lambda e: e["type"] == "error"))[-1][
        "error"
    ] == "send JSON objects"
    assert await client.app[STORE].count_turns() == 0
    await ws.close()


async def test_reconnect_resends_and_catches_up_without_duplicates(client: TestClient) -> None:
    token = await widget_token(client)
    ws = await open_widget(client, token)
    await ws.send_json({"type": "message", "text": "I want to talk to a human", "client_id": "c1"})
    events = await receive_until(ws, lambda e: e.get("role") == "bot")
    last_id = max(e["id"] for e in events if e["type"] == "turn")
    await ws.close()

    # While the customer is away, an agent answers.
    conversation = await accounts(client.app).conversation_for_token(digest(token))
    assert conversation is not None
    await client.app[STORE].add_agent_turn(conversation.id, "ann", "Are you still there?")

    again = await open_widget(client, token, after=last_id)
    # The client was not sure its last message arrived, so it sends it again.
    await again.send_json(
        {"type": "message", "text": "I want to talk to a human", "client_id": "c1"}
    )
    seen = await drain(again, quiet=1.5)
    turns = [e for e in seen if e["type"] == "turn"]
    # What came after the hand-off: the note that nobody was in the console, then the agent.
    assert [t["text"] for t in turns] == [DEFAULT_STAFF_OFFLINE, "Are you still there?"]
    assert all(t["id"] > last_id for t in turns)
    assert await client.app[STORE].count_turns() == 4, "the resent message was stored once"
    await again.close()

    # A reload starts from nothing and gets the whole conversation, once.
    fresh = await open_widget(client, token)
    turns = [e for e in await drain(fresh) if e["type"] == "turn"]
    assert [t["role"] for t in turns] == ["user", "bot", "bot", "agent"]
    assert len({t["id"] for t in turns}) == 4
    await fresh.close()


async def test_a_token_reads_only_its_own_conversation(client: TestClient) -> None:
    mine, theirs = await widget_token(client), await widget_token(client)
    other = await open_widget(client, theirs)
    await other.send_json(
        {"type": "message", "text": "where is my order NW-10003", "client_id": "o"}
    )
    await receive_until(other, lambda e: e.get("role") == "bot")

    ws = await open_widget(client, mine)
    assert [e for e in await drain(ws) if e["type"] == "turn"] == []
    await ws.send_json({"type": "message", "text": "hello there", "client_id": "m"})
    events = await receive_until(ws, lambda e: e.get("role") == "bot")
    assert "NW-10003" not in str(events)
    assert [e for e in await drain(other) if e["type"] == "turn"] == [], "no cross-talk"

    turns = await client.get("/widget/turns", headers={"X-Conversation-Token": mine})
    texts = [t["text"] for t in (await turns.json())["turns"]]
    assert "hello there" in texts and "where is my order NW-10003" not in texts

    for bad in ("guess", f"{mine}x"):
        refused = await open_widget(client, bad)
        assert (await refused.receive_json())["code"] == "token_unknown"
        assert (await refused.receive()).data == 4401
        guessed = await client.get("/widget/turns", headers={"X-Conversation-Token": bad})
        assert guessed.status == 401
    assert (await client.get("/widget/turns")).status == 401
    theirs_conversation = await accounts(client.app).conversation_for_token(digest(theirs))
    assert theirs_conversation is not None
    conversation_id = theirs_conversation.id
    staff_api = await client.get(f"/api/conversations/{conversation_id}", headers=bearer(mine))
    assert staff_api.status == 401, "a conversation token is not a staff token"
    await ws.close()
    await other.close()
