"""The review queue in the console: what the bot misunderstood, grouped, for staff to label.

    GET  /console/review            the page (staff)
    GET  /api/review                the queue, grouped by similar text (staff)
    POST /api/review/labels         {"turn_ids", "kind", "intent"?, "qa_id"?} (agents, admins)
    GET  /api/review/counts         misunderstood and reviewed messages per day (staff)

Groups come from the serving answer index's sentence embeddings (its own encoder: the page
loads no second copy): a message joins the first group whose first message is at least
``[learning] group_similarity`` alike (cosine), so "card swallowed" and "the ATM kept my
card" are labelled in one go. Without an index, identical texts still share a group. The
queue's length and the serving model's age are Prometheus gauges, refreshed by
:func:`learning_gauges`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from typing_extensions import TypedDict

from bot.core.config import LearningSettings, learning_settings
from bot.server.appkeys import CONFIG, HUB, LEARNING, METRICS, RUNTIME, STORE, LearningState
from bot.server.events import STAFF_TOPIC
from bot.server.http.errors import ApiError
from bot.server.http.validation import json_object, text_field
from bot.server.runtime import Runtime
from bot.server.web import pages
from bot.server.web.auth import AGENT_ROLES, STAFF_ROLES, Principal, api, page
from bot.server.web.conversations import intent_labels
from bot.server.web.stores import actor, escalation_store
from bot.storage.review import KINDS, OUT_OF_SCOPE, QueueCriteria, ReviewItem, ReviewStore
from bot.storage.store import utcnow

if TYPE_CHECKING:
    import numpy as np

    from retrieval.index import AnswerIndex

log = logging.getLogger(__name__)

MAX_LABELS_AT_ONCE = 500
MAX_DAYS = 90


# The bodies, read by /openapi.json -----------------------------------------------------


class ReviewEntry(TypedDict):
    turn_id: int
    conversation_id: str
    text: str
    created_at: str
    intent: str | None
    confidence: float | None
    route: str | None
    answer_source: str | None
    reason: str
    reply: str | None


class ReviewGroup(TypedDict):
    id: int
    size: int
    text: str
    items: list[ReviewEntry]


class ReviewQueue(TypedDict):
    total: int
    groups: list[ReviewGroup]
    intents: list[str]
    grouped_by: str


class LabelRequest(TypedDict, total=False):
    """``kind``: intent (with ``intent``), out_of_scope, answer (with ``qa_id``), dismissed."""

    turn_ids: list[int]
    kind: str
    intent: str | None
    qa_id: str | None


class LabelInfo(TypedDict):
    turn_id: int
    kind: str
    intent: str | None
    qa_id: str | None
    author: str


class Labelled(TypedDict):
    labels: list[LabelInfo]


class DayFigures(TypedDict):
    day: str
    misunderstood: int
    reviewed: int


class ReviewCounts(TypedDict):
    queue_length: int
    days: list[DayFigures]


# Settings and stores -------------------------------------------------------------------


def settings(app: web.Application) -> LearningSettings:
    return app[LEARNING].settings


def criteria(app: web.Application) -> QueueCriteria:
    chosen = settings(app)
    since = utcnow() - timedelta(days=chosen.queue_days) if chosen.queue_days else None
    return QueueCriteria(chosen.low_confidence, chosen.bad_rating, since)


def review_store(app: web.Application) -> ReviewStore:
    return ReviewStore(app[STORE].engine)


# Grouping ------------------------------------------------------------------------------


def group_texts(vectors: Any, threshold: float) -> list[int]:
    """The group of each row of ``vectors`` (unit length): a row joins the first group whose
    first row is at least ``threshold`` alike, else starts one."""
    import numpy as np

    heads: list[Any] = []
    groups: list[int] = []
    for vector in vectors:
        if heads:
            similarity = np.stack(heads) @ vector
            best = int(np.argmax(similarity))
            if float(similarity[best]) >= threshold:
                groups.append(best)
                continue
        heads.append(vector)
        groups.append(len(heads) - 1)
    return groups


async def _embed(runtime: Runtime, index: AnswerIndex, texts: Sequence[str]) -> np.ndarray:
    """The texts' vectors from the serving index's own encoder, on the model executor.

    One executor job per batch rather than one for the whole queue: live searches share
    the encoder (and its lock), so they queue behind a batch, not behind hundreds of texts.
    """
    import numpy as np

    loop = asyncio.get_running_loop()
    size = max(1, index.settings.batch_size)
    batches = [
        await loop.run_in_executor(runtime.executor, index.embed, texts[start : start + size])
        for start in range(0, len(texts), size)
    ]
    return np.concatenate(batches)


async def _groups(request: web.Request, items: Sequence[ReviewItem]) -> tuple[list[int], str]:
    if not items:
        return [], "encoder"
    texts = [item.text for item in items]
    # The runtime of this request, never one kept from before: a reload swaps the index,
    # and its encoder with it.
    runtime = request.app[RUNTIME].runtime
    index = runtime.index if runtime is not None else None
    if runtime is not None and index is not None:
        threshold = settings(request.app).group_similarity
        try:
            vectors = await _embed(runtime, index, texts)
            loop = asyncio.get_running_loop()
            grouped = await loop.run_in_executor(runtime.executor, group_texts, vectors, threshold)
            return grouped, "encoder"
        except Exception:
            log.exception("the review queue's encoder failed; grouping identical texts only")
    # Without an index (or its encoder), identical texts (ignoring case and spacing) still
    # share a group.
    keys: dict[str, int] = {}
    return [keys.setdefault(" ".join(t.lower().split()), len(keys)) for t in texts], "text"


def _entry(item: ReviewItem) -> ReviewEntry:
    return {
        "turn_id": item.turn_id,
        "conversation_id": item.conversation_id,
        "text": item.text,
        "created_at": item.created_at.isoformat(),
        "intent": item.intent,
        "confidence": item.confidence,
        "route": item.route,
        "answer_source": item.answer_source,
        "reason": item.reason,
        "reply": item.reply,
    }


# Handlers ------------------------------------------------------------------------------


@page(*STAFF_ROLES)
async def review_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    return pages.layout(
        "To review",
        REVIEW_BODY,
        principal=principal,
        page="review",
        data={"role": principal.role},
    )


@api(*STAFF_ROLES)
async def review_queue(request: web.Request, principal: Principal) -> web.Response:
    items = await review_store(request.app).queue(criteria(request.app))
    assignment, grouped_by = await _groups(request, items)
    groups: dict[int, ReviewGroup] = {}
    for item, group in zip(items, assignment, strict=True):
        entry = groups.setdefault(group, {"id": 0, "size": 0, "text": item.text, "items": []})
        entry["items"].append(_entry(item))
        entry["size"] += 1
    # Biggest groups first: one label there teaches the most.
    ordered = sorted(groups.values(), key=lambda g: (-g["size"], -g["items"][0]["turn_id"]))
    for number, entry in enumerate(ordered, start=1):
        entry["id"] = number
    body: ReviewQueue = {
        "total": len(items),
        "groups": ordered,
        "intents": intent_labels(request),
        "grouped_by": grouped_by,
    }
    return web.json_response(body)


def _turn_ids(body: dict[str, Any]) -> list[int]:
    raw = body.get("turn_ids")
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "field 'turn_ids' must be a non-empty list of turn ids")
    if len(raw) > MAX_LABELS_AT_ONCE:
        raise ApiError(
            413, f"field 'turn_ids' has {len(raw)} ids; label {MAX_LABELS_AT_ONCE} at most"
        )
    ids: list[int] = []
    for value in raw:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**63:
            raise ApiError(
                400, f"field 'turn_ids': {value!r} is not a turn id (a positive integer)"
            )
        if value not in ids:
            ids.append(value)
    return ids


@api(*AGENT_ROLES)
async def label_turns(request: web.Request, principal: Principal) -> web.Response:
    body = await json_object(request)
    turn_ids = _turn_ids(body)
    kind = text_field(body, "kind", max_chars=16) or ""
    if kind not in KINDS:
        raise ApiError(400, f"field 'kind': expected one of {', '.join(KINDS)}, got {kind!r}")
    intent = qa_id = None
    if kind == "intent":
        intent = (text_field(body, "intent", max_chars=128) or "").strip()
        known = intent_labels(request)
        if known and intent not in known:
            raise ApiError(400, f"field 'intent': {intent!r} is not one of the model's intents")
        if intent == OUT_OF_SCOPE:
            kind, intent = OUT_OF_SCOPE, None
    elif kind == "answer":
        qa_id = (text_field(body, "qa_id", max_chars=64) or "").strip()
        index = request.app[RUNTIME].get().index if request.app[RUNTIME].runtime else None
        if index is None:
            raise ApiError(409, "the bot has no answer index to link an answer from")
        if index.get(qa_id) is None:
            raise ApiError(400, f"field 'qa_id': no answer {qa_id!r} in the index")
    escalations = escalation_store(request.app)
    turns = []
    for turn_id in turn_ids:
        turn = await escalations.get_turn(turn_id)
        if turn is None:
            raise ApiError(404, f"no turn {turn_id}")
        if turn.role != "user":
            raise ApiError(400, f"turn {turn_id} is not a customer's message")
        turns.append(turn)
    store = review_store(request.app)
    by = actor(request, principal.username)
    labels: list[LabelInfo] = []
    for turn in turns:
        label = await store.label(turn, kind, principal.username, intent=intent, qa_id=qa_id, by=by)
        labels.append(
            {
                "turn_id": label.turn_id,
                "kind": label.kind,
                "intent": label.intent,
                "qa_id": label.qa_id,
                "author": label.author,
            }
        )
    for conversation_id in {turn.conversation_id for turn in turns}:
        await request.app[HUB].publish(
            STAFF_TOPIC, {"type": "changed", "conversation_id": conversation_id}
        )
    await refresh_gauges(request.app)
    return web.json_response({"labels": labels}, status=201)


@api(*STAFF_ROLES)
async def review_counts(request: web.Request, principal: Principal) -> web.Response:
    raw = request.query.get("days", "14")
    try:
        days = int(raw)
    except ValueError:
        raise ApiError(400, f"query 'days': expected a whole number of days, got {raw!r}") from None
    if not 1 <= days <= MAX_DAYS:
        raise ApiError(400, f"query 'days': expected 1 to {MAX_DAYS}, got {days}")
    store = review_store(request.app)
    chosen = criteria(request.app)
    counts = await store.counts_per_day(chosen, days)
    body: ReviewCounts = {
        "queue_length": await store.queue_length(chosen),
        "days": [
            {"day": c.day.isoformat(), "misunderstood": c.misunderstood, "reviewed": c.reviewed}
            for c in counts
        ],
    }
    return web.json_response(body)


# Gauges --------------------------------------------------------------------------------


def model_age_s(app: web.Application) -> float | None:
    """Seconds since the serving intent model was trained (its card's created_at)."""
    runtime = app[RUNTIME].runtime
    if runtime is None:
        return None
    created = getattr(runtime.nlu.models.intent.card, "created_at", "")
    try:
        moment = datetime.fromisoformat(str(created))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, time.time() - moment.timestamp())


