"""The ops monitor: customer turns in, alerts out, all off the reply path.

A customer message's sentiment event is not this module's to write: the conversation processor
commits it with the bot's reply (``Store.record_reply``), so a crash cannot lose it, and at
start :meth:`OpsService.start` seeds the alert windows from the stored events, those the last
process stored but never evaluated included.

The turn listener only puts an item on a bounded queue (dropping the oldest when it is full,
counted) and returns. One background task takes items in batches, records those that arrive
without a stored event (a replay's, a test's) and then reads the event table; another lets
time pass (quiet alerts resolve, gauges decay) and prunes events older than the retention.

The alert engine is fed from the event table, in id order, never from the queue: every
process sharing the database reads every event (the others' by polling every
``[alerts] poll_interval``), so all of them hold the same windows, and one of them, the leader
(bot/ops/leadership.py), evaluates the rules and writes what they decide. Ids are handed out
when a transaction inserts and become visible when it commits, so a read can see id 102 before
101; an id skipped that way is asked for again for a few seconds (a rolled-back insert leaves
a hole that never fills).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from bot.chat.nlu import ParseResult
from bot.core.messages import Reply
from bot.ops.config import AlertsConfig
from bot.ops.engine import (
    ACKNOWLEDGED,
    ACTIVE,
    OPEN,
    AlertEngine,
    AlertState,
    Observation,
    Transition,
    describe,
)
from bot.ops.leadership import Leadership, SoleLeader
from bot.ops.webhooks import WebhookDispatcher
from bot.storage import Turn
from bot.storage import store as store_module
from bot.storage.ops_store import Alert, OpsStore, SentimentEvent, epoch, from_epoch
from retrieval.base.domain import Domain

log = logging.getLogger(__name__)

BATCH = 256
CHANNEL_CACHE = 10_000
PULL_LIMIT = 5000
HOLE_WAIT_S = 10.0
MAX_HOLES = 10_000
# How often the lease is renewed and staff's changes made on other processes are read back.
LEAD_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class TurnItem:
    conversation_id: str
    turn_id: int
    ts: float
    intent: str | None
    sentiment: str
    score: float | None
    # True: the event is in the database already, written with the reply.
    stored: bool = False


class OpsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.negative_share = Gauge(
            "frontdesk_sentiment_negative_share",
            "Share of negative customer messages per topic over the gauge window ('*': all).",
            ["topic"],
            registry=registry,
        )
        self.messages = Gauge(
            "frontdesk_sentiment_messages",
            "Customer messages with a sentiment per topic over the gauge window ('*': all).",
            ["topic"],
            registry=registry,
        )
        self.alerts = Gauge(
            "frontdesk_alerts_active",
            "Sentiment alerts that are open or acknowledged, by state.",
            ["state"],
            registry=registry,
        )
        self.opened = Counter(
            "frontdesk_alerts_opened_total",
            "Sentiment alerts raised, by rule.",
            ["rule"],
            registry=registry,
        )
        self.dropped = Counter(
            "frontdesk_ops_dropped_total",
            "Items dropped because a bounded ops queue was full (oldest first), by queue.",
            ["queue"],
            registry=registry,
        )
        self.deliveries = Counter(
            "frontdesk_alert_webhook_deliveries_total",
            "Alert webhook notifications by outcome (delivered, rejected, failed).",
            ["result"],
            registry=registry,
        )
        for state in ACTIVE:
            self.alerts.labels(state).set(0)


def _default_clock() -> datetime:
    # Looked up at each call, so a replay that controls the store's clock controls this too.
    return store_module.utcnow()


class OpsService:
    def __init__(
        self,
        config: AlertsConfig,
        metrics: OpsMetrics,
        *,
        clock: Callable[[], datetime] = _default_clock,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.engine = AlertEngine(config)
        self.queue: asyncio.Queue[TurnItem] = asyncio.Queue(maxsize=config.queue_size)
        self.dropped = 0
        self.dispatcher = WebhookDispatcher(
            config,
            on_drop=metrics.dropped.labels("webhooks").inc,
            on_result=lambda result: metrics.deliveries.labels(result).inc(),
        )
        self.domain: Callable[[], Domain] = Domain
        self.leadership: Leadership = SoleLeader()
        self.leading = False
        self.cursor = 0  # the highest event id fed to the engine
        self.holes: dict[int, float] = {}  # ids below it not seen yet -> when first missed
        self._store: OpsStore | None = None
        self._channels: OrderedDict[str, str] = OrderedDict()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def store(self) -> OpsStore:
        if self._store is None:
            raise RuntimeError("the ops monitor has not started")
        return self._store

    # The listener: enqueue and return --------------------------------------------------

    async def on_turn(
        self, conversation_id: str, turn: Turn, parse: ParseResult | None, reply: Reply | None
    ) -> None:
        if parse is None or parse.sentiment is None or not self.config.enabled:
            return
        self.submit(
            TurnItem(
                conversation_id=conversation_id,
                turn_id=turn.id,
                ts=epoch(turn.created_at),
                intent=parse.intent.label,
                sentiment=parse.sentiment.label,
                score=parse.sentiment.confidence,
                # The processor stored it with the reply, under the same [alerts] setting.
                stored=True,
            )
        )

    def submit(self, item: TurnItem) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
                self.queue.task_done()
            self.dropped += 1
            self.metrics.dropped.labels("turns").inc()
        self.queue.put_nowait(item)

    async def settle(self) -> None:
        """Wait until every queued turn is recorded and evaluated (tests, the bench)."""
        await self.queue.join()

    # Life cycle ------------------------------------------------------------------------

    async def start(
        self,
        store: OpsStore,
        domain: Callable[[], Domain] | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self._store = store
        if domain is not None:
            self.domain = domain
        if leadership is not None:
            self.leadership = leadership
        await self._restore()
        self.leading = await self.leadership.hold()
        await self.dispatcher.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._consume()),
            loop.create_task(self._every(self._tick_interval(), self.tick)),
            loop.create_task(self._every(self.config.prune_interval_s, self.prune)),
        ]
        if self.leadership.shared:
            self._tasks += [
                loop.create_task(self._every(self.config.poll_s, self.pull)),
                loop.create_task(self._every(LEAD_INTERVAL_S, self.lead)),
            ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.leadership.release()
        self.leading = False
        await self.dispatcher.close()

    def set_priors(self, priors: dict[str, tuple[float, float]]) -> None:
        """What each topic is usually like before it has a history (bot/ops/priors.py)."""
        self.engine.priors = dict(priors)

    def _tick_interval(self) -> float:
        return max(1.0, min(60.0, self.config.gauge_window_s / 10))

    async def _restore(self) -> None:
        """Seed the windows from stored events so a restart forgets nothing."""
        now = self.clock().timestamp()
        # The last id first: an event stored meanwhile is then read once, by the first pull.
        self.cursor = await self.store.last_event_id()
        events = await self.store.events_since(now - self.config.horizon_s)
        self.engine.seed(
            Observation(e.ts, e.topic, e.negative) for e in events if e.id <= self.cursor
        )
        for alert in await self.store.alerts(states=ACTIVE, limit=10_000):
            self.engine.restore(
                AlertState(
                    alert.rule,
                    alert.scope,
                    alert.state,
                    epoch(alert.opened_at),
                    epoch(alert.last_seen_at),
                    id=alert.id,
                    peak_share=alert.peak_share,
                )
            )
        for key, at in (await self.store.last_resolved()).items():
            if key not in self.engine.active:
                self.engine.resolved_at[key] = epoch(at)
        self._update_gauges()

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("ops background job %s failed", getattr(job, "__name__", job))

    # The consumer ----------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self.process(batch)
            except Exception:
                log.exception("recording %d sentiment events failed", len(batch))
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def process(self, items: list[TurnItem]) -> list[Transition]:
        domain = self.domain()
        missing = [
            i.conversation_id
            for i in items
            if not i.stored and i.conversation_id not in self._channels
        ]
        if missing:
            for conversation_id, channel in (await self.store.channels(missing)).items():
                self._channels[conversation_id] = channel
            while len(self._channels) > CHANNEL_CACHE:
                self._channels.popitem(last=False)
        events = [
            SentimentEvent(
                turn_id=i.turn_id,
                conversation_id=i.conversation_id,
                channel=self._channels.get(i.conversation_id, ""),
                intent=i.intent,
                topic=domain.category(i.intent),
                sentiment=i.sentiment,
                score=i.score,
                ts=i.ts,
            )
            for i in items
        ]
        await self.store.record([e for e, i in zip(events, items, strict=True) if not i.stored])
        return await self.pull()

    async def pull(self) -> list[Transition]:
        """Feed the engine every event stored since the last read, by whichever process; the
        leader persists and announces what the rules decide."""
        async with self._lock:
            rows = await self.store.events_after(self.cursor, sorted(self.holes), limit=PULL_LIMIT)
            if not rows:
                self._forget_old_holes()
                return []
            rows.sort(key=lambda e: e.id)
            seen = {e.id for e in rows}
            for filled in seen & self.holes.keys():
                del self.holes[filled]
            top = max(seen)
            if top > self.cursor:
                now = time.monotonic()
                for missing in range(self.cursor + 1, top):
                    if missing not in seen:
                        self.holes[missing] = now
                self.cursor = top
            self._forget_old_holes()
            observations = [Observation(e.ts, e.topic, e.negative) for e in rows]
            changes: list[Transition] = []
            if self.leading:
                for obs in observations:
                    found = self.engine.observe(obs)
                    for change in found:
                        await self._persist(change)
                    changes.extend(found)
            else:
                # Counted, not evaluated: the leader decides, and this engine is ready to if
                # it takes over.
                self.engine.seed(observations)
            self._update_gauges()
        return changes

    def _forget_old_holes(self) -> None:
        oldest = time.monotonic() - HOLE_WAIT_S
        for missing, since in list(self.holes.items()):
            if since < oldest or len(self.holes) > MAX_HOLES:
                del self.holes[missing]

    async def catch_up(self) -> list[Transition]:
        """Everything queued here, then everything the other processes stored (tests)."""
        await self.settle()
        return await self.pull()

    async def lead(self) -> bool:
        """Renew (or take) the lease, and read back the alerts staff changed elsewhere."""
        leading = await self.leadership.hold()
        if leading != self.leading:
            log.info(
                "%s evaluating the alert rules for the fleet", "now" if leading else "no longer"
            )
        async with self._lock:
            self.leading = leading
            await self._reconcile()
            self._update_gauges()
        return leading

    async def _reconcile(self) -> None:
        """Make the engine's open alerts those the database holds: staff on another process
        may have acknowledged or resolved one, and a new leader takes over the old one's."""
        stored = {
            (a.rule, a.scope): a for a in await self.store.alerts(states=ACTIVE, limit=10_000)
        }
        at = self.engine.watermark or self.clock().timestamp()
        for key, alert in list(self.engine.active.items()):
            row = stored.get(key)
            if row is None or (alert.id is not None and row.id != alert.id):
                self.engine.resolve(key, at)
            elif row.state == ACKNOWLEDGED:
                self.engine.acknowledge(key)
        for key, row in stored.items():
            if key not in self.engine.active:
                self.engine.restore(
                    AlertState(
                        row.rule,
                        row.scope,
                        row.state,
                        epoch(row.opened_at),
                        epoch(row.last_seen_at),
                        id=row.id,
                        peak_share=row.peak_share,
                    )
                )

    async def tick(self) -> list[Transition]:
        async with self._lock:
            now = self.clock().timestamp()
            if not self.leading:
                # Windows move on; whether a quiet alert resolves is the leader's to decide.
                self.engine.tick(now, expire=False)
                self._update_gauges()
                return []
            changes = self.engine.tick(now)
            for change in changes:
                await self._persist(change)
            self._update_gauges()
        return changes

    async def prune(self) -> int:
        cutoff = self.clock().timestamp() - self.config.retention_days * 86400
        removed = await self.store.prune(cutoff)
        if removed:
            log.info("pruned %d sentiment events older than %s", removed, from_epoch(cutoff))
        return removed

    async def _persist(self, change: Transition) -> None:
        state = change.alert
        at = from_epoch(change.at)
        evaluation = change.evaluation
        if change.kind == "open" and evaluation is not None:
            alert, raised = await self.store.open_alert(
                rule=state.rule,
                scope=state.scope,
                message=describe(evaluation),
                share=evaluation.share,
                baseline=evaluation.baseline,
                volume=evaluation.volume,
                details=evaluation.details(),
                at=at,
            )
            state.id = alert.id
            if not raised:
                # Another process sharing the database raised it first and announced it.
                if alert.state == ACKNOWLEDGED:
                    self.engine.acknowledge((state.rule, state.scope))
                log.info("alert #%d is already open: %s", alert.id, alert.message)
                return
            self.metrics.opened.labels(state.rule).inc()
            self.dispatcher.notify("alert.opened", alert.public())
            log.warning("alert #%d: %s", alert.id, alert.message)
        elif change.kind == "update" and evaluation is not None and state.id is not None:
            await self.store.touch_alert(
                state.id,
                share=evaluation.share,
                peak_share=state.peak_share,
                volume=evaluation.volume,
                message=describe(evaluation),
                details=evaluation.details(),
                at=at,
            )
        elif change.kind == "resolve" and state.id is not None:
            resolved, changed = await self.store.resolve(state.id, "auto", at)
            # Unchanged: resolved elsewhere meanwhile (staff, another process), announced there.
            if resolved is not None and changed:
                self.dispatcher.notify("alert.resolved", resolved.public())

    def _update_gauges(self) -> None:
        for scope, (n, neg) in self.engine.current().items():
            self.metrics.messages.labels(scope).set(n)
            self.metrics.negative_share.labels(scope).set(neg / n if n else 0.0)
        states = [a.state for a in self.engine.active.values()]
        for state in ACTIVE:
            self.metrics.alerts.labels(state).set(states.count(state))

    # Staff actions ---------------------------------------------------------------------

    async def acknowledge(self, alert_id: int, by: str) -> Alert | None:
        async with self._lock:
            alert = await self.store.acknowledge(alert_id, by, self.clock())
            if alert is not None and alert.state == ACKNOWLEDGED:
                active = self.engine.active.get((alert.rule, alert.scope))
                if active is not None and active.id == alert.id:
                    self.engine.acknowledge((alert.rule, alert.scope))
            self._update_gauges()
        return alert

    async def resolve(self, alert_id: int, by: str) -> tuple[Alert | None, bool]:
        """Resolve an alert; returns it and whether this call changed its state."""
        async with self._lock:
            alert, changed = await self.store.resolve(alert_id, by, self.clock())
            if alert is None or not changed:
                return alert, False
            active = self.engine.active.get((alert.rule, alert.scope))
            if active is not None and active.id == alert.id:
                at = epoch(alert.resolved_at) if alert.resolved_at else self.clock().timestamp()
                # Cool down from whichever is later: the resolve, or the stream's own time.
                self.engine.resolve((alert.rule, alert.scope), max(at, self.engine.watermark or 0))
            self._update_gauges()
        self.dispatcher.notify("alert.resolved", alert.public())
        return alert, True


__all__ = ["OPEN", "OpsMetrics", "OpsService", "TurnItem"]
