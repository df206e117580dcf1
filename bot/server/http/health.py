"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time

from aiohttp import web

from bot.server.appkeys import METRICS, RUNTIME, STORE
from bot.server.http.errors import error_response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    holder = request.app[RUNTIME]
    try:
        store_ok = await request.app[STORE].ping()
    except Exception as exc:
        return error_response(503, f"store unreachable: {exc}", ready=False)
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
    metrics = request.app[METRICS]
    holder = request.app[RUNTIME]
    if holder.runtime is not None:
        metrics.queue_depth.set(holder.runtime.nlu.queue_depth)
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})