async def refresh_gauges(app: web.Application) -> None:
    metrics = app[METRICS]
    metrics.review_queue_length.set(await review_store(app).queue_length(criteria(app)))
    age = model_age_s(app)
    if age is not None:
        metrics.model_age_seconds.set(age)


async def learning_gauges(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: refresh the queue-length and model-age gauges every
    ``[learning] gauge_interval_s`` while the app runs."""

    async def refresh_forever() -> None:
        # This context starts before the store's (routes are set up first); wait for it.
        while STORE not in app:
            await asyncio.sleep(0.5)
        while True:
            try:
                await refresh_gauges(app)
            except Exception as exc:
                log.warning("cannot refresh the review queue gauges: %s", exc)
            await asyncio.sleep(settings(app).gauge_interval_s)

    task = asyncio.get_running_loop().create_task(refresh_forever())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def setup_learning(app: web.Application) -> None:
    """Validate ``[learning]`` (a bad value stops the start) and keep its state; the gauges
    refresh while the app runs."""
    app[LEARNING] = LearningState(learning_settings(app[CONFIG]))
    app.cleanup_ctx.append(learning_gauges)


REVIEW_BODY = (
    '<script src="/static/review.js" defer></script>'
    "<h1>To review</h1>"
    '<p class="muted">Messages the bot fell back on, handed off after misunderstanding, '
    "answered with low confidence, or whose conversation was rated badly; similar messages "
    "are grouped. Label a group with the intent it meant (or out of scope), link an answer, "
    "or dismiss it. Labels go into the next <code>frontdesk retrain</code>.</p>"
    '<p id="review-status" role="status" aria-live="polite"></p>'
    '<datalist id="review-intents"></datalist>'
    '<ol id="review-groups" class="review-groups"></ol>'
)
