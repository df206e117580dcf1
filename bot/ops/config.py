"""The ``[alerts]`` table of ``frontdesk.toml``, validated into frozen dataclasses.

```toml
[alerts]
retention_days = 30          # sentiment events older than this are pruned
cooldown = "30m"             # after a resolve, the same rule and topic stay quiet this long
auto_resolve = "30m"         # an alert whose condition has not held for this long resolves
gauge_window = "15m"         # the window behind the Prometheus gauges and "most negative now"
overall = true               # also evaluate across all topics together
[alerts.negative_share]      # share of negative messages above a threshold
threshold = 0.75
window = "10m"
min_volume = 20
baseline = "24h"             # a topic whose usual share is at or near the threshold is left
                             # to the shift rule (0: no exemption)
[alerts.surge]               # share well above the topic's own trailing baseline (off by
enabled = false              # default: the shift rule answers the same question sooner)
window = "10m"
baseline = "24h"
min_volume = 20
min_baseline_volume = 100
min_increase = 0.15          # absolute rise in share over the baseline
z = 4.0                      # and statistically clear of it (binomial z-score)
[alerts.shift]               # per topic, a sequential (CUSUM) test against the baseline
baseline = "24h"             # the trailing window that gives the topic's usual share p0
min_baseline_volume = 100    # no test until the baseline holds this many messages
increase = 0.2               # the rise it is tuned for: p1 = p0 + increase
h = 8                        # decision threshold (log-likelihood ratio); higher: fewer false
                             # alerts, later detection
[[alerts.webhooks]]
url = "https://hooks.slack.com/services/..."
format = "slack"             # slack | json
secret = "..."               # HMAC-SHA256 key for X-Frontdesk-Signature; required for json
```

Every error names the key, the value that arrived and the form that was expected, like the
rest of the configuration.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.config import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
DURATION_FORM = "a duration like '90s', '15m', '2h', '1d' or a number of seconds"


@dataclass(frozen=True, slots=True)
class ShareRule:
    """Negative share above ``threshold`` over ``window_s`` with at least ``min_volume``.

    A scope whose usual share (the ``baseline_s`` before the window, once that holds
    ``min_volume`` messages too) is at the threshold, or within three standard errors of a
    window below it, is exempt: for a topic that is negative by nature, such as complaints,
    the threshold is crossed by chance window after window, which tells ops nothing. The shift
    rule still tests such a topic against its own level. ``baseline_s = 0`` removes the
    exemption."""

    enabled: bool = True
    # Well above what a noisy classifier reads in calm traffic (0.25-0.45 per topic on the
    # replay bench, where 0.6 raised a false alert in most 5,000-message calm streams).
    threshold: float = 0.75
    window_s: float = 600.0
    min_volume: int = 20
    baseline_s: float = 86400.0
    # How many messages of history the training data's own reading of a topic is worth (see
    # bot/ops/priors.py): enough that a topic negative by nature is known on day one, few
    # enough that a week of real traffic outweighs curated examples. 0 ignores it.
    prior_weight: int = 30


@dataclass(frozen=True, slots=True)
class SurgeRule:
    """Negative share over ``window_s`` well above the trailing ``baseline_s`` before it.

    Off by default since the shift rule: both test a topic against its own baseline, and the
    sequential test, counted in messages, is not diluted by the window's older messages."""

    enabled: bool = False
    window_s: float = 600.0
    baseline_s: float = 86400.0
    min_volume: int = 20
    min_baseline_volume: int = 100
    min_increase: float = 0.15
    z: float = 4.0


@dataclass(frozen=True, slots=True)
class ShiftRule:
    """Page's CUSUM of the negative indicator, per topic: the log-likelihood ratio of share
    ``p0 + increase`` against ``p0`` (the trailing ``baseline_s`` share plus one standard
    error), summed over messages and floored at zero; it fires at ``h``. Counted in messages,
    so it is as quick for a quiet topic as for a busy one, and a fresh change is not diluted by
    a window of older messages.

    The defaults were chosen with ``bench/alerts_resample.py`` (seeded streams of held-out
    customer messages read by the demo models; its figures are in the README): against 0.15 and
    7.5, a rise from 20% to 60% negative is found within 50 of the topic's messages in 88.5%
    of streams instead of 78%, with about as many false alerts in calm streams (4 in 200
    against 3). A larger ``increase`` finds large rises sooner and small ones later."""

    enabled: bool = True
    baseline_s: float = 86400.0
    min_baseline_volume: int = 100
    increase: float = 0.2
    h: float = 8.0


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    format: str = "json"  # json | slack
    secret: str = ""
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    enabled: bool = True
    retention_days: float = 30.0
    prune_interval_s: float = 3600.0
    cooldown_s: float = 1800.0
    auto_resolve_s: float = 1800.0
    gauge_window_s: float = 900.0
    overall: bool = True
    queue_size: int = 10_000
    # How often every process reads the events the others stored (bot/ops/service.py).
    poll_s: float = 0.5
    negative_share: ShareRule = field(default_factory=ShareRule)
    surge: SurgeRule = field(default_factory=SurgeRule)
    shift: ShiftRule = field(default_factory=ShiftRule)
    webhooks: tuple[WebhookTarget, ...] = ()
    webhook_queue_size: int = 1000
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 1.0
    webhook_backoff_max_s: float = 60.0

    @property
    def horizon_s(self) -> float:
        """How far back the in-memory windows must reach."""
        share = self.negative_share
        spans = [self.gauge_window_s, share.window_s + share.baseline_s]
        spans.append(self.surge.window_s + self.surge.baseline_s)
        spans.append(self.shift.baseline_s)
        return max(spans)


