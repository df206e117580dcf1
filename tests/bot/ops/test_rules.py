"""The alert engine on its own: windows, minimum volume, surge against the baseline,
deduplication, cooldown and auto-resolve. Time is the observations' own. The shift rule has
its own file, test_shift.py."""

from __future__ import annotations

import random

from bot.ops.config import AlertsConfig, ShareRule, ShiftRule, SurgeRule
from bot.ops.engine import (
    OVERALL,
    SHARE_RULE,
    SURGE_RULE,
    AlertEngine,
    Observation,
    ScopeCounts,
    Transition,
)

T0 = 1_700_000_000.0


def share_only(**rule: object) -> AlertsConfig:
    """The share rule alone; without its usual-level exemption unless ``baseline_s`` is given."""
    settings = {"threshold": 0.5, "window_s": 600, "min_volume": 10, "baseline_s": 0, **rule}
    return AlertsConfig(
        negative_share=ShareRule(**settings),  # type: ignore[arg-type]
        surge=SurgeRule(enabled=False),
        shift=ShiftRule(enabled=False),
        overall=False,
        cooldown_s=1800,
        auto_resolve_s=900,
    )


def surge_only(**rule: object) -> AlertsConfig:
    return AlertsConfig(
        negative_share=ShareRule(enabled=False),
        surge=SurgeRule(**{"enabled": True, "window_s": 600, "baseline_s": 6 * 3600, **rule}),  # type: ignore[arg-type]
        shift=ShiftRule(enabled=False),
        overall=False,
        cooldown_s=1800,
        auto_resolve_s=900,
    )


def feed(engine: AlertEngine, topic: str, negatives: list[bool], start: float, step: float):
    changes: list[Transition] = []
    for i, negative in enumerate(negatives):
        changes += engine.observe(Observation(start + i * step, topic, negative))
    return changes


def opened(changes: list[Transition]) -> list[Transition]:
    return [c for c in changes if c.kind == "open"]


def test_scope_counts_slide_and_forget_old_buckets() -> None:
    counts = ScopeCounts(10, [6, 60])
    for i in range(100):
        counts.add(T0 + i * 10, negative=i % 2 == 0)
    assert counts.window(6) == (6, 3)
    assert counts.window(60) == (60, 30)
    counts.advance(counts.bucket(T0 + 99 * 10 + 30))
    assert counts.window(6) == (3, 2) or counts.window(6)[0] == 3
    counts.advance(counts.bucket(T0 + 10_000))
    assert counts.window(60) == (0, 0)
    assert len(counts.buckets) == 0
    # Too old for the longest window: not counted.
    assert counts.add(T0, True) is False


def test_share_rule_needs_the_minimum_volume() -> None:
    engine = AlertEngine(share_only())
    changes = feed(engine, "orders", [True] * 9, T0, 10)
    assert opened(changes) == []
    changes = feed(engine, "orders", [True], T0 + 90, 10)
    [change] = opened(changes)
    assert change.alert.rule == SHARE_RULE and change.alert.scope == "orders"
    assert change.evaluation is not None and change.evaluation.volume == 10
    assert change.evaluation.share == 1.0


def test_share_rule_counts_only_the_window() -> None:
    engine = AlertEngine(share_only(min_volume=5))
    # Negative messages long ago, then calm ones: the old ones have left the window.
    feed(engine, "orders", [True] * 4, T0, 1)
    changes = feed(engine, "orders", [False, False, True, False, False, False], T0 + 3600, 10)
    assert opened(changes) == []
    evaluation = next(e for e in engine.evaluate("orders") if e.rule == SHARE_RULE)
    assert evaluation.volume == 6 and evaluation.negatives == 1


def test_topics_are_separate_and_overall_adds_them_up() -> None:
    config = share_only(min_volume=10)
    engine = AlertEngine(
        AlertsConfig(
            negative_share=config.negative_share,
            surge=config.surge,
            shift=config.shift,
            overall=True,
            cooldown_s=0,
        )
    )
    changes = []
    for i in range(10):
        changes += engine.observe(Observation(T0 + i, "orders", True))
        changes += engine.observe(Observation(T0 + i, "returns", i < 2))
    scopes = sorted(c.alert.scope for c in opened(changes))
    assert scopes == [OVERALL, "orders"]


def test_an_open_alert_is_not_raised_twice_and_updates_its_peak() -> None:
    engine = AlertEngine(share_only())
    changes = feed(engine, "orders", [True] * 10 + [False] * 2 + [True] * 20, T0, 5)
    assert len(opened(changes)) == 1
    alert = opened(changes)[0].alert
    assert alert.peak_share == 1.0
    assert len(engine.active) == 1


def test_cooldown_after_resolve_then_a_new_alert() -> None:
    engine = AlertEngine(share_only())
    [first] = opened(feed(engine, "orders", [True] * 10, T0, 5))
    engine.resolve((SHARE_RULE, "orders"), T0 + 60)
    # Still bad inside the cooldown: quiet.
    assert opened(feed(engine, "orders", [True] * 30, T0 + 60, 30)) == []
    # After the cooldown it may open again.
    [again] = opened(feed(engine, "orders", [True] * 10, T0 + 60 + 1800, 5))
    assert again.alert is not first.alert


