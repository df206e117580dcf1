"""Alert webhooks against real aiohttp receivers: HMAC signatures, retry after a 500, bounded
queues, and a slow receiver that must not slow the chat."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from bot.ops.config import AlertsConfig, WebhookTarget
from bot.ops.webhooks import SIGNATURE_HEADER, WebhookDispatcher, verify
from bot.server.app import create_app
from bot.server.appkeys import OPS, RUNTIME
from tests.bot.ops.conftest import QUICK_ALERTS, customer_turns
from tests.conftest import TinyModels, app_config

SECRET = "webhook-secret"


class Receiver:
    """A webhook receiver that checks signatures; answers from a list of statuses."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.delay = delay
        self.calls: list[dict[str, Any]] = []
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.calls.append(
            {
                "body": json.loads(raw),
                "signed": verify(SECRET, raw, request.headers.get(SIGNATURE_HEADER)),
                "delivery": request.headers.get("X-Frontdesk-Delivery"),
                "event": request.headers.get("X-Frontdesk-Event"),
            }
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.got.set()
        return web.json_response({"ok": status == 200}, status=status)


async def serve(aiohttp_server: Any, receiver: Receiver) -> str:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app)
    return str(server.make_url("/hook"))


def hooks(url: str, fmt: str = "json", **settings: Any) -> dict[str, Any]:
    return {
        **QUICK_ALERTS,
        "webhooks": [{"url": url, "format": fmt, "secret": SECRET, "timeout": "2s"}],
        "webhook_backoff": 0.05,
        **settings,
    }


