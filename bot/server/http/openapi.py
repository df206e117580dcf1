"""The published API schema at ``/openapi.json``: OpenAPI 3.1, built from the route table.

The router says which operations exist and their path parameters; a handler's ``@api(...)``
roles say it needs staff credentials (so 401 and 403); :data:`OPERATIONS` adds what a route
cannot say: the body types (TypedDicts beside the handlers, turned into JSON Schema by
pydantic, which reads them from ``typing_extensions`` before Python 3.12), the query
parameters and the errors each operation may answer, all in the one error shape. A route
is either documented here or listed in :data:`NOT_DOCUMENTED` with the reason; the test
suite fails on a route that is neither.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired

from aiohttp import web
from pydantic import TypeAdapter
from typing_extensions import TypedDict

from bot.server.appkeys import CONFIG
from bot.server.http.parse import ParseRequest, ParseResult
from bot.server.http.rest import RestMessage, RestReply, StatusBody
from bot.server.http.validation import MAX_ROW_ID
from bot.server.ops import api as ops
from bot.server.web import conversations as conv
from bot.server.web import review

JSON = "application/json"
REF = "#/components/schemas/{model}"

# Bodies of handlers whose modules do not declare them (yet) -----------------------------


class ErrorBody(TypedDict):
    """Every refusal: ``error`` says what was expected, what arrived and how to fix it."""

    error: str
    status: int


class StaffUser(TypedDict):
    id: int
    username: str
    role: str
    active: bool
    created_at: str


class LoginRequest(TypedDict):
    username: str
    password: str


class LoggedIn(TypedDict):
    user: StaffUser
    csrf_token: str


class Me(TypedDict):
    user: StaffUser
    via: str


class Users(TypedDict):
    users: list[StaffUser]


class NewUser(TypedDict):
    username: str
    password: str
    role: str


class UserChange(TypedDict, total=False):
    role: str
    active: bool
    password: str


class OneUser(TypedDict):
    user: StaffUser


class CorrectionRequest(TypedDict):
    intent: str


class CorrectionInfo(TypedDict):
    id: int
    turn_id: int
    text: str
    predicted_intent: str | None
    intent: str


class Corrected(TypedDict):
    correction: CorrectionInfo


class SaveAnswerRequest(TypedDict, total=False):
    question: str | None
    intent: str | None


class AnswerInfo(TypedDict):
    """A saved answer: live at once (201), or pending an admin's approval (202)."""

    id: int | str
    question: str
    answer: str
    intent: str | None
    status: str
    qa_id: NotRequired[str]
    turn_id: NotRequired[int | None]
    author: NotRequired[str]
    created_at: NotRequired[str]
    reviewed_by: NotRequired[str | None]
    reviewed_at: NotRequired[str | None]


class OneAnswer(TypedDict):
    answer: AnswerInfo


class PendingAnswers(TypedDict):
    answers: list[AnswerInfo]


class AuditEvent(TypedDict):
    id: int
    at: str
    actor: str | None
    action: str
    target: str | None
    client: str | None
    details: Any


class AuditEvents(TypedDict):
    events: list[AuditEvent]


class WidgetSessionRequest(TypedDict, total=False):
    """A token from an earlier session resumes it while it is valid."""

    token: str


class WidgetSession(TypedDict):
    token: str
    resumed: bool


class WidgetTurn(TypedDict):
    type: str
    id: int
    role: str
    text: str
    created_at: str
    client_id: NotRequired[str]
    buttons: NotRequired[list[dict[str, str]]]
    image: NotRequired[str]


class WidgetTurns(TypedDict):
    turns: list[WidgetTurn]


class Ready(TypedDict):
    ready: bool
    store: Any
    intent_model: str
    sentiment_model: str | None
    index_entries: int
    loaded_at: float
    loaded_seconds_ago: float


# The table ---------------------------------------------------------------------------

# A body: a type (JSON), a mapping of media type to a type or a JSON Schema, or None (empty).
Body = type | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    schema: Mapping[str, Any]
    description: str


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    tag: str
    ok: Mapping[int, Body]
    body: type | None = None
    body_required: bool = True
    query: tuple[Query, ...] = ()
    errors: tuple[int, ...] = ()
    # "channel": ?token= or a JWT (as configured); "widget": X-Conversation-Token;
    # "metrics": the metrics token, when one is set.
    # Staff credentials follow from the handler's @api roles.
    security: str = ""
    description: str = ""


