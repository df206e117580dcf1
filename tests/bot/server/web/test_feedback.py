"""bot.server.web.feedback: what staff teach the bot through the JSON APIs, on the real app
with tiny real models: intent corrections, feedback export, and saved answers that the index
finds at once."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.commands.staff import export_feedback
from bot.server.appkeys import RUNTIME
from retrieval.index import read_stamp
from tests.bot.server.web.conftest import (
    agent,
    handed_off,
    open_widget,
    receive_until,
    widget_token,
)


async def test_intent_correction_is_stored_and_exported_in_the_training_format(
    client: TestClient, tmp_path: Path
) -> None:
    ws, conversation_id = await handed_off(client)
    headers = await agent(client)
    detail = await (
        await client.get(f"/api/conversations/{conversation_id}", headers=headers)
    ).json()
    user_turn, bot_turn = detail["turns"][0], detail["turns"][1]

    bad = await client.post(
        f"/api/turns/{user_turn['id']}/correction", json={"intent": "no_such"}, headers=headers
    )
    assert bad.status == 400
    on_bot = await client.post(
        f"/api/turns/{bot_turn['id']}/correction", json={"intent": "greet"}, headers=headers
    )
    assert on_bot.status == 400
    fixed = await client.post(
        f"/api/turns/{user_turn['id']}/correction", json={"intent": "greet"}, headers=headers
    )
    assert fixed.status == 201
    correction = (await fixed.json())["correction"]
    assert (correction["predicted_intent"], correction["intent"]) == ("human_handoff", "greet")
    # A second correction replaces the first.
    await client.post(
        f"/api/turns/{user_turn['id']}/correction", json={"intent": "thanks"}, headers=headers
    )
    detail = await (
        await client.get(f"/api/conversations/{conversation_id}", headers=headers)
    ).json()
    assert detail["turns"][0]["corrected_intent"] == "thanks"

    ops = await agent(client, "otto", "ops")
    exported = await client.get("/api/feedback/corrections.csv", headers=ops)
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await exported.text())))
    assert rows == [{"text": "I want to talk to a human", "intent": "thanks"}]

    out = tmp_path / "feedback"
    summary = await export_feedback(_config(client), out)
    assert summary["corrections"] == 1
    assert (
        out / "corrections.csv"
    ).read_text() == "text,intent\nI want to talk to a human,thanks\n"
    assert (out / "answers.csv").read_text() == "question,answer,intent\n"
    await ws.close()


def _config(client: TestClient) -> Any:
    from bot.server.appkeys import CONFIG

    return client.app[CONFIG]


async def test_saved_staff_answer_is_retrievable_at_once_and_saved_to_disk(
    client: TestClient, tmp_path: Path
) -> None:
    ws, conversation_id = await handed_off(client)
    headers = await agent(client)
    await ws.send_json(
        {"type": "message", "text": "Do you sell replacement kettle lids?", "client_id": "q"}
    )
    await receive_until(ws, lambda e: e.get("client_id") == "q")
    answer = "Yes: replacement lids for every kettle are under Spare parts, 6 EUR each."
    reply = await client.post(
        f"/api/conversations/{conversation_id}/reply", json={"text": answer}, headers=headers
    )
    turn_id = (await reply.json())["turn"]["id"]
    config = _config(client)
    before = read_stamp(config.index_path)

    saved = await client.post(f"/api/turns/{turn_id}/save-answer", json={}, headers=headers)
    assert saved.status == 201, await saved.text()
    body = (await saved.json())["answer"]
    assert body["question"] == "Do you sell replacement kettle lids?"
    assert body["status"] == "live", "without answers_need_approval nobody needs to approve"

    index = client.app[RUNTIME].get().index
    assert index is not None
    [best, *_] = index.search("Do you sell replacement kettle lids?")
    assert (best.id, best.answer) == (body["id"], answer)
    assert read_stamp(config.index_path) != before, "the index on disk was rewritten"

    ops = await agent(client, "otto", "ops")
    exported = await (await client.get("/api/feedback/answers.csv", headers=ops)).text()
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert row["answer"] == answer

    not_agent = await client.post(f"/api/turns/{turn_id - 1}/save-answer", json={}, headers=headers)
    assert not_agent.status == 400
    await ws.close()


async def test_the_bot_answers_the_new_question_from_the_saved_answer(client: TestClient) -> None:
    ws, conversation_id = await handed_off(client)
    headers = await agent(client)
    question = "Can I pay with a gift card from your Berlin store?"
    answer = "Yes, gift cards from our stores work online too."
    await ws.send_json({"type": "message", "text": question, "client_id": "q"})
    await receive_until(ws, lambda e: e.get("client_id") == "q")
    reply = await client.post(
        f"/api/conversations/{conversation_id}/reply", json={"text": answer}, headers=headers
    )
    turn_id = (await reply.json())["turn"]["id"]
    assert (await client.post(f"/api/turns/{turn_id}/save-answer", headers=headers)).status == 201
    await ws.close()

    other = await open_widget(client, await widget_token(client))
    await other.send_json({"type": "message", "text": question, "client_id": "x"})
    events = await receive_until(other, lambda e: e.get("role") == "bot")
    assert events[-1]["text"] == answer
    await other.close()


def test_csv_exports_neutralise_spreadsheet_formulas() -> None:
    from bot.server.web.feedback import answers_csv, corrections_csv
    from bot.storage.feedback import Correction, SavedAnswer

    fields = Correction.__dataclass_fields__
    values: dict[str, object] = {name: None for name in fields}
    values.update(text='=HYPERLINK("http://x")', intent="greet")
    text = corrections_csv([Correction(**values)])  # type: ignore[arg-type]
    assert text.splitlines()[1] == '"\'=HYPERLINK(""http://x"")",greet'
    answer: dict[str, object] = {name: None for name in SavedAnswer.__dataclass_fields__}
    answer.update(question="+1 call me", answer="@admin -2", intent="-x")
    assert answers_csv([SavedAnswer(**answer)]).splitlines()[1] == "'+1 call me,'@admin -2,'-x"  # type: ignore[arg-type]
