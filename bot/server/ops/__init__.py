"""The ops monitor in the server: its APIs, the ``/ops/`` page, and the background service.

Wired into the app by :func:`setup_ops`, called once from ``create_app`` after ``setup_web``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.ops.config import parse_alerts
from bot.ops.service import OpsMetrics, OpsService
from bot.server.appkeys import CONFIG, METRICS, OPS, RUNTIME, STORE, TURN_LISTENERS
from bot.storage import ops_schema  # noqa: F401  (registers the ops tables on the metadata)
from bot.storage.ops_store import OpsStore
from retrieval.base.domain import Domain

log = logging.getLogger(__name__)


def setup_ops(app: web.Application) -> None:
    """Validate ``[alerts]``, the background monitor and
    the turn listener that feeds it. Raises ConfigError on a bad setting."""
    config = parse_alerts(app[CONFIG].extra.get("alerts"))
    service = OpsService(config, OpsMetrics(app[METRICS].registry))
    app[OPS] = service
    app.cleanup_ctx.append(ops_context)
    app[TURN_LISTENERS].append(service.on_turn)


async def ops_context(app: web.Application) -> AsyncIterator[None]:
    service = app[OPS]
    holder = app[RUNTIME]
    # Until the models are loaded (or when they fail to), topics come from the domain file.
    try:
        fallback = await asyncio.to_thread(Domain.load, app[CONFIG].domain_path)
    except Exception as exc:
        log.warning("cannot read the domain for ops topics: %s", exc)
        fallback = Domain()

    def domain() -> Domain:
        runtime = holder.runtime
        return runtime.domain if runtime is not None else fallback

    await service.start(OpsStore(app[STORE].engine, app[STORE].transactions), domain)
    yield
    await service.close()