def _q(name: str, description: str, **schema: Any) -> Query:
    return Query(name, schema or {"type": "string"}, description)


SINCE = _q("since", "An ISO 8601 time (2024-05-01T12:00:00Z) or a duration back (90m, 6h, 7d)")
OPS_LIMIT = _q("limit", "How many, at most", type="integer", minimum=1, maximum=ops.MAX_LIMIT)
TEXT = "text/plain"

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/healthz"): Operation("Liveness", "health", {200: StatusBody}),
    ("GET", "/readyz"): Operation(
        "Readiness: the store answers and the models are loaded", "health", {200: Ready}
    ),
    ("GET", "/metrics"): Operation(
        "Prometheus metrics",
        "health",
        {200: {TEXT: {"type": "string"}}},
        errors=(401, 403),
        security="metrics",
        description="Authorization: Bearer <metrics_token>; without one, loopback peers only.",
    ),
    ("GET", "/openapi.json"): Operation(
        "This document", "health", {200: {JSON: {"type": "object"}}}
    ),
    ("GET", "/webhooks/rest/"): Operation("Channel status (Rasa)", "channel", {200: StatusBody}),
    ("GET", "/webhooks/rest"): Operation("Channel status (Rasa)", "channel", {200: StatusBody}),
    ("POST", "/webhooks/rest/webhook"): Operation(
        "Send a customer message; the bot's replies come back (Rasa REST channel)",
        "channel",
        {200: {JSON: list[RestReply]}},
        body=RestMessage,
        errors=(401, 409, 429),
        security="channel",
        description="A resend with the same metadata.message_id is answered from the store.",
    ),
    ("POST", "/model/parse"): Operation(
        "What the models make of a text (Rasa)",
        "channel",
        {200: ParseResult},
        body=ParseRequest,
        errors=(401, 429),
        security="channel",
    ),
    ("OPTIONS", "/widget/session"): Operation(
        "CORS preflight for the widget", "widget", {204: None}, errors=(403,)
    ),
    ("POST", "/widget/session"): Operation(
        "Start (201) or resume (200) a widget conversation",
        "widget",
        {200: WidgetSession, 201: WidgetSession},
        body=WidgetSessionRequest,
        body_required=False,
        errors=(403, 429),
    ),
    ("GET", "/widget/turns"): Operation(
        "The conversation's visible turns after a turn id",
        "widget",
        {200: WidgetTurns},
        query=(_q("after", "The last turn id the client has", type="integer", minimum=0),),
        errors=(400,),
        security="widget",
    ),
    ("POST", "/api/login"): Operation(
        "Sign in: sets the session cookie and returns the CSRF token",
        "staff",
        {200: LoggedIn},
        body=LoginRequest,
        errors=(401, 429),
    ),
    ("GET", "/api/me"): Operation("Who am I", "staff", {200: Me}),
    ("GET", "/api/escalations"): Operation(
        "The hand-off queue",
        "staff",
        {200: conv.EscalationQueue},
        query=(_q("status", f"A comma list of {', '.join(conv.ESCALATION_STATUSES)}"),),
        errors=(400,),
    ),
    ("POST", "/api/escalations/{escalation_id}/claim"): Operation(
        "Claim an escalation, or assign it to an agent",
        "staff",
        {200: conv.Claimed},
        body=conv.ClaimBody,
        body_required=False,
        errors=(400, 409),
    ),
    ("GET", "/api/conversations/{conversation_id}"): Operation(
        "A conversation's transcript with the bot's decisions, notes and escalation",
        "staff",
        {200: conv.ConversationDetail},
    ),
    ("POST", "/api/conversations/{conversation_id}/reply"): Operation(
        "Reply as an agent (pushed to the customer's widget)",
        "staff",
        {201: conv.TurnAdded},
        body=conv.TextBody,
    ),
    ("POST", "/api/conversations/{conversation_id}/notes"): Operation(
        "Add an internal note", "staff", {201: conv.NoteAdded}, body=conv.TextBody
    ),
    ("POST", "/api/conversations/{conversation_id}/resolve"): Operation(
        "Resolve the conversation; the widget asks for a rating", "staff", {200: conv.Closed}
    ),
    ("POST", "/api/conversations/{conversation_id}/handback"): Operation(
        "Hand the conversation back to the bot", "staff", {200: conv.Closed}
    ),
    ("POST", "/api/turns/{turn_id}/correction"): Operation(
        "Correct the intent of a customer's turn",
        "feedback",
        {201: Corrected},
        body=CorrectionRequest,
        errors=(400, 503),
    ),
    ("POST", "/api/turns/{turn_id}/save-answer"): Operation(
        "Save a staff reply as an answer: live (201) or awaiting approval (202)",
        "feedback",
        {201: OneAnswer, 202: OneAnswer},
        body=SaveAnswerRequest,
        body_required=False,
        errors=(400, 409),
    ),
    ("GET", "/api/feedback/corrections.csv"): Operation(
        "Corrections as intent training data (text,intent)",
        "feedback",
        {200: {"text/csv": {"type": "string"}}},
    ),
    ("GET", "/api/feedback/answers.csv"): Operation(
        "Saved answers as Q&A data (question,answer,intent)",
        "feedback",
        {200: {"text/csv": {"type": "string"}}},
    ),
    ("GET", "/api/answers/pending"): Operation(
        "Saved answers awaiting approval", "feedback", {200: PendingAnswers}
    ),
    ("POST", "/api/answers/{answer_id}/approve"): Operation(
        "Approve a saved answer: it goes into the index",
        "feedback",
        {200: OneAnswer},
        errors=(409,),
    ),
    ("POST", "/api/answers/{answer_id}/reject"): Operation(
        "Reject a saved answer", "feedback", {200: OneAnswer}, errors=(409,)
    ),
    ("GET", "/api/review"): Operation(
        "The review queue: misunderstood messages, grouped by similar text",
        "feedback",
        {200: review.ReviewQueue},
    ),
    ("POST", "/api/review/labels"): Operation(
        "Label messages of the review queue: an intent, out of scope, an answer, or dismissed",
        "feedback",
        {201: review.Labelled},
        body=review.LabelRequest,
        errors=(400, 404, 409, 503),
    ),
    ("GET", "/api/review/counts"): Operation(
        "Misunderstood and reviewed messages per day, and the queue's length",
        "feedback",
        {200: review.ReviewCounts},
        query=(
            _q(
                "days",
                "How many days back, today included",
                type="integer",
                minimum=1,
                maximum=review.MAX_DAYS,
            ),
        ),
        errors=(400,),
    ),
    ("GET", "/api/admin/users"): Operation("Staff accounts", "admin", {200: Users}),
    ("POST", "/api/admin/users"): Operation(
        "Add a staff account", "admin", {201: OneUser}, body=NewUser, errors=(409,)
    ),
    ("PATCH", "/api/admin/users/{user_id}"): Operation(
        "Change a staff account's role, state or password",
        "admin",
        {200: OneUser},
        body=UserChange,
    ),
    ("GET", "/api/admin/audit"): Operation(
        "The audit log: latest first as JSON, or all of it as JSON lines (oldest first)",
        "admin",
        {200: {JSON: AuditEvents, "application/x-ndjson": {"type": "string"}}},
        query=(
            _q("action", "Only this action"),
            _q("actor", "Only this staff member's events"),
            _q("since", "An ISO 8601 date or time"),
            _q("limit", "How many (JSON only)", type="integer", minimum=1, maximum=1000),
            _q("format", "json (the default) or jsonl", enum=["json", "jsonl"]),
        ),
        errors=(400,),
    ),
    ("GET", "/api/sentiment/series"): Operation(
        "Volume and negative share per time bucket",
        "ops",
        {200: ops.Series},
        query=(
            _q("bucket", "The bucket size", enum=list(ops.BUCKETS)),
            SINCE,
            _q("until", SINCE.description),
            _q("topic", "A comma list of topics"),
        ),
        errors=(400,),
    ),
    ("GET", "/api/sentiment/topics"): Operation(
        "The most negative topics now",
        "ops",
        {200: ops.TopicsNow},
        query=(_q("window", "A duration back from now (15m)"),),
        errors=(400,),
    ),
    ("GET", "/api/sentiment/examples"): Operation(
        "Turns behind the numbers",
        "ops",
        {200: ops.Examples},
        query=(_q("topic", "Only this topic"), SINCE, _q("all", "1: not only negative"), OPS_LIMIT),
        errors=(400,),
    ),
    ("GET", "/api/alerts"): Operation(
        "Alerts",
        "ops",
        {200: ops.Alerts},
        query=(_q("state", "A comma list of states"), _q("topic", "Only this topic"), OPS_LIMIT),
        errors=(400,),
    ),
    ("POST", "/api/alerts/{alert_id}/ack"): Operation(
        "Acknowledge an alert", "ops", {200: ops.AlertChanged}, errors=(409,)
    ),
    ("POST", "/api/alerts/{alert_id}/resolve"): Operation(
        "Resolve an alert", "ops", {200: ops.AlertChanged}
    ),
}

