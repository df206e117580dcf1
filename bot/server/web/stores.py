"""The people's stores for a request, each on the conversation store's engine, and who a
request acts as in the audit log."""

from __future__ import annotations

from aiohttp import web

from bot.server.appkeys import STORE
from bot.server.ratelimit import client_address
from bot.storage.accounts import AccountStore
from bot.storage.audit import Actor, AuditLog
from bot.storage.escalations import EscalationStore
from bot.storage.feedback import FeedbackStore


def account_store(app: web.Application) -> AccountStore:
    return AccountStore(app[STORE].engine)


def escalation_store(app: web.Application) -> EscalationStore:
    return EscalationStore(app[STORE].engine)


def feedback_store(app: web.Application) -> FeedbackStore:
    return FeedbackStore(app[STORE].engine)


def audit_log(app: web.Application) -> AuditLog:
    return AuditLog(app[STORE].engine)


def actor(request: web.Request, username: str | None) -> Actor:
    """``username`` acting through ``request``, as the stores record it."""
    return Actor(username, client_address(request))
