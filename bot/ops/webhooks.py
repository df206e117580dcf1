"""Outgoing alert webhooks: signed, retried with backoff, never in anyone's way.

Each receiver has its own bounded queue and delivery task, so a slow or failing receiver
delays only its own deliveries. A full queue drops its oldest notification and counts it.

Every request carries ``X-Frontdesk-Signature: t=<unix time>,v1=<hex>`` (as Stripe and Slack
sign), where ``v1`` is the HMAC-SHA256 of ``<t>.<raw body>`` under the receiver's ``secret``
(when one is set): a receiver checks the HMAC and that ``t`` is recent, so a captured request
cannot be replayed later. Each attempt is signed afresh. Requests also carry
``X-Frontdesk-Event`` and ``X-Frontdesk-Delivery`` (the same id on every retry of one
notification). Redirects are not followed: a receiver that answers 3xx has refused it.

Log lines name a receiver by its URL without credentials: no password, no ``token=`` value,
no path of a Slack-format receiver (there the path is the secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.core.redact import redact
from bot.ops.config import AlertsConfig, WebhookTarget

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Frontdesk-Signature"
EVENT_HEADER = "X-Frontdesk-Event"
DELIVERY_HEADER = "X-Frontdesk-Delivery"


# How old a signature a receiver accepts (``verify``'s default), in seconds.
TOLERANCE_S = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value: ``t=<unix time>,v1=<HMAC-SHA256 of "t.body">``."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """What a receiver does: parse ``t`` and the ``v1`` values, refuse a ``t`` further than
    ``tolerance_s`` from now, and compare each ``v1`` with its own HMAC of ``t.body``."""
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)


@dataclass(frozen=True, slots=True)
class Notification:
    event: str  # alert.opened | alert.resolved
    alert: dict[str, Any]
    delivery: str = ""


def render(target: WebhookTarget, note: Notification) -> bytes:
    alert = note.alert
    if target.format == "slack":
        verb = "Resolved" if note.event == "alert.resolved" else "Alert"
        icon = ":white_check_mark:" if note.event == "alert.resolved" else ":rotating_light:"
        text = f"{icon} {verb} #{alert.get('id')}: {alert.get('message')}"
        body: dict[str, Any] = {
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }
    else:
        body = {"event": note.event, "delivery": note.delivery, "alert": alert}
    return json.dumps(body, separators=(",", ":")).encode()


class _Receiver:
    def __init__(self, target: WebhookTarget, size: int) -> None:
        self.target = target
        self.queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=size)
        self.task: asyncio.Task[None] | None = None


class WebhookDispatcher:
    def __init__(
        self,
        config: AlertsConfig,
        *,
        on_drop: Callable[[], None] = lambda: None,
        on_result: Callable[[str], None] = lambda result: None,
    ) -> None:
        self.config = config
        self.receivers = [_Receiver(t, config.webhook_queue_size) for t in config.webhooks]
        self.on_drop = on_drop
        self.on_result = on_result
        self.dropped = 0
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if not self.receivers:
            return
        self._session = aiohttp.ClientSession()
        for receiver in self.receivers:
            receiver.task = asyncio.get_running_loop().create_task(self._run(receiver))

    async def close(self) -> None:
        for receiver in self.receivers:
            if receiver.task is not None:
                receiver.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiver.task
        if self._session is not None:
            await self._session.close()

    def notify(self, event: str, alert: dict[str, Any]) -> None:
        """Queue a notification for every receiver; never waits."""
        for receiver in self.receivers:
            note = Notification(event, alert, delivery=str(uuid.uuid4()))
            if receiver.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    receiver.queue.get_nowait()
                    receiver.queue.task_done()
                self.dropped += 1
                self.on_drop()
            receiver.queue.put_nowait(note)

    async def join(self) -> None:
        """Wait until every queued notification is delivered or given up (tests, bench)."""
        for receiver in self.receivers:
            await receiver.queue.join()

    async def _run(self, receiver: _Receiver) -> None:
        while True:
            note = await receiver.queue.get()
            try:
                result = await self.deliver(receiver.target, note)
                self.on_result(result)
            except Exception:
                log.exception("webhook delivery to %s failed", _shown(receiver.target))
            finally:
                receiver.queue.task_done()

    async def deliver(self, target: WebhookTarget, note: Notification) -> str:
        """POST one notification, retrying with exponential backoff; returns the outcome."""
        assert self._session is not None
        body = render(target, note)
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: note.event,
            DELIVERY_HEADER: note.delivery,
            "User-Agent": "frontdesk-alerts",
        }
        attempts = self.config.webhook_max_attempts
        for attempt in range(attempts):
            retry = True
            if target.secret:
                headers[SIGNATURE_HEADER] = sign(target.secret, body)
            try:
                async with self._session.post(
                    target.url,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=target.timeout_s),
                    # A redirect could carry the signed alert to a host nobody configured.
                    allow_redirects=False,
                ) as response:
                    await response.read()
                    if response.status < 300:
                        return "delivered"
                    retry = response.status >= 500 or response.status in (408, 429)
                    log.warning(
                        "webhook %s answered %s (attempt %d/%d)",
                        _shown(target),
                        response.status,
                        attempt + 1,
                        attempts,
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning(
                    "webhook %s failed: %s (attempt %d/%d)",
                    _shown(target),
                    # aiohttp's errors name the URL they were given.
                    redact(str(exc), _secrets(target)) or type(exc).__name__,
                    attempt + 1,
                    attempts,
                )
            if not retry:
                return "rejected"
            if attempt + 1 < attempts:
                delay = min(
                    self.config.webhook_backoff_max_s, self.config.webhook_backoff_s * 2**attempt
                )
                await asyncio.sleep(delay)
        return "failed"


def _secrets(target: WebhookTarget) -> tuple[str, ...]:
    # Slack checks no signature: whoever has the URL's path can post to the channel.
    path = urlsplit(target.url).path.strip("/") if target.format == "slack" else ""
    return (target.secret, path)


def _shown(target: WebhookTarget) -> str:
    return redact(target.url, _secrets(target))
