"""The people's stores for a request, each on the conversation store's engine."""

from __future__ import annotations

from aiohttp import web

from bot.server.appkeys import STORE
from bot.storage.accounts import AccountStore
from bot.storage.escalations import EscalationStore
from bot.storage.feedback import FeedbackStore


def account_store(app: web.Application) -> AccountStore:
    return AccountStore(app[STORE].engine)


def escalation_store(app: web.Application) -> EscalationStore:
    return EscalationStore(app[STORE].engine)


def feedback_store(app: web.Application) -> FeedbackStore:
    return FeedbackStore(app[STORE].engine)
