"""Saved answers that wait for an admin (``answers_need_approval``), on the real app with tiny
real models: nothing reaches the index until an admin approves it, and both decisions are
audited."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.server.appkeys import RUNTIME
from tests.bot.server.web.conftest import agent, handed_off, ready_app, receive_until
from tests.conftest import TinyModels

QUESTION = "Do you sell replacement kettle lids?"
ANSWER = "Yes: replacement lids for every kettle are under Spare parts, 6 EUR each."


@pytest.fixture
async def approving(aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels) -> TestClient:
    return await ready_app(aiohttp_client, tmp_path, tiny_models, answers_need_approval=True)


async def saved_reply(client: TestClient, question: str, answer: str) -> dict[str, Any]:
    """An agent answers ``question`` and saves the reply; returns the save's response body."""
    ws, conversation_id = await handed_off(client)
    headers = await agent(client)
    await ws.send_json({"type": "message", "text": question, "client_id": "q"})
    await receive_until(ws, lambda e: e.get("client_id") == "q")
    reply = await client.post(
        f"/api/conversations/{conversation_id}/reply", json={"text": answer}, headers=headers
    )
    turn_id = (await reply.json())["turn"]["id"]
    saved = await client.post(f"/api/turns/{turn_id}/save-answer", json={}, headers=headers)
    await ws.close()
    assert saved.status == 202, await saved.text()
    return dict((await saved.json())["answer"])


def indexed(client: TestClient, question: str) -> str | None:
    index = client.app[RUNTIME].get().index
    assert index is not None
    hits = index.search(question)
    return hits[0].answer if hits else None


async def test_a_saved_answer_waits_for_an_admin_and_goes_live_when_approved(
    approving: TestClient,
) -> None:
    pending = await saved_reply(approving, QUESTION, ANSWER)
    assert (pending["status"], pending["question"], pending["author"]) == (
        "pending",
        QUESTION,
        "ann",
    )
    assert indexed(approving, QUESTION) != ANSWER, "not in the index before approval"

    agent_headers = await agent(approving)
    refused = await approving.get("/api/answers/pending", headers=agent_headers)
    assert refused.status == 403
    assert (await refused.json())["error"] == (
        "this needs the role admin; you are signed in as agent"
    )
    not_approved = await approving.post(
        f"/api/answers/{pending['id']}/approve", headers=agent_headers
    )
    assert not_approved.status == 403

    root = await agent(approving, "root", "admin")
    listed = await (await approving.get("/api/answers/pending", headers=root)).json()
    assert [a["id"] for a in listed["answers"]] == [pending["id"]]

    approved = await approving.post(f"/api/answers/{pending['id']}/approve", headers=root)
    assert approved.status == 200, await approved.text()
    body = (await approved.json())["answer"]
    assert (body["status"], body["reviewed_by"]) == ("approved", "root")
    assert indexed(approving, QUESTION) == ANSWER, "the bot answers from it at once"
    assert (await (await approving.get("/api/answers/pending", headers=root)).json()) == {
        "answers": []
    }
    exported = await (await approving.get("/api/feedback/answers.csv", headers=root)).text()
    assert [row["answer"] for row in csv.DictReader(io.StringIO(exported))] == [ANSWER]

    again = await approving.post(f"/api/answers/{pending['id']}/reject", headers=root)
    assert again.status == 409
    assert (await again.json())["error"] == (
        f"answer {pending['id']} was already approved by root; reload the list"
    )
    audit = await (await approving.get("/api/admin/audit?actor=root", headers=root)).json()
    [event] = [e for e in audit["events"] if e["action"] == "answer_approved"]
    assert (event["target"], event["client"]) == (pending["qa_id"], "127.0.0.1")


async def test_a_rejected_answer_never_reaches_the_index(approving: TestClient) -> None:
    question = "Can I pay with a gift card from your Berlin store?"
    answer = "Yes, gift cards from our stores work online too."
    pending = await saved_reply(approving, question, answer)
    root = await agent(approving, "root", "admin")

    rejected = await approving.post(f"/api/answers/{pending['id']}/reject", headers=root)
    assert rejected.status == 200, await rejected.text()
    assert (await rejected.json())["answer"]["reviewed_by"] == "root"
    assert indexed(approving, question) != answer
    late = await approving.post(f"/api/answers/{pending['id']}/approve", headers=root)
    assert late.status == 409
    missing = await approving.post("/api/answers/999/approve", headers=root)
    assert missing.status == 404
    assert (await missing.json())["error"] == (
        "no pending answer 999; GET /api/answers/pending lists them"
    )
    rejections = await approving.get("/api/admin/audit?action=answer_rejected", headers=root)
    [event] = (await rejections.json())["events"]
    assert (event["actor"], event["target"]) == ("root", pending["qa_id"])
    saved = await (await approving.get("/api/admin/audit?action=answer_saved", headers=root)).json()
    assert saved["events"][0]["details"]["status"] == "pending"