# Routes that are not part of the JSON API, and why.
NOT_DOCUMENTED: dict[tuple[str, str], str] = {
    ("GET", "/"): "the demo shop page (HTML)",
    ("GET", "/widget.js"): "the widget's script (a static file)",
    ("GET", "/widget.css"): "the widget's style sheet (a static file)",
    ("GET", "/widget/ws"): "the widget's WebSocket (see bot/server/web/widget.py)",
    ("GET", "/console/login"): "the sign-in page (HTML)",
    ("POST", "/console/login"): "the sign-in form's post (HTML)",
    ("POST", "/console/logout"): "the sign-out form's post (HTML)",
    ("GET", "/console"): "a redirect to the console",
    ("GET", "/console/"): "the console's queue page (HTML)",
    ("GET", "/console/conversations/{conversation_id}"): "a console page (HTML)",
    ("GET", "/console/ws"): "the console's WebSocket (see bot/server/web/console.py)",
    ("GET", "/console/admin"): "the admin page (HTML)",
    ("GET", "/console/review"): "the review queue page (HTML)",
    ("GET", "/ops"): "a redirect to the ops dashboard",
    ("GET", "/ops/"): "the ops dashboard (HTML)",
}

# Path parameters by name: numeric row ids, or the conversation's id (a string).
ROW_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}
PATH_PARAMETERS: dict[str, Mapping[str, Any]] = {
    "conversation_id": {"type": "string", "minLength": 1, "maxLength": 64},
}

