"""The app factory: routes, middlewares and one cleanup context per resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.chat.conversation import TurnListener
from bot.chat.locks import ConversationLocks
from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.core.redact import config_secrets, redact, url_secrets
from bot.server.appkeys import (
    CONFIG,
    HUB,
    LIMITS,
    METRICS,
    MODEL_EXECUTOR,
    REDIS,
    RUNTIME,
    STORE,
    SUBJECTS,
    TURN_LISTENERS,
    Limits,
)
from bot.server.events import STAFF_TOPIC
from bot.server.fleet import answer_sync, fleet_id, fleet_reloads
from bot.server.http.middleware import request_context
from bot.server.ops import setup_ops
from bot.server.ratelimit import RateLimiter
from bot.server.routes import setup_routes
from bot.server.runtime import RuntimeHolder, load_runtime, model_workers
from bot.server.web import setup_web
from bot.server.web.review import setup_learning
from bot.storage import Store, StoreError

log = logging.getLogger(__name__)


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[request_context],
        client_max_size=config.max_body_bytes,
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[RUNTIME] = RuntimeHolder()
    app[TURN_LISTENERS] = []
    # Named per fleet (one database), so two deployments on one Redis keep their own counts.
    fleet = fleet_id(config.database_url)
    app[LIMITS] = Limits(
        per_sender=RateLimiter(config.rate_limit_per_sender, name=f"sender:{fleet}"),
        per_ip=RateLimiter(config.rate_limit_per_ip, name=f"ip:{fleet}"),
    )
    setup_routes(app)
    app.cleanup_ctx.append(_model_executor)
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_runtime)
    app.cleanup_ctx.append(fleet_reloads)
    app.cleanup_ctx.append(answer_sync)
    setup_web(app)
    setup_ops(app)
    setup_learning(app)
    return app


async def _model_executor(app: web.Application) -> AsyncIterator[None]:
    executor = ThreadPoolExecutor(
        max_workers=model_workers(app[CONFIG]), thread_name_prefix="frontdesk-model"
    )
    app[MODEL_EXECUTOR] = executor
    yield
    executor.shutdown(wait=True, cancel_futures=True)


async def _store(app: web.Application) -> AsyncIterator[None]:
    store = await Store.open(app[CONFIG].database_url)
    app[STORE] = store
    yield
    await store.close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    url = app[CONFIG].redis_url
    if not url:
        app[REDIS] = None
        yield
        return
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        # The message reaches logs and the command line: the URL's password must not.
        reason = redact(str(exc), url_secrets(url))
        raise StoreError(f"cannot reach Redis at {redact(url)}: {reason}; fix redis_url") from exc
    app[REDIS] = client
    limits = app[LIMITS]
    for limiter in (limits.per_sender, limits.per_ip):
        limiter.use_redis(client)
    yield
    # Requests still finishing during shutdown limit locally rather than on a closed client.
    for limiter in (limits.per_sender, limits.per_ip):
        limiter.use_redis(None)
    await client.aclose()


async def _runtime(app: web.Application) -> AsyncIterator[None]:
    holder = app[RUNTIME]
    listeners: list[TurnListener] = app[TURN_LISTENERS]

    async def load() -> None:
        try:
            holder.runtime = await load_runtime(
                app[CONFIG],
                app[STORE],
                app[MODEL_EXECUTOR],
                app[METRICS],
                listeners=tuple(listeners),
                locks=ConversationLocks(app[REDIS]),
                staff_online=lambda: app[HUB].subscriber_count(STAFF_TOPIC) > 0,
                subjects=app.get(SUBJECTS),
            )
        except Exception as exc:
            # /readyz shows this to whoever asks.
            holder.error = redact(f"{type(exc).__name__}: {exc}", config_secrets(app[CONFIG]))
            log.error("loading the models failed: %s", holder.error)
            return
        app[METRICS].ready.set(1)
        holder.ready.set()

    # Load in the background: /healthz answers at once, /readyz says when the bot can talk.
    task = asyncio.get_running_loop().create_task(load())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if holder.runtime is not None:
        await holder.runtime.close()
