"""Liveness, readiness and Prometheus metrics.

/metrics tells anyone who can read it how busy the bot is, which routes fail and how the
models are doing. With ``metrics_token`` set it needs ``Authorization: Bearer <token>``;
without one it answers only to peers on this machine (the socket's address, never
X-Forwarded-For, which any client can write). A reverse proxy on this machine is such a peer
for everyone it relays: behind one, set ``metrics_token``.
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from aiohttp import web

from bot.core.redact import config_secrets, redact
from bot.server.appkeys import CONFIG, METRICS, RUNTIME, STORE
from bot.server.http.errors import error_response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    holder = request.app[RUNTIME]
    try:
        store_ok = await request.app[STORE].ping()
    except Exception as exc:
        reason = redact(str(exc), config_secrets(request.app[CONFIG]))
        return error_response(503, f"store unreachable: {reason}", ready=False)
    if holder.runtime is None:
        reason = holder.error or "models are loading"
        return error_response(503, f"not ready: {reason}", ready=False, store=store_ok)
    runtime = holder.runtime
    return web.json_response(
        {
            "ready": True,
            "store": store_ok,
            "intent_model": str(runtime.nlu.models.intent.card.path),
            "sentiment_model": str(runtime.nlu.models.sentiment.card.path)
            if runtime.nlu.models.sentiment
            else None,
            "index_entries": len(runtime.index) if runtime.index is not None else 0,
            "loaded_at": runtime.loaded_at,
            "loaded_seconds_ago": round(time.time() - runtime.loaded_at, 1),
        }
    )


async def metrics(request: web.Request) -> web.Response:
    refused = _metrics_refusal(request)
    if refused is not None:
        return refused
    metrics = request.app[METRICS]
    holder = request.app[RUNTIME]
    if holder.runtime is not None:
        metrics.queue_depth.set(holder.runtime.nlu.queue_depth)
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})


def _metrics_refusal(request: web.Request) -> web.Response | None:
    token = request.app[CONFIG].metrics_token
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not sent.strip():
            return _unauthorized(
                "/metrics needs the metrics token: send 'Authorization: Bearer <metrics_token>' "
                "(Prometheus: authorization: {credentials: <metrics_token>} in the scrape job)"
            )
        if not hmac.compare_digest(sent.strip().encode(), token.encode()):
            return _unauthorized(
                "the bearer token sent does not match the server's metrics_token; check the "
                "scraper's credentials"
            )
        return None
    peer = _socket_peer(request)
    if peer is not None and _is_loopback(peer):
        return None
    return error_response(
        403,
        f"/metrics answers only to this machine while metrics_token is empty, and this "
        f"request came from {peer or 'an unknown address'}; set metrics_token "
        f"(FRONTDESK_METRICS_TOKEN) and send 'Authorization: Bearer <metrics_token>'",
    )


def _unauthorized(message: str) -> web.Response:
    return error_response(401, message, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


def _socket_peer(request: web.Request) -> str | None:
    # The transport's peer, not request.remote: that one can be replaced by a proxy-aware
    # middleware with a client address taken from a header.
    transport = request.transport
    peername = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return None


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
