"""Live events for widgets and consoles: a small publish/subscribe hub.

Events are notifications, not data: "conversation X changed", "the queue changed". A
subscriber reacts by reading what is new from the store, so a notification that is dropped,
repeated or delivered out of order never loses or duplicates a message; the store stays the
one source of truth.

In one process the hub is a dict of queues. With ``redis_url`` set, every publish goes
through one Redis pub/sub channel and each process delivers what it hears to its own
subscribers, so a staff reply posted to one process reaches a widget connected to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

Event = dict[str, Any]
QUEUE_SIZE = 256
STAFF_TOPIC = "staff"
REDIS_CHANNEL = "frontdesk:events"


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class EventHub:
    """In-process fan-out: ``publish`` puts the event on every subscriber's queue."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}

    @contextlib.contextmanager
    def subscribe(self, *topics: str) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        for topic in topics:
            self._subscribers.setdefault(topic, set()).add(queue)
        try:
            yield queue
        finally:
            for topic in topics:
                subscribers = self._subscribers.get(topic)
                if subscribers is not None:
                    subscribers.discard(queue)
                    if not subscribers:
                        del self._subscribers[topic]

    def subscriber_count(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    def deliver(self, topic: str, event: Event) -> None:
        for queue in tuple(self._subscribers.get(topic, ())):
            # A full queue already holds notifications its reader has not acted on; the next
            # read of the store covers this one too.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait({**event, "topic": topic})

    async def publish(self, topic: str, event: Event) -> None:
        self.deliver(topic, event)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class RedisEventHub(EventHub):
    """Fan-out across processes through one Redis pub/sub channel."""

    def __init__(self, url: str, channel: str = REDIS_CHANNEL) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self._client: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        import redis.asyncio as redis

        self._client = redis.from_url(self.url)
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        # Wait until the subscription is live, so nothing published after start is missed.
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=10)
        except TimeoutError:
            log.error(
                "could not subscribe to Redis at %s; live events stay in this process",
                _redact(self.url),
            )

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        self._subscribed.set()
                        delay = 0.5
                    elif kind == "message":
                        self._deliver_raw(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Redis pub/sub failed (%s); resubscribing in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _deliver_raw(self, data: Any) -> None:
        try:
            decoded = json.loads(data)
            self.deliver(str(decoded["topic"]), dict(decoded["event"]))
        except (TypeError, ValueError, KeyError):
            log.warning("ignoring a malformed event on %s", self.channel)

    async def publish(self, topic: str, event: Event) -> None:
        try:
            await self._client.publish(self.channel, json.dumps({"topic": topic, "event": event}))
        except Exception as exc:
            # Keep this process's own subscribers live even while Redis is away.
            log.warning("publishing to Redis failed (%s); delivering locally only", exc)
            self.deliver(topic, event)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._client is not None:
            await self._client.aclose()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def make_hub(redis_url: str) -> EventHub:
    return RedisEventHub(redis_url) if redis_url else EventHub()
