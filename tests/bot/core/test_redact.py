"""bot.core.redact: credentials never reach a log line or an error message."""

from __future__ import annotations

import logging
import sys

import pytest

from bot.core.config import Config
from bot.core.redact import MASK, RedactingFilter, config_secrets, redact, url_secrets


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            "store postgresql+asyncpg://frontdesk:s3cret@db:5432/frontdesk",
            "store postgresql+asyncpg://frontdesk:***@db:5432/frontdesk",
        ),
        ("redis://:hunter2@cache:6379/0 is down", "redis://:***@cache:6379/0 is down"),
        # An unescaped "@" in the password: everything up to the host goes.
        ("postgresql://app:p@ss@db/x", "postgresql://app:***@db/x"),
        ("amqp://guest:guest@mq:5672/", "amqp://guest:***@mq:5672/"),
    ],
)
def test_a_password_in_a_url_is_redacted_keeping_user_and_host(text: str, redacted: str) -> None:
    assert redact(text) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        "http://127.0.0.1:8080/healthz",
        "http://host:8080/path?mail=a@b.io",
    ],
)
def test_a_url_without_a_password_is_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("POST /webhooks/rest/webhook?token=abc123", "POST /webhooks/rest/webhook?token=***"),
        ("GET /widget/ws?after=3&token=eyJ.x.y&x=1", "GET /widget/ws?after=3&token=***&x=1"),
        ("https://api.example/v1?api_key=K3Y&q=1", "https://api.example/v1?api_key=***&q=1"),
        ("/reset?password=letmein", "/reset?password=***"),
    ],
)
def test_token_like_query_values_are_redacted(text: str, redacted: str) -> None:
    assert redact(text) == redacted


def test_a_query_parameter_that_only_ends_in_token_is_left_alone() -> None:
    assert redact("/search?q=token&page=2") == "/search?q=token&page=2"


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            "headers {'Authorization': 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig'}",
            "headers {'Authorization': 'Bearer ***'}",
        ),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "Basic ***"}'),
        ("Authorization: sk_live_123456", "Authorization: ***"),
        ("sent Bearer fd_0123456789abcdef", "sent Bearer ***"),
    ],
)
def test_authorization_headers_and_bearer_tokens_are_redacted(text: str, redacted: str) -> None:
    assert redact(text) == redacted


def test_help_text_about_bearer_tokens_stays_readable() -> None:
    text = "send 'Authorization: Bearer <metrics_token>'; Bearer token required"

    assert redact(text) == text


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "https://hooks.slack.com/services/T0001/B0002/XXXXXXXXXXXXXXXX",
            "https://hooks.slack.com/***",
        ),
        ("https://discord.com/api/webhooks/123/abc-def", "https://discord.com/api/webhooks/***"),
        (
            "https://acme.webhook.office.com/webhookb2/1@2/IncomingWebhook/3/4",
            "https://acme.webhook.office.com/***",
        ),
    ],
)
def test_the_secret_path_of_an_incoming_webhook_url_is_redacted(url: str, redacted: str) -> None:
    assert redact(f"webhook {url} answered 404") == f"webhook {redacted} answered 404"


def test_password_fields_are_redacted() -> None:
    text = 'dsn host=db password=hunter2 user=app, body {"password": "letmein"}'

    assert redact(text) == 'dsn host=db password=*** user=app, body {"password": "***"}'


def test_known_secret_values_are_redacted_wherever_they_appear() -> None:
    secret = "jwt-signing-key-42"

    assert (
        redact(f"bad key {secret}; in url k%3D{secret}", [secret]) == "bad key ***; in url k%3D***"
    )


def test_a_percent_encoded_known_secret_is_redacted() -> None:
    secret = "p@ss/word!"

    assert redact("GET /x?s=p%40ss%2Fword%21 failed", [secret]) == "GET /x?s=*** failed"


def test_a_secret_too_short_to_be_one_is_not_replaced_by_value() -> None:
    assert redact("abc is the alphabet's start", ["abc"]) == "abc is the alphabet's start"


def test_config_secrets_name_every_configured_credential() -> None:
    config = Config.from_mapping(
        {
            "database_url": "postgresql+asyncpg://app:db-pass-1@db/frontdesk",
            "redis_url": "redis://:redis%2Fpass@cache:6379/0",
            "auth_token": "channel-token-1",
            "jwt_secret": "jwt-secret-1-long-enough-for-hs256-keys",
            "metrics_token": "metrics-token-1",
            "alerts": {
                "webhooks": [
                    {"url": "https://hooks.example/a", "format": "json", "secret": "hmac-key-1"},
                    {"url": "https://chat.example/services/T1/B2/XYZ", "format": "slack"},
                ]
            },
        }
    )

    assert set(config_secrets(config)) == {
        "db-pass-1",
        "redis%2Fpass",
        "redis/pass",
        "channel-token-1",
        "jwt-secret-1-long-enough-for-hs256-keys",
        "metrics-token-1",
        "hmac-key-1",
        "services/T1/B2/XYZ",
    }


def test_config_secrets_of_the_defaults_are_empty() -> None:
    assert config_secrets(Config()) == ()


def test_url_secrets_skips_urls_without_a_password() -> None:
    assert url_secrets("", "sqlite+aiosqlite:///var/x.sqlite3", "redis://cache:6379") == []


def record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    return logging.LogRecord(
        "frontdesk", logging.ERROR, __file__, 1, msg, args, sys.exc_info() if exc else None
    )


def test_the_filter_redacts_the_formatted_message() -> None:
    entry = record("cannot reach %s with %s", "redis://:hunter2@cache/0", "jwt-secret-1")

    assert RedactingFilter(["jwt-secret-1"]).filter(entry) is True
    assert entry.getMessage() == "cannot reach redis://:***@cache/0 with ***"


def test_the_filter_leaves_a_clean_record_as_it_was() -> None:
    entry = record("hello %s", "bob")

    RedactingFilter(["jwt-secret-1"]).filter(entry)

    assert (entry.msg, entry.args) == ("hello %s", ("bob",))


def test_the_filter_redacts_the_traceback_that_the_formatter_prints() -> None:
    secret = "metrics-token-1"
    try:
        raise ConnectionError(f"postgresql://app:db-pass-1@db/x refused; token {secret}")
    except ConnectionError:
        entry = record("store failed", exc=True)

    RedactingFilter([secret]).filter(entry)
    printed = logging.Formatter("%(message)s").format(entry)

    assert "Traceback (most recent call last)" in printed
    assert "ConnectionError: postgresql://app:***@db/x refused; token ***" in printed
    assert "db-pass-1" not in printed and secret not in printed


def test_the_filter_redacts_a_traceback_another_handler_formatted_first() -> None:
    try:
        raise ValueError("redis://:hunter2@cache/0")
    except ValueError:
        entry = record("boom", exc=True)
    logging.Formatter().format(entry)
    assert entry.exc_text is not None and "hunter2" in entry.exc_text

    RedactingFilter().filter(entry)

    assert "hunter2" not in logging.Formatter().format(entry)


def test_the_filter_redacts_a_logged_stack() -> None:
    entry = record("where")
    entry.stack_info = "Stack (most recent call last):\n  connect('redis://:hunter2@cache/0')"

    RedactingFilter().filter(entry)

    assert "hunter2" not in logging.Formatter().format(entry)
    assert MASK in entry.stack_info
