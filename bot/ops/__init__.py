"""Ops monitoring: sentiment events per topic, alert rules, webhooks and the ``/ops/`` page.

Wired into the app by :func:`setup_ops`, called once from ``create_app`` after ``setup_web``.
"""

from __future__ import annotations

from aiohttp import web

from bot.appkeys import CONFIG, METRICS, TURN_LISTENERS
from bot.ops import api, page
from bot.ops.config import AlertsConfig, parse_alerts
from bot.ops.service import OPS, OpsMetrics, OpsService, ops_context
from bot.storage import ops_schema  # noqa: F401  (registers the ops tables on the metadata)


def setup_ops(app: web.Application) -> None:
    """Validate ``[alerts]``, add the ops APIs, page and static files, the background
    monitor and the turn listener that feeds it. Raises ConfigError on a bad setting."""
    config = parse_alerts(app[CONFIG].extra.get("alerts"))
    service = OpsService(config, OpsMetrics(app[METRICS].registry))
    app[OPS] = service
    app.add_routes(api.routes)
    app.add_routes(page.routes)
    app.router.add_static("/ops/static/", page.STATIC, name="ops_static")
    app.cleanup_ctx.append(ops_context)
    app[TURN_LISTENERS].append(service.on_turn)


__all__ = ["OPS", "AlertsConfig", "OpsService", "setup_ops"]
