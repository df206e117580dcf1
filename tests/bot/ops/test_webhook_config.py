"""An alert webhook that a receiver cannot verify is refused when the config is read."""

from __future__ import annotations

import pytest

from bot.core.config import ConfigError
from bot.ops.config import WebhookTarget, parse_alerts


def test_a_json_webhook_without_a_secret_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError) as error:
        parse_alerts({"webhooks": [{"url": "https://ops.example.com/hook", "format": "json"}]})
    assert str(error.value).startswith(
        "setting alerts.webhooks[0].secret='' is invalid: expected a shared secret for the "
        "X-Frontdesk-Signature HMAC"
    )
    assert "secrets.token_urlsafe(32)" in str(error.value)


def test_a_json_webhook_with_a_blank_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.webhooks\[0\]\.secret='  '"):
        parse_alerts({"webhooks": [{"url": "https://ops.example.com/hook", "secret": "  "}]})


def test_a_slack_webhook_needs_no_secret_because_its_url_is_the_secret() -> None:
    config = parse_alerts(
        {"webhooks": [{"url": "https://hooks.slack.com/services/T/B/X", "format": "slack"}]}
    )
    assert config.webhooks == (WebhookTarget("https://hooks.slack.com/services/T/B/X", "slack"),)
