"""Every URL the server answers, on one screen.

Handlers live beside what they serve (``http/`` for the machine-facing endpoints, ``web/`` for
the pages people use, ``ops/`` for the ops monitor); this table is the only place that maps
a URL to one, so a reader finds any endpoint here first.
"""

from __future__ import annotations

from aiohttp import web

from bot.server.http import health, openapi, parse, rest
from bot.server.ops import api as ops_api
from bot.server.ops import page as ops_page
from bot.server.web import (
    admin,
    answers,
    audit,
    console,
    conversations,
    feedback,
    login,
    review,
    widget,
)
from bot.server.web.widget import STATIC


def setup_routes(app: web.Application) -> None:
    add = app.router.add_route
    # Health and metrics
    add("GET", "/healthz", health.healthz)
    add("GET", "/readyz", health.readyz)
    add("GET", "/metrics", health.metrics)
    # The published API schema (OpenAPI 3.1)
    add("GET", "/openapi.json", openapi.openapi_document)
    # Rasa-compatible channel and NLU
    add("GET", "/webhooks/rest/", rest.rest_status)
    add("GET", "/webhooks/rest", rest.rest_status)
    add("POST", "/webhooks/rest/webhook", rest.rest_webhook)
    add("POST", "/model/parse", parse.model_parse)
    # Customer widget and demo shop
    add("GET", "/widget.js", widget.widget_js)
    add("GET", "/widget.css", widget.widget_css)
    add("GET", "/", widget.demo_page)
    add("OPTIONS", "/widget/session", widget.session_preflight)
    add("POST", "/widget/session", widget.widget_session)
    add("GET", "/widget/turns", widget.widget_turns)
    add("GET", "/widget/ws", widget.widget_socket)
    # Staff console and its APIs
    add("GET", "/console/login", login.login_form)
    add("POST", "/console/login", login.login_submit)
    add("POST", "/api/login", login.api_login)
    add("POST", "/console/logout", login.logout)
    add("GET", "/console", console.console_root)
    add("GET", "/console/", console.queue_page)
    add("GET", "/console/conversations/{conversation_id}", console.conversation_page)
    add("GET", "/api/me", login.me)
    add("GET", "/api/escalations", conversations.escalation_queue)
    add("POST", "/api/escalations/{escalation_id}/claim", conversations.claim)
    add("GET", "/api/conversations/{conversation_id}", conversations.conversation_detail)
    add("POST", "/api/conversations/{conversation_id}/reply", conversations.reply)
    add("POST", "/api/conversations/{conversation_id}/notes", conversations.add_note)
    add("POST", "/api/conversations/{conversation_id}/resolve", conversations.resolve)
    add("POST", "/api/conversations/{conversation_id}/handback", conversations.handback)
    add("POST", "/api/turns/{turn_id}/correction", feedback.correct_intent)
    add("POST", "/api/turns/{turn_id}/save-answer", feedback.save_answer)
    add("GET", "/api/feedback/corrections.csv", feedback.export_corrections)
    add("GET", "/api/feedback/answers.csv", feedback.export_answers)
    add("GET", "/api/answers/pending", answers.pending_answers)
    add("POST", "/api/answers/{answer_id}/approve", answers.approve_answer)
    add("POST", "/api/answers/{answer_id}/reject", answers.reject_answer)
    add("GET", "/console/ws", console.console_events)
    # The review queue: what the bot misunderstood, for staff to label
    add("GET", "/console/review", review.review_page)
    add("GET", "/api/review", review.review_queue)
    add("POST", "/api/review/labels", review.label_turns)
    add("GET", "/api/review/counts", review.review_counts)
    # Admin
    add("GET", "/console/admin", admin.admin_page)
    add("GET", "/api/admin/users", admin.list_users)
    add("POST", "/api/admin/users", admin.add_user)
    add("PATCH", "/api/admin/users/{user_id}", admin.change_user)
    add("GET", "/api/admin/audit", audit.audit_log)
    # Ops: sentiment and alerts
    add("GET", "/api/sentiment/series", ops_api.series)
    add("GET", "/api/sentiment/topics", ops_api.topics_now)
    add("GET", "/api/sentiment/examples", ops_api.examples)
    add("GET", "/api/alerts", ops_api.alerts)
    add("POST", "/api/alerts/{alert_id}/ack", ops_api.acknowledge)
    add("POST", "/api/alerts/{alert_id}/resolve", ops_api.resolve)
    add("GET", "/ops", ops_page.ops_root)
    add("GET", "/ops/", ops_page.dashboard)
    # Static files
    app.router.add_static("/static/", STATIC, name="static")
    app.router.add_static("/ops/static/", ops_page.STATIC, name="ops_static")