# Each status's general meaning; the error message says the particular one.
ERROR_MEANING = {
    400: "The request is malformed: the error names the field and what is expected",
    401: "Credentials are missing or wrong",
    403: "The credentials lack the role, the CSRF token, or the page's origin is not allowed",
    404: "Nothing has that id",
    409: "The request conflicts with the current state",
    413: "The body, or a field in it, is too large",
    415: "The body is not JSON",
    429: "Too many requests: wait for Retry-After seconds",
    503: "Not ready yet, busy or too slow: retry after Retry-After seconds",
}

_PATH_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@functools.cache
def _schemas() -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """Every body type's JSON Schema (components), and {id(type): its schema or a $ref}."""
    components: dict[str, Any] = {}
    refs: dict[int, dict[str, Any]] = {}
    types: list[Any] = [ErrorBody]
    for op in OPERATIONS.values():
        types.append(op.body)
        for body in op.ok.values():
            types.extend(body.values() if isinstance(body, Mapping) else [body])
    for kind in types:
        if kind is None or isinstance(kind, Mapping) or id(kind) in refs:
            continue
        schema = TypeAdapter(kind).json_schema(ref_template=REF)
        for name, definition in schema.pop("$defs", {}).items():
            _add(components, name, definition)
        name = getattr(kind, "__name__", None)
        if isinstance(kind, type) and name:
            _add(components, name, schema)
            refs[id(kind)] = {"$ref": REF.format(model=name)}
        else:
            refs[id(kind)] = schema
    return components, refs


