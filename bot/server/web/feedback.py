"""What staff teach the bot, and its exports in the training formats.

    POST /api/turns/{id}/correction       {"intent"}: right intent for a customer turn
    POST /api/turns/{id}/save-answer      {"question"?, "intent"?}: reply → Q&A index
                                          (201), or → pending (202) with answers_need_approval
    GET  /api/feedback/corrections.csv    (ops, admin)
    GET  /api/feedback/answers.csv        (ops, admin)

- Corrections: CSV ``text,intent``, the intent training format (``frontdesk train intent``).
- Saved answers: CSV ``question,answer,intent``, the Q&A format (``frontdesk index build``).
- A cell that a spreadsheet would run as a formula (it starts with = + - @) gets a leading
  apostrophe in both files.
- With ``answers_need_approval`` a saved answer waits, outside the index, until an admin
  approves it (:mod:`.answers`); approving puts it in the index through :func:`add_to_index`,
  the path a saved answer takes at once otherwise.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.server.appkeys import CONFIG, HUB, RUNTIME
from bot.server.events import STAFF_TOPIC
from bot.server.http.errors import ApiError
from bot.server.http.validation import json_object, text_field
from bot.server.web.auth import AGENT_ROLES, Principal, api
from bot.server.web.conversations import int_param, intent_labels
from bot.server.web.stores import actor, escalation_store, feedback_store
from bot.storage.feedback import Correction, SavedAnswer

if TYPE_CHECKING:
    from retrieval.base.qa import QAPair

CORRECTIONS_FILE = "corrections.csv"
ANSWERS_FILE = "answers.csv"


# A spreadsheet reads a cell that starts with one of these as a formula (OWASP "CSV
# injection"): a customer who writes "=HYPERLINK(...)" must not get a live formula on staff
# machines. Such cells get a leading apostrophe, which spreadsheets show as plain text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str) -> str:
    """``value`` made safe to open in a spreadsheet."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def corrections_csv(corrections: Sequence[Correction]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "intent"])
    for correction in corrections:
        writer.writerow([cell(correction.text), cell(correction.intent)])
    return buffer.getvalue()


def answers_csv(answers: Sequence[SavedAnswer]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["question", "answer", "intent"])
    for answer in answers:
        writer.writerow([cell(answer.question), cell(answer.answer), cell(answer.intent or "")])
    return buffer.getvalue()


@api(*AGENT_ROLES)
async def correct_intent(request: web.Request, principal: Principal) -> web.Response:
    turn = await escalation_store(request.app).get_turn(int_param(request, "turn_id"))
    if turn is None:
        raise ApiError(404, f"no turn {request.match_info['turn_id']}")
    if turn.role != "user":
        raise ApiError(400, "only a customer's turn has an intent to correct")
    body = await json_object(request)
    intent = (text_field(body, "intent", max_chars=128) or "").strip()
    known = intent_labels(request)
    if known and intent not in known:
        raise ApiError(400, f"field 'intent': {intent!r} is not one of the model's intents")
    correction = await feedback_store(request.app).correct(
        turn, intent, principal.username, by=actor(request, principal.username)
    )
    await request.app[HUB].publish(
        STAFF_TOPIC, {"type": "changed", "conversation_id": turn.conversation_id}
    )
    return web.json_response(
        {
            "correction": {
                "id": correction.id,
                "turn_id": correction.turn_id,
                "text": correction.text,
                "predicted_intent": correction.predicted_intent,
                "intent": correction.intent,
            }
        },
        status=201,
    )


def answer_index(request: web.Request) -> Any:
    """The live answer index; 409 when the bot has none to add to."""
    index = request.app[RUNTIME].get().index
    if index is None:
        raise ApiError(
            409, "the bot has no answer index; build one with 'frontdesk index build' first"
        )
    return index


async def add_to_index(request: web.Request, pair: QAPair) -> None:
    """Put ``pair`` into the live index and save the index to disk: the bot answers from it
    at once, and after a restart."""
    runtime = request.app[RUNTIME].get()
    index = answer_index(request)
    config = request.app[CONFIG]

    def add_and_save() -> None:
        previous = index.get(pair.id)
        index.add([pair])
        try:
            index.save(config.index_path)
        except BaseException:
            # Not on disk, so not in memory either: an answer the bot gives must be one a
            # restart keeps, with its saved_answers row and audit event (written after this).
            index.remove([pair.id])
            if previous is not None:
                index.add([previous])
            raise

    # The model thread encodes the question; the index is searched by the same thread.
    await asyncio.get_running_loop().run_in_executor(runtime.executor, add_and_save)


@api(*AGENT_ROLES)
async def save_answer(request: web.Request, principal: Principal) -> web.Response:
    from retrieval.base.qa import QAPair, stable_id

    store = escalation_store(request.app)
    turn = await store.get_turn(int_param(request, "turn_id"))
    if turn is None:
        raise ApiError(404, f"no turn {request.match_info['turn_id']}")
    if turn.role != "agent":
        raise ApiError(400, "only a staff reply can be saved as an answer")
    body = await json_object(request) if request.can_read_body else {}
    question = text_field(body, "question", max_chars=2000, required=False)
    intent = text_field(body, "intent", max_chars=128, required=False)
    if question is None:
        previous = await store.previous_user_turn(turn)
        if previous is None:
            raise ApiError(400, "no customer question precedes this reply; send 'question'")
        question = previous.text
        intent = intent or previous.intent
    pair = QAPair(
        id=stable_id(question), question=question.strip(), answer=turn.text, intent=intent
    )
    feedback = feedback_store(request.app)
    by = actor(request, principal.username)
    if request.app[CONFIG].answers_need_approval:
        pending = await feedback.add_pending(
            pair.id, pair.question, pair.answer, pair.intent, principal.username, turn.id, by=by
        )
        return web.json_response({"answer": pending.public()}, status=202)
    await add_to_index(request, pair)
    saved = await feedback.save_answer(
        pair.id, pair.question, pair.answer, pair.intent, principal.username, turn.id, by=by
    )
    return web.json_response(
        {
            "answer": {
                "id": saved.qa_id,
                "question": saved.question,
                "answer": saved.answer,
                "intent": saved.intent,
                "status": "live",
            }
        },
        status=201,
    )


def _csv(text: str, filename: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@api("ops", "admin")
async def export_corrections(request: web.Request, principal: Principal) -> web.Response:
    corrections = await feedback_store(request.app).corrections()
    return _csv(corrections_csv(corrections), CORRECTIONS_FILE)


@api("ops", "admin")
async def export_answers(request: web.Request, principal: Principal) -> web.Response:
    return _csv(answers_csv(await feedback_store(request.app).saved_answers()), ANSWERS_FILE)