def test_a_quiet_alert_resolves_itself_and_cools_down() -> None:
    engine = AlertEngine(share_only())
    opened(feed(engine, "orders", [True] * 10, T0, 5))
    changes = feed(engine, "orders", [False] * 40, T0 + 50, 30)
    resolved = [c for c in changes if c.kind == "resolve"]
    assert len(resolved) == 1 and engine.active == {}
    assert (SHARE_RULE, "orders") in engine.resolved_at
    # tick() lets time pass without messages.
    engine2 = AlertEngine(share_only())
    opened(feed(engine2, "orders", [True] * 10, T0, 5))
    assert engine2.tick(T0 + 100) == []
    assert [c.kind for c in engine2.tick(T0 + 45 + 900)] == ["resolve"]


def history(topic: str, share: float, hours: int, seed: int = 5) -> list[Observation]:
    """A message a minute for ``hours`` up to ten minutes before T0, ``share`` negative."""
    rng = random.Random(seed)
    start = T0 - 600 - hours * 3600
    return [Observation(start + i * 60, topic, rng.random() < share) for i in range(hours * 60)]


def test_share_rule_leaves_a_topic_that_is_usually_that_negative_to_the_shift_rule() -> None:
    usual = share_only(threshold=0.75, min_volume=20, baseline_s=86400)
    engine = AlertEngine(usual)
    engine.seed(history("feedback", 0.85, hours=6))
    # A window as negative as complaints always are: no news, no alert.
    assert opened(feed(engine, "feedback", [True] * 18 + [False] * 2, T0, 10)) == []
    evaluation = next(e for e in engine.evaluate("feedback") if e.rule == SHARE_RULE)
    assert evaluation.share == 0.9 and not evaluation.fires
    assert evaluation.baseline is not None and 0.8 < evaluation.baseline < 0.9
    # Without the exemption the same window alerts.
    plain = AlertEngine(share_only(threshold=0.75, min_volume=20))
    plain.seed(history("feedback", 0.85, hours=6))
    assert len(opened(feed(plain, "feedback", [True] * 18 + [False] * 2, T0, 10))) == 1


def test_share_rule_exempts_a_topic_whose_usual_share_reaches_the_threshold_by_chance() -> None:
    # 55% usually: a window of 20 reaches 75% in about one window in fifty.
    engine = AlertEngine(share_only(threshold=0.75, min_volume=20, baseline_s=86400))
    engine.seed(history("feedback", 0.55, hours=6))
    assert opened(feed(engine, "feedback", [True] * 16 + [False] * 4, T0, 10)) == []


def test_share_rule_still_alerts_a_topic_that_is_usually_calm() -> None:
    engine = AlertEngine(share_only(threshold=0.75, min_volume=20, baseline_s=86400))
    engine.seed(history("payments", 0.2, hours=6))
    [change] = opened(feed(engine, "payments", [True] * 16 + [False] * 4, T0, 10))
    assert change.evaluation is not None and change.evaluation.share == 0.8
    assert change.evaluation.baseline is not None and change.evaluation.baseline < 0.3
    # No history yet: nothing says the share is usual, so the threshold decides.
    fresh = AlertEngine(share_only(threshold=0.75, min_volume=20, baseline_s=86400))
    assert len(opened(feed(fresh, "feedback", [True] * 20, T0, 10))) == 1


def test_surge_against_the_trailing_baseline() -> None:
    rng = random.Random(7)
    engine = AlertEngine(surge_only())
    # Six hours of calm at ~20% negative, one message every 10 s.
    calm = [rng.random() < 0.2 for _ in range(6 * 360)]
    assert opened(feed(engine, "payments", calm, T0, 10)) == []
    start = T0 + len(calm) * 10
    surge = [rng.random() < 0.6 for _ in range(200)]
    changes = feed(engine, "payments", surge, start, 10)
    [change] = opened(changes)
    assert change.alert.rule == SURGE_RULE
    delay = round((change.at - start) / 10) + 1
    assert delay <= 50, delay
    evaluation = change.evaluation
    assert evaluation is not None and evaluation.baseline is not None
    assert 0.1 < evaluation.baseline < 0.3 and evaluation.z is not None and evaluation.z >= 4


def test_surge_needs_a_baseline_and_a_real_rise() -> None:
    engine = AlertEngine(surge_only(min_baseline_volume=50))
    # No history: 100% negative at once is not a surge against a baseline (the share rule's job).
    assert opened(feed(engine, "payments", [True] * 30, T0, 1)) == []
    # A high but steady share is no surge either.
    rng = random.Random(3)
    steady = AlertEngine(surge_only())
    noisy = [rng.random() < 0.5 for _ in range(4000)]
    assert opened(feed(steady, "payments", noisy, T0, 5)) == []


def test_no_false_alerts_over_a_long_calm_stream() -> None:
    rng = random.Random(11)
    engine = AlertEngine(AlertsConfig())
    topics = ["orders", "shipping", "returns", "payments", "account", "products"]
    changes = []
    for i in range(6000):
        topic = rng.choice(topics)
        changes += engine.observe(Observation(T0 + i * 2, topic, rng.random() < 0.2))
    assert opened(changes) == []


def test_restored_alerts_stay_deduplicated() -> None:
    from bot.ops.engine import AlertState

    engine = AlertEngine(share_only())
    engine.restore(AlertState(SHARE_RULE, "orders", "acknowledged", T0, T0, id=7))
    assert opened(feed(engine, "orders", [True] * 20, T0, 5)) == []
    engine.seed([Observation(T0 - 10, "orders", True)])
    assert engine.active[(SHARE_RULE, "orders")].id == 7