async def test_signed_json_and_retry_after_a_500(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    receiver = Receiver(statuses=[500, 200])
    url = await serve(aiohttp_server, receiver)
    client = await aiohttp_client(create_app(app_config(tmp_path, alerts=hooks(url))))
    await customer_turns(client.app, [("payment_failed", "negative")] * 4)
    await asyncio.wait_for(receiver.got.wait(), timeout=10)
    await client.app[OPS].dispatcher.join()

    assert len(receiver.calls) == 2
    first, second = receiver.calls
    assert first["signed"] and second["signed"]
    assert first["delivery"] == second["delivery"]  # the same notification, retried
    assert second["event"] == "alert.opened"
    body = second["body"]
    assert body["event"] == "alert.opened"
    assert body["alert"]["topic"] == "payments" and body["alert"]["state"] == "open"
    metrics = client.app[OPS].metrics
    assert metrics.deliveries.labels("delivered")._value.get() == 1


async def test_slack_format_and_resolve_notification(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    receiver = Receiver()
    url = await serve(aiohttp_server, receiver)
    client = await aiohttp_client(create_app(app_config(tmp_path, alerts=hooks(url, "slack"))))
    await customer_turns(client.app, [("payment_failed", "negative")] * 4)
    service = client.app[OPS]
    [alert] = await service.store.alerts()
    await service.resolve(alert.id, "olga")
    await service.dispatcher.join()
    texts = [c["body"]["text"] for c in receiver.calls]
    assert texts[0].startswith(":rotating_light: Alert #") and "payments" in texts[0]
    assert texts[1].startswith(":white_check_mark: Resolved #")
    assert all(c["signed"] for c in receiver.calls)


async def test_a_tampered_body_does_not_verify() -> None:
    from bot.ops.webhooks import sign

    body = b'{"event":"alert.opened"}'
    assert verify(SECRET, body, sign(SECRET, body))
    assert not verify(SECRET, body + b" ", sign(SECRET, body))
    assert not verify("other", body, sign(SECRET, body))
    assert not verify(SECRET, body, None)


async def test_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    config = AlertsConfig(
        webhooks=(WebhookTarget("http://127.0.0.1:9/hook"),), webhook_queue_size=2
    )
    drops: list[int] = []
    dispatcher = WebhookDispatcher(config, on_drop=lambda: drops.append(1))
    # Not started: nothing drains the queue.
    for i in range(5):
        dispatcher.notify("alert.opened", {"id": i})
    queue = dispatcher.receivers[0].queue
    assert dispatcher.dropped == 3 and len(drops) == 3
    assert [queue.get_nowait().alert["id"] for _ in range(2)] == [3, 4]


async def test_gives_up_after_max_attempts_and_keeps_going(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    receiver = Receiver(statuses=[503, 503, 503, 200])
    url = await serve(aiohttp_server, receiver)
    config = AlertsConfig(
        webhooks=(WebhookTarget(url, secret=SECRET),),
        webhook_max_attempts=3,
        webhook_backoff_s=0.01,
    )
    results: list[str] = []
    dispatcher = WebhookDispatcher(config, on_result=results.append)
    await dispatcher.start()
    try:
        dispatcher.notify("alert.opened", {"id": 1})
        dispatcher.notify("alert.opened", {"id": 2})
        await asyncio.wait_for(dispatcher.join(), timeout=10)
    finally:
        await dispatcher.close()
    assert results == ["failed", "delivered"]
    assert [c["body"]["alert"]["id"] for c in receiver.calls] == [1, 1, 1, 2]


async def test_a_slow_receiver_does_not_delay_the_chat_reply(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    receiver = Receiver(delay=5.0)
    url = await serve(aiohttp_server, receiver)
    config = app_config(
        tmp_path,
        models_dir=tiny_models.models_dir,
        index=tiny_models.index,
        alerts=hooks(url, negative_share={"threshold": 0.5, "min_volume": 2}),
    )
    client = await aiohttp_client(create_app(config))
    await asyncio.wait_for(client.app[RUNTIME].ready.wait(), timeout=120)
    service = client.app[OPS]
    timings = []
    for i, text in enumerate(["this is terrible", "worst service ever", "awful experience"]):
        started = time.perf_counter()
        response = await client.post(
            "/webhooks/rest/webhook", json={"sender": f"angry-{i}", "message": text}
        )
        assert response.status == 200, await response.text()
        timings.append(time.perf_counter() - started)
        await service.settle()
    # The alert opened on the second message; the receiver is now busy for 5 s.
    assert len(await service.store.alerts()) == 1
    assert receiver.calls and not receiver.got.is_set()
    started = time.perf_counter()
    response = await client.post(
        "/webhooks/rest/webhook", json={"sender": "calm", "message": "where is my order"}
    )
    assert response.status == 200
    assert time.perf_counter() - started < 2.0
    assert max(timings[1:]) < 2.0, timings


async def test_the_signature_covers_a_timestamp_and_goes_stale() -> None:
    from bot.ops.webhooks import sign

    body = b'{"event":"alert.opened"}'
    header = sign(SECRET, body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, body, header, now=1_700_000_000 + 299)
    assert not verify(SECRET, body, header, now=1_700_000_000 + 301), "a replay, too late"
    forged = header.replace("t=1700000000", "t=1700000100")
    assert not verify(SECRET, body, forged, now=1_700_000_100), "t is signed too"


async def test_a_redirect_is_not_followed(aiohttp_server: Any) -> None:
    followed: list[str] = []

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        followed.append(request.path)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", moved)
    app.router.add_post("/elsewhere", elsewhere)
    server = await aiohttp_server(app)
    target = WebhookTarget(url=str(server.make_url("/hook")), secret=SECRET)
    dispatcher = WebhookDispatcher(AlertsConfig(webhooks=(target,), webhook_max_attempts=2))
    await dispatcher.start()
    try:
        from bot.ops.webhooks import Notification

        result = await dispatcher.deliver(target, Notification("alert.opened", {"id": 1}))
    finally:
        await dispatcher.close()
    assert result == "rejected"
    assert followed == []


async def deliver_once(target: WebhookTarget) -> str:
    dispatcher = WebhookDispatcher(AlertsConfig(webhooks=(target,), webhook_max_attempts=1))
    await dispatcher.start()
    try:
        from bot.ops.webhooks import Notification

        return await dispatcher.deliver(target, Notification("alert.opened", {"id": 1}))
    finally:
        await dispatcher.close()


async def test_a_failed_delivery_is_logged_without_the_urls_password_or_token(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(aiohttp_server, Receiver(statuses=[500]))
    port = URL(server).port
    url = f"http://alerts:hook-pass-0123@127.0.0.1:{port}/hook?token=hook-token-0123"

    with caplog.at_level(logging.WARNING, logger="bot.ops.webhooks"):
        assert await deliver_once(WebhookTarget(url, secret=SECRET)) == "failed"

    assert caplog.messages == [
        f"webhook http://alerts:***@127.0.0.1:{port}/hook?token=*** answered 500 (attempt 1/1)"
    ]


async def test_an_unreachable_receiver_is_logged_without_its_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Port 9 (discard) on loopback: nothing listens.
    url = "http://alerts:hook-pass-0123@127.0.0.1:9/hook?token=hook-token-0123"

    with caplog.at_level(logging.WARNING, logger="bot.ops.webhooks"):
        assert await deliver_once(WebhookTarget(url, secret=SECRET)) == "failed"

    [line] = caplog.messages
    assert line.startswith("webhook http://alerts:***@127.0.0.1:9/hook?token=*** failed: ")
    assert "hook-pass-0123" not in line and "hook-token-0123" not in line


async def test_a_slack_format_receivers_path_is_not_logged(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = web.Application()
    app.router.add_post("/services/T1/B2/slack-path-secret", Receiver(statuses=[404]).handle)
    server = await aiohttp_server(app)
    url = str(server.make_url("/services/T1/B2/slack-path-secret"))

    with caplog.at_level(logging.WARNING, logger="bot.ops.webhooks"):
        assert await deliver_once(WebhookTarget(url, format="slack")) == "rejected"

    assert caplog.messages == [
        f"webhook http://127.0.0.1:{server.port}/*** answered 404 (attempt 1/1)"
    ]
