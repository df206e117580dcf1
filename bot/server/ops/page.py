"""The ops dashboard page, ``/ops/``: a shell that ``ops.js`` fills from the JSON APIs."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.server.ops.api import OPS_ROLES
from bot.server.web import pages
from bot.server.web.auth import Principal, page

STATIC = Path(__file__).resolve().parent / "static"

OPS_BODY = (
    '<link rel="stylesheet" href="/ops/static/ops.css">'
    '<script src="/ops/static/ops.js" defer></script>'
    '<p class="ops-nav"><a href="/console/">← Console</a></p>'
    "<h1>Sentiment monitor</h1>"
    '<p id="ops-status" role="status" aria-live="polite"></p>'
    '<section aria-labelledby="alerts-title"><h2 id="alerts-title">Alerts</h2>'
    '<label for="alert-filter">Show alerts</label>'
    '<select id="alert-filter"><option value="open,acknowledged">Open and acknowledged</option>'
    '<option value="">All</option><option value="resolved">Resolved</option></select>'
    '<table class="alerts"><thead><tr><th scope="col">Opened</th><th scope="col">Topic</th>'
    '<th scope="col">Alert</th><th scope="col">State</th>'
    '<th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>'
    '<tbody id="alert-rows"></tbody></table></section>'
    '<section aria-labelledby="now-title"><h2 id="now-title">Most negative topics now</h2>'
    '<table class="topics"><thead><tr><th scope="col">Topic</th><th scope="col">Negative</th>'
    '<th scope="col">Messages</th><th scope="col"><span class="visually-hidden">Examples'
    "</span></th></tr></thead>"
    '<tbody id="topic-rows"></tbody></table></section>'
    '<section aria-labelledby="trends-title"><h2 id="trends-title">Trends</h2>'
    '<label for="range">Range</label><select id="range">'
    '<option value="1h:1m">Last hour (1 min)</option>'
    '<option value="6h:5m" selected>Last 6 hours (5 min)</option>'
    '<option value="24h:5m">Last 24 hours (5 min)</option>'
    '<option value="7d:1h">Last 7 days (1 hour)</option></select>'
    '<p class="muted">Bars: messages per bucket. Line: negative share (0–100%).</p>'
    '<div id="charts" class="charts"></div></section>'
    '<section aria-labelledby="review-title"><h2 id="review-title">Misunderstood messages</h2>'
    '<p class="muted">Per day (UTC): messages the bot fell back on, handed off after '
    "misunderstanding, answered with low confidence or whose conversation was rated badly, "
    'and how many staff have labelled. <a href="/console/review">Review them</a>.</p>'
    '<p id="review-length"></p>'
    '<table class="review-days"><thead><tr><th scope="col">Day</th>'
    '<th scope="col">Misunderstood</th><th scope="col">Reviewed</th></tr></thead>'
    '<tbody id="review-rows"></tbody></table></section>'
    '<section aria-labelledby="examples-title"><h2 id="examples-title">Examples</h2>'
    '<p id="examples-caption" class="muted">Choose a topic to see its latest negative '
    "messages.</p>"
    '<ul id="examples" class="examples"></ul></section>'
)


async def ops_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/ops/")


@page(*OPS_ROLES)
async def dashboard(request: web.Request, principal: Principal) -> web.StreamResponse:
    return pages.layout("Sentiment monitor", OPS_BODY, principal=principal, page="ops")