def _add(components: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    if components.setdefault(name, schema) != schema:
        raise ValueError(f"two body types are named {name}; rename one of them")


def _schema_of(kind: Any) -> dict[str, Any]:
    if isinstance(kind, Mapping):
        return dict(kind)
    return _schemas()[1][id(kind)]


def _content(body: Body) -> dict[str, Any]:
    if body is None:
        return {}
    media = body if isinstance(body, Mapping) and _is_media_map(body) else {JSON: body}
    return {"content": {m: {"schema": _schema_of(k)} for m, k in media.items()}}


def _is_media_map(body: Mapping[str, Any]) -> bool:
    return all("/" in key for key in body)


def _security(op: Operation, roles: tuple[str, ...] | None, config: Any) -> list[Any] | None:
    if roles is not None:
        return [{"bearerToken": []}, {"sessionCookie": []}]
    if op.security == "metrics":
        return [{"metricsToken": []}] if config.metrics_token else None
    if op.security == "widget":
        return [{"conversationToken": []}]
    if op.security == "channel":
        ways: list[Any] = []
        if config.auth_token:
            ways.append({"channelToken": []})
        if config.jwt_secret:
            ways.append({"channelJwt": []})
        # Neither setting: the channel is open (an empty requirement means none).
        return ways or [{}]
    return None


def _operation(method: str, path: str, op: Operation, handler: Any, config: Any) -> dict[str, Any]:
    roles: tuple[str, ...] | None = getattr(handler, "roles", None)
    statuses = set(op.errors) | {503}
    parameters: list[dict[str, Any]] = []
    for name in _PATH_PARAMETER.findall(path):
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": dict(PATH_PARAMETERS.get(name, ROW_ID)),
            }
        )
        statuses.add(404)
    for query in op.query:
        parameters.append(
            {
                "name": query.name,
                "in": "query",
                "required": False,
                "description": query.description,
                "schema": dict(query.schema),
            }
        )
    result: dict[str, Any] = {
        "operationId": f"{method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}",
        "summary": op.summary,
        "tags": [op.tag],
    }
    description = op.description
    if roles is not None:
        statuses |= {401, 403}
        needs = f"Staff roles: {', '.join(roles)}."
        description = f"{needs} {description}".strip()
    if description:
        result["description"] = description
    if parameters:
        result["parameters"] = parameters
    if op.body is not None:
        statuses |= {400, 413, 415}
        result["requestBody"] = {"required": op.body_required, **_content(op.body)}
    security = _security(op, roles, config)
    if security is not None:
        result["security"] = security
        if security != [{}]:
            statuses.add(401)
    responses: dict[str, Any] = {
        str(status): {"description": "Success", **_content(body)}
        for status, body in sorted(op.ok.items())
    }
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": ERROR_MEANING[status],
            "content": {JSON: {"schema": _schema_of(ErrorBody)}},
        }
    result["responses"] = responses
    return result


def routes(app: web.Application) -> list[tuple[str, str, Any]]:
    """(method, path, handler) for every route but static files and HEAD."""
    found = []
    for resource in app.router.resources():
        if isinstance(resource, web.StaticResource):
            continue
        path = resource.canonical
        for route in resource:
            if route.method in {"HEAD", "*"}:
                continue
            found.append((route.method, path, route.handler))
    return found


def build_document(app: web.Application) -> dict[str, Any]:
    config = app[CONFIG]
    paths: dict[str, dict[str, Any]] = {}
    for method, path, handler in routes(app):
        op = OPERATIONS.get((method, path))
        if op is None:
            continue
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, op, handler, config)
    components, _ = _schemas()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Frontdesk",
            "version": "1",
            "description": (
                "A customer-service bot: a Rasa-compatible channel, the staff console's and "
                'the ops monitor\'s JSON APIs. Every error is {"error": "...", "status": N}.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A staff API token (frontdesk token create NAME).",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "frontdesk_session",
                    "description": (
                        "The console's session (POST /api/login). Requests that change "
                        "something must also send the session's CSRF token in X-CSRF-Token."
                    ),
                },
                "channelToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "The server's auth_token (Rasa's --auth-token).",
                },
                "channelJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT signed HS256 with the server's jwt_secret.",
                },
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The server's metrics_token (Prometheus' scrape credentials).",
                },
                "conversationToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Conversation-Token",
                    "description": "The widget conversation's token (POST /widget/session).",
                },
            },
        },
    }


# The routes and settings are fixed once the app runs: the document is built once per app,
# not at every request.
_DOCUMENTS: weakref.WeakKeyDictionary[web.Application, str] = weakref.WeakKeyDictionary()


async def openapi_document(request: web.Request) -> web.Response:
    document = _DOCUMENTS.get(request.app)
    if document is None:
        document = _DOCUMENTS[request.app] = json.dumps(build_document(request.app))
    return web.Response(text=document, content_type="application/json")
