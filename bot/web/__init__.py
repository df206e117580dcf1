"""The people's pages: the customer widget and the staff console, wired in by ``setup_web``."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.appkeys import CONFIG, TURN_LISTENERS
from bot.storage import staff_schema  # noqa: F401  (registers the staff tables on the metadata)
from bot.web import admin, console, widget
from bot.web.events import HUB, hub_context, make_hub
from bot.web.live import turn_listener

STATIC = Path(__file__).resolve().parent / "static"


def setup_web(app: web.Application) -> None:
    """Add the widget, console and admin routes, static files, the live-event hub and the
    turn listener that feeds it. Call once from ``create_app``, before the app starts."""
    app[HUB] = make_hub(app[CONFIG].redis_url)
    app.add_routes(widget.routes)
    app.add_routes(console.routes)
    app.add_routes(admin.routes)
    app.router.add_static("/static/", STATIC, name="static")
    app.cleanup_ctx.append(hub_context)
    app[TURN_LISTENERS].append(turn_listener(app))


__all__ = ["setup_web"]
