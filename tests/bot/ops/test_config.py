"""``[alerts]`` validation: defaults when absent, and errors that name key, value and form."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import Config, ConfigError
from bot.ops.config import AlertsConfig, ShiftRule, WebhookTarget, parse_alerts
from bot.server.app import create_app
from tests.conftest import app_config


def test_defaults_when_absent() -> None:
    config = parse_alerts(None)
    assert config == AlertsConfig()
    assert config.negative_share.threshold == 0.75
    # The surge rule is there for whoever turns it on; the shift rule is the default detector.
    assert not config.surge.enabled and config.surge.z == 4.0
    assert config.shift == ShiftRule(
        enabled=True, baseline_s=86400, min_baseline_volume=100, increase=0.2, h=8.0
    )
    assert config.negative_share.baseline_s == 86400
    assert config.webhooks == ()
    assert config.horizon_s == 600 + 86400


def test_a_full_table_from_toml(tmp_path: Path) -> None:
    file = tmp_path / "frontdesk.toml"
    file.write_text(
        """
[alerts]
retention_days = 7
cooldown = "15m"
auto_resolve = 0
overall = false
[alerts.negative_share]
threshold = 0.5
window = "5m"
min_volume = 30
baseline = 0
[alerts.surge]
enabled = true
baseline = "12h"
z = 3.5
[alerts.shift]
baseline = "6h"
min_baseline_volume = 50
increase = 0.3
h = 6
[[alerts.webhooks]]
url = "https://hooks.example.com/x"
format = "slack"
secret = "s3cret"
""",
        encoding="utf-8",
    )
    config = parse_alerts(Config.load(file, env={}).extra["alerts"])
    assert config.retention_days == 7 and config.cooldown_s == 900 and config.auto_resolve_s == 0
    assert not config.overall
    assert config.negative_share.window_s == 300 and config.negative_share.min_volume == 30
    assert config.negative_share.baseline_s == 0
    assert config.surge.enabled
    assert config.surge.baseline_s == 12 * 3600 and config.surge.z == 3.5
    assert config.shift == ShiftRule(
        baseline_s=6 * 3600, min_baseline_volume=50, increase=0.3, h=6.0
    )
    assert config.webhooks == (WebhookTarget("https://hooks.example.com/x", "slack", "s3cret"),)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"negative_share": {"threshold": 1.5}},
            "setting alerts.negative_share.threshold=1.5 is invalid: "
            "expected a share between 0 and 1, like 0.75",
        ),
        (
            {"negative_share": {"min_volume": 0}},
            "setting alerts.negative_share.min_volume=0 is invalid: "
            "expected an integer >= 1 (messages in the window)",
        ),
        (
            {"negative_share": {"baseline": "-1h"}},
            "setting alerts.negative_share.baseline='-1h' is invalid: "
            "expected a duration like '90s', '15m', '2h', '1d' or a number of seconds",
        ),
        (
            {"negative_share": {"min_baseline_volume": 100}},
            "setting alerts.negative_share.min_baseline_volume is unknown: "
            "expected one of baseline, enabled, min_volume, prior_weight, threshold, window",
        ),
        (
            {"surge": {"window": "ten minutes"}},
            "setting alerts.surge.window='ten minutes' is invalid: "
            "expected a duration like '90s', '15m', '2h', '1d' or a number of seconds",
        ),
        (
            {"surge": {"baseline": 0}},
            "setting alerts.surge.baseline=0 is invalid: expected a duration like '90s', "
            "'15m', '2h', '1d' or a number of seconds above zero",
        ),
        (
            {"retention_days": "forever"},
            "setting alerts.retention_days='forever' is invalid: "
            "expected a number of days > 0, like 30",
        ),
        (
            {"overall": "yes"},
            "setting alerts.overall='yes' is invalid: expected true or false",
        ),
        (
            {"webhooks": [{"url": "ftp://x"}]},
            "setting alerts.webhooks[0].url='ftp://x' is invalid: "
            "expected an http:// or https:// URL",
        ),
        (
            {"webhooks": [{"url": "https://x", "format": "teams"}]},
            "setting alerts.webhooks[0].format='teams' is invalid: expected 'slack' or 'json'",
        ),
        (
            {"webhooks": {"url": "https://x"}},
            "setting alerts.webhooks={'url': 'https://x'} is invalid: "
            "expected a list of tables: [{url=..., format=..., secret=...}]",
        ),
        (
            {"treshold": 0.5},
            "setting alerts.treshold is unknown: expected one of auto_resolve, cooldown, "
            "enabled, gauge_window, negative_share, overall, poll_interval, prune_interval, "
            "queue_size, retention_days, shift, surge, webhook_backoff, webhook_backoff_max, "
            "webhook_max_attempts, webhook_queue_size, webhooks",
        ),
        (
            {"surge": 3},
            "setting alerts.surge=3 is invalid: expected a table ([alerts.surge])",
        ),
        (
            {"shift": "on"},
            "setting alerts.shift='on' is invalid: expected a table ([alerts.shift])",
        ),
        (
            {"shift": {"increase": 0}},
            "setting alerts.shift.increase=0 is invalid: "
            "expected a rise in share between 0.01 and 0.9, like 0.15",
        ),
        (
            {"shift": {"increase": 1.0}},
            "setting alerts.shift.increase=1.0 is invalid: "
            "expected a rise in share between 0.01 and 0.9, like 0.15",
        ),
        (
            {"shift": {"h": 0}},
            "setting alerts.shift.h=0 is invalid: "
            "expected a number >= 0.1 (the CUSUM threshold, in log-likelihood-ratio units)",
        ),
        (
            {"shift": {"h": "8"}},
            "setting alerts.shift.h='8' is invalid: "
            "expected a number >= 0.1 (the CUSUM threshold, in log-likelihood-ratio units)",
        ),
        (
            {"shift": {"min_baseline_volume": 2.5}},
            "setting alerts.shift.min_baseline_volume=2.5 is invalid: "
            "expected an integer >= 1 (messages in the baseline)",
        ),
        (
            {"shift": {"baseline": "a day"}},
            "setting alerts.shift.baseline='a day' is invalid: "
            "expected a duration like '90s', '15m', '2h', '1d' or a number of seconds",
        ),
        (
            {"shift": {"window": "10m"}},
            "setting alerts.shift.window is unknown: "
            "expected one of baseline, enabled, h, increase, min_baseline_volume",
        ),
    ],
)
def test_errors_name_the_key_the_value_and_the_form(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_alerts(raw)
    assert str(caught.value) == message


def test_create_app_refuses_a_bad_alerts_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alerts\.negative_share\.threshold"):
        create_app(app_config(tmp_path, alerts={"negative_share": {"threshold": -1}}))


def test_a_surge_table_written_before_the_shift_rule_keeps_the_surge_rule_on() -> None:
    # Configurations from when the surge rule was on by default say nothing of `enabled`.
    assert parse_alerts({"surge": {"window": "10m", "min_increase": 0.2}}).surge.enabled
    assert not parse_alerts({"surge": {"enabled": False, "z": 3}}).surge.enabled
    assert not parse_alerts({}).surge.enabled
