"""Saved answers waiting for an admin's approval (``answers_need_approval``).

    GET  /api/answers/pending              {"answers": [...]}, oldest first
    POST /api/answers/{id}/approve         into the live index; records who approved
    POST /api/answers/{id}/reject          never indexed; records who rejected

Admins only. Both decisions are in the audit log, written with the decision.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.server.http.errors import ApiError
from bot.server.web.auth import ADMIN_ROLES, Principal, api
from bot.server.web.conversations import int_param
from bot.server.web.feedback import add_to_index, answer_index
from bot.server.web.stores import actor, feedback_store
from bot.storage.feedback import PendingAnswer, ReviewError

log = logging.getLogger(__name__)


@api(*ADMIN_ROLES)
async def pending_answers(request: web.Request, principal: Principal) -> web.Response:
    answers = await feedback_store(request.app).pending_answers()
    return web.json_response({"answers": [a.public() for a in answers]})


async def _still_pending(request: web.Request) -> PendingAnswer:
    answer_id = int_param(request, "answer_id")
    found = await feedback_store(request.app).pending(answer_id)
    if found is None:
        raise ApiError(404, f"no pending answer {answer_id}; GET /api/answers/pending lists them")
    if found.status != "pending":
        raise ApiError(
            409,
            f"answer {answer_id} was already {found.status} by {found.reviewed_by or 'someone'}; "
            "reload the list",
        )
    return found


@api(*ADMIN_ROLES)
async def approve_answer(request: web.Request, principal: Principal) -> web.Response:
    from retrieval.base.qa import QAPair

    pending = await _still_pending(request)
    answer_index(request)
    feedback = feedback_store(request.app)
    try:
        # The decision is stored first: of two admins deciding at once, one wins here, and
        # an answer someone rejected never reaches the index.
        replaced = await feedback.saved_answer(pending.qa_id)
        approved, saved = await feedback.approve(pending.id, actor(request, principal.username))
    except ReviewError as exc:
        raise ApiError(409, f"{exc}; reload the list") from None
    pair = QAPair(
        id=pending.qa_id, question=pending.question, answer=pending.answer, intent=pending.intent
    )
    try:
        await add_to_index(request, pair)
    except Exception:
        log.exception("approved answer %s could not be indexed; it is pending again", pending.id)
        await feedback.reopen(pending.id, saved, replaced)
        raise
    return web.json_response({"answer": approved.public()})


@api(*ADMIN_ROLES)
async def reject_answer(request: web.Request, principal: Principal) -> web.Response:
    pending = await _still_pending(request)
    try:
        rejected = await feedback_store(request.app).reject(
            pending.id, actor(request, principal.username)
        )
    except ReviewError as exc:
        raise ApiError(409, f"{exc}; reload the list") from None
    return web.json_response({"answer": rejected.public()})
