"""Alert rules over sentiment, per topic and overall: sliding time windows, and a sequential
change detector counted in messages.

Pure and synchronous: it is fed observations (a time stamp, a topic, negative or not) and
answers with transitions (open, update, resolve) for the service to persist and announce.
Time is the observations' own time stamps (the turns' ``created_at``), never the wall clock,
so a replay at any speed behaves as it would live.

Counts are kept in fixed-width buckets per scope with running sums per window length, so an
observation costs O(number of windows), whatever the traffic. The shift rule's CUSUM is a few
numbers per topic, advanced by every observation (seeding included, so a restart rebuilds it
from the stored events).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.ops.config import AlertsConfig, ShiftRule

OVERALL = "*"
SHARE_RULE = "negative_share"
SURGE_RULE = "surge"
SHIFT_RULE = "shift"

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
ACTIVE = (OPEN, ACKNOWLEDGED)
STATES = (OPEN, ACKNOWLEDGED, RESOLVED)


@dataclass(frozen=True, slots=True)
class Observation:
    ts: float  # seconds since the epoch (the turn's created_at)
    topic: str
    negative: bool


class _Sum:
    __slots__ = ("lo", "n", "neg")

    def __init__(self, lo: int) -> None:
        self.lo = lo
        self.n = 0
        self.neg = 0


class ScopeCounts:
    """Observation counts of one scope in buckets of ``res`` seconds, with a running total
    for each window length (in buckets) so a window costs nothing to read."""

    def __init__(self, res: float, spans: Iterable[int]) -> None:
        self.res = res
        self.spans = sorted(set(spans))
        self.max_span = self.spans[-1]
        self.buckets: dict[int, list[int]] = {}
        self.order: deque[int] = deque()  # bucket keys as they were created (nearly sorted)
        self.hi: int | None = None
        self.sums: dict[int, _Sum] = {}

    def bucket(self, ts: float) -> int:
        return math.floor(ts / self.res)

    def _start(self, b: int) -> None:
        self.hi = b
        self.sums = {span: _Sum(b - span + 1) for span in self.spans}

    def advance(self, b: int) -> None:
        if self.hi is None:
            self._start(b)
            return
        if b <= self.hi:
            return
        for span, total in self.sums.items():
            new_lo = b - span + 1
            if new_lo <= total.lo:
                continue
            if new_lo - total.lo <= len(self.buckets):
                expired: Iterable[int] = range(total.lo, new_lo)
            else:
                expired = [k for k in self.buckets if total.lo <= k < new_lo]
            for k in expired:
                cell = self.buckets.get(k)
                if cell:
                    total.n -= cell[0]
                    total.neg -= cell[1]
            total.lo = new_lo
        self.hi = b
        floor = b - self.max_span + 1
        while self.order and self.order[0] < floor:
            self.buckets.pop(self.order.popleft(), None)

    def add(self, ts: float, negative: bool) -> bool:
        """Count one observation; False when it is older than the longest window."""
        b = self.bucket(ts)
        self.advance(b)
        assert self.hi is not None
        if b < self.hi - self.max_span + 1:
            return False
        cell = self.buckets.get(b)
        if cell is None:
            cell = self.buckets[b] = [0, 0]
            self.order.append(b)
        cell[0] += 1
        cell[1] += int(negative)
        for total in self.sums.values():
            if b >= total.lo:
                total.n += 1
                total.neg += int(negative)
        return True

    def window(self, span: int) -> tuple[int, int]:
        total = self.sums.get(span)
        return (total.n, total.neg) if total else (0, 0)


class ShiftState:
    """One topic's CUSUM (Page 1954) of the negative indicator.

    ``statistic`` sums, message by message, the log-likelihood ratio of share
    ``p1 = p0 + increase`` against the baseline share ``p0``, floored at zero and capped at
    ``h``; ``volume`` and ``negatives`` count the run since it last stood at zero, the
    detector's estimate of when a change began.
    """

    __slots__ = ("baseline", "negatives", "statistic", "volume")

    def __init__(self) -> None:
        self.statistic = 0.0
        self.volume = 0
        self.negatives = 0
        self.baseline: float | None = None  # the share the latest message was tested against

    def _clear(self) -> None:
        self.statistic = 0.0
        self.volume = self.negatives = 0

    def step(self, rule: ShiftRule, negative: bool, base_n: int, base_neg: int) -> None:
        """Advance by one message, against the baseline as it stood before that message."""
        if base_n < rule.min_baseline_volume:
            self.baseline = None
            self._clear()
            return
        share = self.baseline = base_neg / base_n
        # One standard error above the baseline share: a short or unlucky baseline that reads
        # low would otherwise turn an ordinary stretch into evidence of a rise. Clamped, since a
        # spotless (or hopeless) history would make a log ratio infinite.
        share += math.sqrt(max(share * (1 - share), 1e-4) / base_n)
        p0 = min(max(share, 0.01), 0.98)
        p1 = min(p0 + rule.increase, 0.99)
        llr = math.log(p1 / p0) if negative else math.log((1 - p1) / (1 - p0))
        statistic = self.statistic + llr
        if statistic <= 0:
            self._clear()
            return
        # Capped at the threshold: during a long surge the sum would otherwise climb far above
        # it and then take as long to come back down after the surge ends. Capped, the rule
        # stops firing within a few calm messages and auto-resolve takes it from there.
        self.statistic = min(statistic, rule.h)
        self.volume += 1
        self.negatives += int(negative)


def _usually_there(usual: float | None, usual_n: float, n: int, threshold: float) -> bool:
    """Whether a window of ``n`` messages at the scope's usual share reaches ``threshold``
    within three standard errors. For such a scope (complaints, say) the threshold is a coin
    flip every window, not news; the shift rule tests it against its own level instead.

    The usual share is itself an estimate from ``usual_n`` messages (history, and the
    training data's reading counted as a few), so its error counts too: a short history that
    happens to read low does not make an ordinary window look like news."""
    if usual is None or not n or not usual_n:
        return False
    spread = max(usual * (1 - usual), 1e-4)
    return usual + 3 * math.sqrt(spread * (1 / n + 1 / usual_n)) >= threshold


@dataclass(frozen=True, slots=True)
class Evaluation:
    rule: str
    scope: str
    fires: bool
    volume: int
    negatives: int
    share: float
    baseline: float | None = None
    baseline_volume: int | None = None
    z: float | None = None
    threshold: float | None = None
    window_s: float = 0.0
    statistic: float | None = None  # the shift rule's CUSUM

    def details(self) -> dict[str, Any]:
        extra = {} if self.statistic is None else {"statistic": round(self.statistic, 2)}
        return {
            "volume": self.volume,
            "negatives": self.negatives,
            "share": round(self.share, 4),
            "baseline": None if self.baseline is None else round(self.baseline, 4),
            "baseline_volume": self.baseline_volume,
            "z": None if self.z is None else round(self.z, 2),
            "threshold": self.threshold,
            "window_s": self.window_s,
            **extra,
        }


@dataclass
class AlertState:
    """What the engine remembers of an alert that is open or acknowledged."""

    rule: str
    scope: str
    state: str
    opened_at: float
    last_fired_at: float
    id: int | None = None
    peak_share: float = 0.0


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str  # open | update | resolve
    alert: AlertState
    evaluation: Evaluation | None
    at: float


def describe(evaluation: Evaluation) -> str:
    where = "all topics" if evaluation.scope == OVERALL else f"topic {evaluation.scope!r}"
    share = f"{evaluation.share:.0%} negative ({evaluation.negatives}/{evaluation.volume})"
    minutes = evaluation.window_s / 60
    if evaluation.rule == SHIFT_RULE and evaluation.baseline is not None:
        return (
            f"Negative shift in {where}: {share} since the rise began, "
            f"against a baseline of {evaluation.baseline:.0%}"
        )
    if evaluation.rule == SURGE_RULE and evaluation.baseline is not None:
        return (
            f"Negative surge in {where}: {share} over the last {minutes:g} min, "
            f"against a baseline of {evaluation.baseline:.0%}"
        )
    return f"High negative share in {where}: {share} over the last {minutes:g} min"


@dataclass
class AlertEngine:
    config: AlertsConfig
    scopes: dict[str, ScopeCounts] = field(default_factory=dict)
    shifts: dict[str, ShiftState] = field(default_factory=dict)
    active: dict[tuple[str, str], AlertState] = field(default_factory=dict)
    resolved_at: dict[tuple[str, str], float] = field(default_factory=dict)
    watermark: float | None = None
    # scope -> (messages, negatives): the training data as the models read it, already
    # weighted (bot/ops/priors.py); what a scope is usually like before it has a history.
    priors: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = self.config
        windows = [c.gauge_window_s, c.negative_share.window_s, c.surge.window_s]
        # Buckets small enough that every window spans at least 30 of them.
        self.res = max(1.0, math.floor(min(windows) / 30))
        self._span_share = self._span(c.negative_share.window_s)
        self._span_share_usual = self._span(c.negative_share.window_s + c.negative_share.baseline_s)
        self._span_surge = self._span(c.surge.window_s)
        self._span_baseline = self._span(c.surge.window_s + c.surge.baseline_s)
        self._span_gauge = self._span(c.gauge_window_s)
        self._span_shift = self._span(c.shift.baseline_s)

    def _span(self, seconds: float) -> int:
        return max(1, round(seconds / self.res))

    def _scope(self, name: str) -> ScopeCounts:
        counts = self.scopes.get(name)
        if counts is None:
            spans = [self._span_share, self._span_gauge]
            if self.config.negative_share.baseline_s:
                spans.append(self._span_share_usual)
            if self.config.surge.enabled:
                spans += [self._span_surge, self._span_baseline]
            if self.config.shift.enabled:
                spans.append(self._span_shift)
            counts = self.scopes[name] = ScopeCounts(self.res, spans)
            if self.watermark is not None:
                counts.advance(counts.bucket(self.watermark))
        return counts

    def _targets(self, topic: str) -> list[str]:
        return [topic, OVERALL] if self.config.overall else [topic]

    # Feeding -------------------------------------------------------------------------

    def seed(self, observations: Iterable[Observation]) -> None:
        """Fill the windows from stored history without raising alerts (at start-up)."""
        for obs in sorted(observations, key=lambda o: o.ts):
            self._count(obs)

    def _count(self, obs: Observation) -> None:
        self.watermark = obs.ts if self.watermark is None else max(self.watermark, obs.ts)
        shift = self.config.shift
        for name in self._targets(obs.topic):
            counts = self._scope(name)
            # The overall scope is left to the window rules: it sees every message, so a test
            # counted in messages would there run through its false-alarm budget fastest, and
            # its volume is what the window rules need.
            # The baseline the observation is tested against is the window without it. Read
            # before counting it (once the window has moved to its time), since an
            # observation that arrives late may fall outside the baseline window.
            counts.advance(counts.bucket(obs.ts))
            base_n, base_neg = counts.window(self._span_shift)
            if not counts.add(obs.ts, obs.negative) or not shift.enabled or name == OVERALL:
                continue
            state = self.shifts.get(name)
            if state is None:
                state = self.shifts[name] = ShiftState()
            state.step(shift, obs.negative, base_n, base_neg)

    def observe(self, obs: Observation) -> list[Transition]:
        self._count(obs)
        assert self.watermark is not None
        now = self.watermark
        changes: list[Transition] = []
        for name in self._targets(obs.topic):
            for evaluation in self.evaluate(name):
                changes.extend(self._apply(evaluation, now))
        changes.extend(self._expire(now))
        return changes

    def tick(self, now: float, *, expire: bool = True) -> list[Transition]:
        """Let time pass without observations: windows empty and (``expire``) quiet alerts
        resolve."""
        if self.watermark is not None and now <= self.watermark:
            return []
        self.watermark = now
        for counts in self.scopes.values():
            counts.advance(counts.bucket(now))
        return self._expire(now) if expire else []

    # Rules ---------------------------------------------------------------------------

    def evaluate(self, scope: str) -> list[Evaluation]:
        counts = self._scope(scope)
        results: list[Evaluation] = []
        share_rule = self.config.negative_share
        if share_rule.enabled:
            n, neg = counts.window(self._span_share)
            share = neg / n if n else 0.0
            usual: float | None = None
            base_n = 0
            usual_n = 0.0
            if share_rule.baseline_s:
                total_n, total_neg = counts.window(self._span_share_usual)
                base_n = total_n - n
                prior_n, prior_neg = self.priors.get(scope, (0.0, 0.0))
                usual_n = base_n + prior_n
                if prior_n or base_n >= share_rule.min_volume:
                    usual = (total_neg - neg + prior_neg) / usual_n
            results.append(
                Evaluation(
                    SHARE_RULE,
                    scope,
                    fires=n >= share_rule.min_volume
                    and share >= share_rule.threshold
                    and not _usually_there(usual, usual_n, n, share_rule.threshold),
                    volume=n,
                    negatives=neg,
                    share=share,
                    baseline=usual,
                    baseline_volume=base_n if share_rule.baseline_s else None,
                    threshold=share_rule.threshold,
                    window_s=share_rule.window_s,
                )
            )
        surge = self.config.surge
        if surge.enabled:
            n, neg = counts.window(self._span_surge)
            total_n, total_neg = counts.window(self._span_baseline)
            base_n, base_neg = total_n - n, total_neg - neg
            share = neg / n if n else 0.0
            baseline = base_neg / base_n if base_n else None
            z: float | None = None
            fires = False
            if baseline is not None and n:
                # Two-proportion z-test: the baseline is a sample too, and a short one is noisy.
                # The pooled share is clamped so a spotless history still needs a real rise.
                pooled = min(max((neg + base_neg) / (n + base_n), 0.02), 0.98)
                z = (share - baseline) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / base_n))
                fires = (
                    n >= surge.min_volume
                    and base_n >= surge.min_baseline_volume
                    and share - baseline >= surge.min_increase
                    and z >= surge.z
                )
            results.append(
                Evaluation(
                    SURGE_RULE,
                    scope,
                    fires=fires,
                    volume=n,
                    negatives=neg,
                    share=share,
                    baseline=baseline,
                    baseline_volume=base_n,
                    z=z,
                    threshold=surge.min_increase,
                    window_s=surge.window_s,
                )
            )
        shift = self.config.shift
        if shift.enabled and scope != OVERALL:
            state = self.shifts.get(scope) or ShiftState()
            results.append(
                Evaluation(
                    SHIFT_RULE,
                    scope,
                    fires=state.statistic >= shift.h,
                    volume=state.volume,
                    negatives=state.negatives,
                    share=state.negatives / state.volume if state.volume else 0.0,
                    baseline=state.baseline,
                    baseline_volume=counts.window(self._span_shift)[0],
                    threshold=shift.h,
                    statistic=state.statistic,
                )
            )
        return results

    def _apply(self, evaluation: Evaluation, now: float) -> list[Transition]:
        key = (evaluation.rule, evaluation.scope)
        alert = self.active.get(key)
        if not evaluation.fires:
            return []
        if alert is not None:
            # Deduplicated: one alert per rule and scope while it is open or acknowledged.
            alert.last_fired_at = now
            if evaluation.share > alert.peak_share:
                alert.peak_share = evaluation.share
                return [Transition("update", alert, evaluation, now)]
            return []
        resolved = self.resolved_at.get(key)
        if resolved is not None and now < resolved + self.config.cooldown_s:
            return []
        alert = AlertState(
            evaluation.rule, evaluation.scope, OPEN, now, now, peak_share=evaluation.share
        )
        self.active[key] = alert
        return [Transition("open", alert, evaluation, now)]

    def _expire(self, now: float) -> list[Transition]:
        wait = self.config.auto_resolve_s
        if not wait:
            return []
        changes = []
        for key, alert in list(self.active.items()):
            if now - alert.last_fired_at >= wait:
                self.resolve(key, now)
                alert.state = RESOLVED
                changes.append(Transition("resolve", alert, None, now))
        return changes

    # State from outside (API, store) ---------------------------------------------------

    def restore(self, alert: AlertState) -> None:
        self.active[(alert.rule, alert.scope)] = alert

    def acknowledge(self, key: tuple[str, str]) -> None:
        alert = self.active.get(key)
        if alert is not None:
            alert.state = ACKNOWLEDGED

    def resolve(self, key: tuple[str, str], at: float) -> None:
        self.active.pop(key, None)
        self.resolved_at[key] = max(at, self.resolved_at.get(key, at))

    # Figures -------------------------------------------------------------------------

    def current(self) -> dict[str, tuple[int, int]]:
        """Volume and negatives per scope over the gauge window, at the watermark."""
        return {name: counts.window(self._span_gauge) for name, counts in self.scopes.items()}