def _fail(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"setting {key}={value!r} is invalid: expected {expected}")


def parse_duration(key: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool):
        raise _fail(key, value, DURATION_FORM)
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise _fail(key, value, DURATION_FORM)
    if seconds == 0 and not allow_zero:
        raise _fail(key, value, DURATION_FORM + " above zero")
    return seconds


def _number(key: str, value: Any, *, low: float, high: float = math.inf, form: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(key, value, form)
    if not (low <= float(value) <= high) or not math.isfinite(float(value)):
        raise _fail(key, value, form)
    return float(value)


def _integer(key: str, value: Any, *, low: int, form: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(key, value, form)
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, value, "true or false")
    return value


def _table(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, value, f"a table ([{key}])")
    return value


def _known(key: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"setting {key}.{unknown[0]} is unknown: expected one of {', '.join(sorted(allowed))}"
        )


def _share_rule(raw: Any) -> ShareRule:
    key = "alerts.negative_share"
    table = _table(key, raw)
    _known(key, table, {"enabled", "threshold", "window", "min_volume", "baseline", "prior_weight"})
    default = ShareRule()
    return ShareRule(
        enabled=_bool(f"{key}.enabled", table.get("enabled", default.enabled)),
        threshold=_number(
            f"{key}.threshold",
            table.get("threshold", default.threshold),
            low=0.0,
            high=1.0,
            form="a share between 0 and 1, like 0.75",
        ),
        window_s=parse_duration(f"{key}.window", table.get("window", default.window_s)),
        min_volume=_integer(
            f"{key}.min_volume",
            table.get("min_volume", default.min_volume),
            low=1,
            form="an integer >= 1 (messages in the window)",
        ),
        baseline_s=parse_duration(
            f"{key}.baseline", table.get("baseline", default.baseline_s), allow_zero=True
        ),
        prior_weight=_integer(
            f"{key}.prior_weight",
            table.get("prior_weight", default.prior_weight),
            low=0,
            form="an integer >= 0 (messages of history the training data counts as)",
        ),
    )


def _surge_rule(raw: Any) -> SurgeRule:
    key = "alerts.surge"
    table = _table(key, raw)
    _known(
        key,
        table,
        {
            "enabled",
            "window",
            "baseline",
            "min_volume",
            "min_baseline_volume",
            "min_increase",
            "z",
        },
    )
    default = SurgeRule()
    return SurgeRule(
        # A configured table is a rule someone wants: before the shift rule this one was on
        # by default, and configurations written then carry no ``enabled``.
        enabled=_bool(f"{key}.enabled", table.get("enabled", bool(table) or default.enabled)),
        window_s=parse_duration(f"{key}.window", table.get("window", default.window_s)),
        baseline_s=parse_duration(f"{key}.baseline", table.get("baseline", default.baseline_s)),
        min_volume=_integer(
            f"{key}.min_volume",
            table.get("min_volume", default.min_volume),
            low=1,
            form="an integer >= 1 (messages in the window)",
        ),
        min_baseline_volume=_integer(
            f"{key}.min_baseline_volume",
            table.get("min_baseline_volume", default.min_baseline_volume),
            low=1,
            form="an integer >= 1 (messages in the baseline)",
        ),
        min_increase=_number(
            f"{key}.min_increase",
            table.get("min_increase", default.min_increase),
            low=0.0,
            high=1.0,
            form="a share between 0 and 1, like 0.15",
        ),
        z=_number(
            f"{key}.z",
            table.get("z", default.z),
            low=0.0,
            form="a number >= 0 (how many standard errors above the baseline)",
        ),
    )


def _shift_rule(raw: Any) -> ShiftRule:
    key = "alerts.shift"
    table = _table(key, raw)
    _known(key, table, {"enabled", "baseline", "min_baseline_volume", "increase", "h"})
    default = ShiftRule()
    return ShiftRule(
        enabled=_bool(f"{key}.enabled", table.get("enabled", default.enabled)),
        baseline_s=parse_duration(f"{key}.baseline", table.get("baseline", default.baseline_s)),
        min_baseline_volume=_integer(
            f"{key}.min_baseline_volume",
            table.get("min_baseline_volume", default.min_baseline_volume),
            low=1,
            form="an integer >= 1 (messages in the baseline)",
        ),
        # Zero would test the baseline against itself; a whole share leaves nothing to rise to.
        increase=_number(
            f"{key}.increase",
            table.get("increase", default.increase),
            low=0.01,
            high=0.9,
            form="a rise in share between 0.01 and 0.9, like 0.15",
        ),
        h=_number(
            f"{key}.h",
            table.get("h", default.h),
            low=0.1,
            form="a number >= 0.1 (the CUSUM threshold, in log-likelihood-ratio units)",
        ),
    )


def _webhook(index: int, raw: Any) -> WebhookTarget:
    key = f"alerts.webhooks[{index}]"
    table = _table(key, raw)
    _known(key, table, {"url", "format", "secret", "timeout"})
    url = table.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _fail(f"{key}.url", url, "an http:// or https:// URL")
    fmt = table.get("format", "json")
    if fmt not in ("json", "slack"):
        raise _fail(f"{key}.format", fmt, "'slack' or 'json'")
    secret = table.get("secret", "")
    if not isinstance(secret, str):
        raise _fail(f"{key}.secret", secret, "a string (the HMAC-SHA256 key)")
    # A JSON receiver can only tell our alerts from a forger's by the signature. Slack's
    # incoming webhooks check no signature: there the URL itself is the secret.
    if fmt == "json" and not secret.strip():
        raise _fail(
            f"{key}.secret",
            secret,
            "a shared secret for the X-Frontdesk-Signature HMAC, which a 'json' receiver "
            "must check (make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))')",
        )
    timeout = parse_duration(f"{key}.timeout", table.get("timeout", 5.0))
    return WebhookTarget(url=url, format=fmt, secret=secret, timeout_s=timeout)


TOP_KEYS = {
    "enabled",
    "retention_days",
    "prune_interval",
    "cooldown",
    "auto_resolve",
    "gauge_window",
    "overall",
    "queue_size",
    "poll_interval",
    "negative_share",
    "surge",
    "shift",
    "webhooks",
    "webhook_queue_size",
    "webhook_max_attempts",
    "webhook_backoff",
    "webhook_backoff_max",
}


def parse_alerts(raw: Any) -> AlertsConfig:
    """``config.extra["alerts"]`` (absent: the defaults) as a validated :class:`AlertsConfig`."""
    if raw is None:
        return AlertsConfig()
    table = _table("alerts", raw)
    _known("alerts", table, TOP_KEYS)
    default = AlertsConfig()
    hooks_raw = table.get("webhooks", [])
    if not isinstance(hooks_raw, list):
        raise _fail(
            "alerts.webhooks", hooks_raw, "a list of tables: [{url=..., format=..., secret=...}]"
        )
    return AlertsConfig(
        enabled=_bool("alerts.enabled", table.get("enabled", default.enabled)),
        retention_days=_number(
            "alerts.retention_days",
            table.get("retention_days", default.retention_days),
            low=0.001,
            form="a number of days > 0, like 30",
        ),
        prune_interval_s=parse_duration(
            "alerts.prune_interval", table.get("prune_interval", default.prune_interval_s)
        ),
        cooldown_s=parse_duration(
            "alerts.cooldown", table.get("cooldown", default.cooldown_s), allow_zero=True
        ),
        auto_resolve_s=parse_duration(
            "alerts.auto_resolve",
            table.get("auto_resolve", default.auto_resolve_s),
            allow_zero=True,
        ),
        gauge_window_s=parse_duration(
            "alerts.gauge_window", table.get("gauge_window", default.gauge_window_s)
        ),
        overall=_bool("alerts.overall", table.get("overall", default.overall)),
        queue_size=_integer(
            "alerts.queue_size",
            table.get("queue_size", default.queue_size),
            low=1,
            form="an integer >= 1",
        ),
        poll_s=parse_duration("alerts.poll_interval", table.get("poll_interval", default.poll_s)),
        negative_share=_share_rule(table.get("negative_share", {})),
        surge=_surge_rule(table.get("surge", {})),
        shift=_shift_rule(table.get("shift", {})),
        webhooks=tuple(_webhook(i, hook) for i, hook in enumerate(hooks_raw)),
        webhook_queue_size=_integer(
            "alerts.webhook_queue_size",
            table.get("webhook_queue_size", default.webhook_queue_size),
            low=1,
            form="an integer >= 1",
        ),
        webhook_max_attempts=_integer(
            "alerts.webhook_max_attempts",
            table.get("webhook_max_attempts", default.webhook_max_attempts),
            low=1,
            form="an integer >= 1",
        ),
        webhook_backoff_s=parse_duration(
            "alerts.webhook_backoff",
            table.get("webhook_backoff", default.webhook_backoff_s),
            allow_zero=True,
        ),
        webhook_backoff_max_s=parse_duration(
            "alerts.webhook_backoff_max",
            table.get("webhook_backoff_max", default.webhook_backoff_max_s),
            allow_zero=True,
        ),
    )
