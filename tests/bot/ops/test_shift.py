"""The shift rule: a per-topic CUSUM of the negative indicator against the topic's trailing
baseline share, counted in messages. Streams are seeded, so every figure here is exact."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.ops.config import AlertsConfig, ShareRule, ShiftRule, SurgeRule, parse_alerts
from bot.ops.engine import (
    OVERALL,
    SHIFT_RULE,
    AlertEngine,
    Observation,
    ShiftState,
    Transition,
    describe,
)
from bot.server.app import create_app
from bot.server.appkeys import OPS
from tests.bot.ops.conftest import NOW, customer_turns
from tests.conftest import app_config

T0 = 1_700_000_000.0
TOPICS = ["account", "orders", "payments", "products", "returns", "shipping"]


def shift_only(**rule: Any) -> AlertsConfig:
    return AlertsConfig(
        negative_share=ShareRule(enabled=False),
        surge=SurgeRule(enabled=False),
        shift=ShiftRule(**rule),
        overall=False,
        cooldown_s=1800,
        auto_resolve_s=900,
    )


def bench_stream(seed: int, calm: int = 5000, surge: int = 1500) -> list[Observation]:
    """The replay bench's stream with a perfect classifier: a message every 2 s over six
    topics at 20% negative, then payments at 60%."""
    rng = random.Random(seed)
    stream = []
    for i in range(calm + surge):
        topic = rng.choice(TOPICS)
        share = 0.6 if i >= calm and topic == "payments" else 0.2
        stream.append(Observation(T0 + 2 * i, topic, rng.random() < share))
    return stream


def opened(changes: list[Transition]) -> list[Transition]:
    return [c for c in changes if c.kind == "open"]


def feed(engine: AlertEngine, stream: list[Observation]) -> list[Transition]:
    changes: list[Transition] = []
    for obs in stream:
        changes += engine.observe(obs)
    return changes


def test_shift_rule_alerts_within_fifty_messages_of_a_surge() -> None:
    for seed in range(5):
        stream = bench_stream(seed)
        engine = AlertEngine(AlertsConfig())
        surge_at = stream[5000].ts
        alerts = opened(feed(engine, stream))
        # Nothing in the calm, nothing on the calm topics; the share rule may follow later.
        assert {(a.alert.scope, a.at >= surge_at) for a in alerts} == {("payments", True)}
        alert = alerts[0]
        assert alert.alert.rule == SHIFT_RULE
        delay = sum(1 for o in stream[5000:] if o.topic == "payments" and o.ts <= alert.at)
        assert delay <= 50, (seed, delay)
        evaluation = alert.evaluation
        assert evaluation is not None and evaluation.baseline is not None
        assert 0.15 < evaluation.baseline < 0.25
        # The run since the statistic last stood at zero, the detector's estimate of when the
        # rise began: the surge so far (give or take its first messages), well above usual.
        assert evaluation.share > evaluation.baseline + 0.1
        assert evaluation.volume >= delay - 3, (seed, evaluation.volume, delay)


def test_shift_rule_is_counted_in_messages_not_time() -> None:
    rng = random.Random(5)
    negatives = [rng.random() < 0.2 for _ in range(400)] + [rng.random() < 0.6 for _ in range(200)]
    found = []
    for step in (2.0, 600.0):  # a busy topic, and one message every ten minutes
        engine = AlertEngine(shift_only(baseline_s=1000 * 600))  # the whole stream, either way
        stream = [Observation(T0 + i * step, "payments", neg) for i, neg in enumerate(negatives)]
        alert = opened(feed(engine, stream))[0]
        found.append(round((alert.at - T0) / step))
    assert found[0] == found[1] and 400 < found[0] <= 450


def test_shift_rule_needs_a_baseline_before_it_tests() -> None:
    engine = AlertEngine(shift_only(min_baseline_volume=100))
    # An all-negative new topic is the share rule's job: there is no usual share to rise from.
    assert opened(feed(engine, [Observation(T0 + i, "payments", True) for i in range(100)])) == []
    state = engine.shifts["payments"]
    assert state.statistic == 0 and state.baseline is None
    [evaluation] = [e for e in engine.evaluate("payments") if e.rule == SHIFT_RULE]
    assert evaluation.fires is False


def test_shift_rule_takes_a_steady_high_share_as_usual() -> None:
    rng = random.Random(3)
    engine = AlertEngine(shift_only())
    steady = [Observation(T0 + 5 * i, "payments", rng.random() < 0.5) for i in range(6000)]
    assert opened(feed(engine, steady)) == []


def test_shift_rule_leaves_the_overall_scope_to_the_window_rules() -> None:
    engine = AlertEngine(replace(shift_only(), overall=True))
    alerts = opened(feed(engine, bench_stream(0)))
    assert [(a.alert.rule, a.alert.scope) for a in alerts] == [(SHIFT_RULE, "payments")]
    assert OVERALL not in engine.shifts
    assert [e.rule for e in engine.evaluate(OVERALL)] == []


def test_an_open_shift_alert_is_kept_fresh_then_resolves_and_cools_down() -> None:
    rng = random.Random(8)
    engine = AlertEngine(shift_only(min_baseline_volume=50))
    calm = [Observation(T0 + 10 * i, "payments", rng.random() < 0.2) for i in range(300)]
    assert opened(feed(engine, calm)) == []
    start = T0 + 3000
    surge = [Observation(start + 10 * i, "payments", rng.random() < 0.7) for i in range(300)]
    changes = feed(engine, surge)
    [first] = opened(changes)
    # One alert while the surge lasts, its statistic capped at the threshold, fired on by the
    # surge to the end, so it has not resolved.
    assert engine.active[(SHIFT_RULE, "payments")] is first.alert
    assert engine.shifts["payments"].statistic <= ShiftRule().h
    assert first.alert.last_fired_at >= surge[-1].ts - 60
    assert [c.kind for c in changes if c.kind == "resolve"] == []
    # Calm again: the rule stops firing within a few messages, and auto-resolve (900 s) closes it.
    back = surge[-1].ts + 10
    changes = feed(engine, [Observation(back + 10 * i, "payments", False) for i in range(120)])
    [resolved] = [c for c in changes if c.kind == "resolve"]
    assert resolved.alert is first.alert and resolved.at - back <= 900 + 60
    # A second surge inside the cooldown (1800 s after the resolve) stays quiet...
    again = resolved.at + 10
    changes = feed(engine, [Observation(again + 10 * i, "payments", True) for i in range(60)])
    assert opened(changes) == []
    # ...and opens a new alert once the cooldown has passed, if the shift still holds.
    later = resolved.at + 1800
    changes = feed(engine, [Observation(later + 10 * i, "payments", True) for i in range(5)])
    [second] = opened(changes)
    assert second.alert is not first.alert and second.alert.rule == SHIFT_RULE


def test_seeding_rebuilds_the_shift_statistic() -> None:
    stream = bench_stream(1)
    # Stop a few messages into the surge, with the statistic on its way up but below h.
    cut = 5000 + 30
    live = AlertEngine(AlertsConfig())
    assert opened(feed(live, stream[:cut])) == []
    assert live.shifts["payments"].statistic > 0
    restarted = AlertEngine(AlertsConfig())
    restarted.seed(reversed(stream[:cut]))  # seeding sorts by time
    for topic, state in live.shifts.items():
        rebuilt = restarted.shifts[topic]
        assert (rebuilt.statistic, rebuilt.volume, rebuilt.negatives, rebuilt.baseline) == (
            state.statistic,
            state.volume,
            state.negatives,
            state.baseline,
        )
    # Both go on to raise the same alert at the same message.
    after_live = opened(feed(live, stream[cut:]))
    after_restart = opened(feed(restarted, stream[cut:]))
    assert [(c.alert.scope, c.at) for c in after_live] == [
        (c.alert.scope, c.at) for c in after_restart
    ]
    assert after_live and after_live[0].alert.rule == SHIFT_RULE


def test_shift_state_steps_by_the_log_likelihood_ratio() -> None:
    rule = ShiftRule(min_baseline_volume=10, increase=0.2, h=3.0)
    state = ShiftState()
    # Baseline 25 of 100 negative: p0 is one standard error above 0.25 and p1 is 0.2 higher.
    state.step(rule, True, 100, 25)
    p0 = 0.25 + (0.25 * 0.75 / 100) ** 0.5
    assert state.baseline == 0.25
    assert abs(state.statistic - math.log((p0 + 0.2) / p0)) < 1e-12
    assert (state.volume, state.negatives) == (1, 1)
    # A calm message takes it back to zero, which clears the run.
    state.step(rule, False, 101, 26)
    state.step(rule, False, 102, 26)
    assert (state.statistic, state.volume, state.negatives) == (0.0, 0, 0)
    # A long negative run is capped at h, so the end of a surge shows within a message or two.
    for i in range(40):
        state.step(rule, True, 103 + i, 26)
    assert state.statistic == 3.0 and state.volume == 40
    state.step(rule, False, 143, 26)
    assert state.statistic < 3.0


def test_a_shift_alert_says_what_rose_and_from_where() -> None:
    engine = AlertEngine(shift_only())
    [alert] = opened(feed(engine, bench_stream(0)))
    evaluation = alert.evaluation
    assert evaluation is not None
    text = describe(evaluation)
    assert text.startswith("Negative shift in topic 'payments': ")
    assert f"({evaluation.negatives}/{evaluation.volume}) since the rise began" in text
    assert text.endswith(f"against a baseline of {evaluation.baseline:.0%}")
    details = evaluation.details()
    assert details["statistic"] == details["threshold"] == ShiftRule().h


def test_the_horizon_reaches_back_over_the_shift_baseline() -> None:
    config = parse_alerts({"shift": {"baseline": "2d"}})
    assert config.horizon_s == 2 * 86400


async def test_a_restart_keeps_a_shift_in_progress(aiohttp_client: Any, tmp_path: Path) -> None:
    alerts = {
        "negative_share": {"enabled": False},
        "overall": False,
        "shift": {"min_baseline_volume": 20, "h": 3.0},
    }
    config = app_config(tmp_path, alerts=alerts)
    calm = [("payment_failed", "negative" if i % 5 == 0 else "neutral") for i in range(40)]
    first = await aiohttp_client(create_app(config))
    rising = [("payment_failed", "negative")] * 3
    await customer_turns(first.app, calm + rising, start=NOW - timedelta(minutes=30))
    before = first.app[OPS].engine.shifts["payments"]
    assert 0 < before.statistic < 3.0
    await first.close()

    second = await aiohttp_client(create_app(config))
    after = second.app[OPS].engine.shifts["payments"]
    assert (after.statistic, after.volume, after.negatives) == (
        before.statistic,
        before.volume,
        before.negatives,
    )
    more = [("payment_failed", "negative")] * 5
    await customer_turns(second.app, more, start=NOW - timedelta(minutes=5), sender="after")
    [alert] = await second.app[OPS].store.alerts()
    assert alert.rule == SHIFT_RULE and alert.scope == "payments"
    assert alert.details["statistic"] == 3.0
    await second.close()
