"""The people's pages: the customer widget and the staff console, wired in by ``setup_web``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot.server.appkeys import CONFIG, HUB, TURN_LISTENERS
from bot.server.events import make_hub
from bot.server.web.live import turn_listener
from bot.storage import staff_schema  # noqa: F401  (registers the staff tables on the metadata)


def setup_web(app: web.Application) -> None:
    """Add the live-event hub and the turn listener that feeds it. Call once from
    ``create_app``, before the app starts; the URLs are in ``bot.server.routes``."""
    app[HUB] = make_hub(app[CONFIG].redis_url)
    app.cleanup_ctx.append(hub_context)
    app[TURN_LISTENERS].append(turn_listener(app))


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: start the hub before the app serves, close it after."""
    hub = app[HUB]
    await hub.start()
    yield
    await hub.close()


__all__ = ["setup_web"]
