"""Typed application state: every ``app[...]`` key of the server, in one place."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis

from bot.chat.conversation import TurnListener
from bot.core.config import Config, LearningSettings
from bot.core.metrics import Metrics
from bot.ops.service import OpsService
from bot.ops.topics import SubjectReader
from bot.server.events import EventHub
from bot.server.ratelimit import RateLimiter
from bot.server.runtime import RuntimeHolder
from bot.storage import Store

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
MODEL_EXECUTOR = web.AppKey("model_executor", ThreadPoolExecutor)
RUNTIME = web.AppKey("runtime", RuntimeHolder)
METRICS = web.AppKey("metrics", Metrics)


@dataclass(frozen=True, slots=True)
class Limits:
    per_sender: RateLimiter
    per_ip: RateLimiter


LIMITS = web.AppKey("limits", Limits)
REQUEST_ID = web.RequestKey("request_id", str)
# Shared state for several processes (conversation locks); None without redis_url.
REDIS: web.AppKey[Redis | None] = web.AppKey("redis")
# Called after every customer turn (live updates, monitoring). Append before the app starts.
TURN_LISTENERS = web.AppKey("turn_listeners", list[TurnListener])
# The ops monitor: sentiment events, alert rules and their webhooks.
OPS = web.AppKey("ops", OpsService)
# Files messages of a general topic under their subject, for the ops monitor's events.
SUBJECTS = web.AppKey("subjects", SubjectReader)
# Live events to consoles and widgets (in-process, or fanned out through Redis).
HUB = web.AppKey("event_hub", EventHub)


@dataclass
class LearningState:
    """The learning loop's settings (the review queue groups with the serving index's
    encoder, so nothing else is held here)."""

    settings: LearningSettings


LEARNING = web.AppKey("learning", LearningState)
