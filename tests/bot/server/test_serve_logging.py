"""Logs: one JSON object per line when asked, with the request id, no personal data and no
secrets, tracebacks included."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.core.config import ConfigError
from bot.core.redact import config_secrets
from bot.server.app import create_app
from bot.server.http.middleware import request_id_var
from bot.server.serve import configure_logging, serve
from bot.storage import Store, StoreError
from bot.storage.accounts import AccountStore
from tests.conftest import app_config


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs_carry_the_request_id_and_mask_personal_data(
    restore_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    token = request_id_var.set("req-42")
    try:
        logging.getLogger("frontdesk.test").info(
            "customer ada@example.com paid with %s", "4111 1111 1111 1111"
        )
    finally:
        request_id_var.reset(token)
    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert entry["request_id"] == "req-42"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "frontdesk.test"
    assert "ada@example.com" not in entry["message"]
    assert "[card ****1111]" in entry["message"]


def test_text_logs_show_the_request_id(
    restore_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "text")
    logging.getLogger("frontdesk.test").warning("hello")
    assert "WARNING frontdesk.test [-] hello" in capsys.readouterr().err


DB_PASSWORD = "db-pass-0123"
REDIS_PASSWORD = "redis-pass-0123"


def test_the_database_password_never_reaches_the_startup_line(
    restore_logging: logging.Logger, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = app_config(
        tmp_path,
        database_url=f"postgresql+asyncpg://frontdesk:{DB_PASSWORD}@db.internal:5432/frontdesk",
        # Refused by create_app, after serve has logged where the store is.
        alerts={"no_such_setting": 1},
    )
    with pytest.raises(ConfigError):
        serve(config)

    err = capsys.readouterr().err
    assert "(store postgresql+asyncpg://frontdesk:***@db.internal:5432/frontdesk)" in err
    assert DB_PASSWORD not in err


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_configured_secrets_and_credentials_are_redacted_in_every_log_line(
    restore_logging: logging.Logger, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    configure_logging("INFO", fmt, ["jwt-secret-0123"])
    logger = logging.getLogger("some.library")
    logger.warning("signing with %s", "jwt-secret-0123")
    logger.warning("GET /webhooks/rest/webhook?token=channel-token-9 -> 401")
    logger.warning("headers %s", {"Authorization": "Bearer fd_abcdef0123456789"})
    logger.warning("posting to https://hooks.slack.com/services/T1/B2/XYZSECRET")

    err = capsys.readouterr().err
    for secret in ("jwt-secret-0123", "channel-token-9", "fd_abcdef0123456789", "XYZSECRET"):
        assert secret not in err
    assert err.count("***") == 4


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_logged_traceback_is_redacted(
    restore_logging: logging.Logger, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    configure_logging("INFO", fmt, ["metrics-token-0123"])
    try:
        raise ConnectionError(
            f"redis://:{REDIS_PASSWORD}@cache:6379/0 refused for metrics-token-0123"
        )
    except ConnectionError:
        logging.getLogger("frontdesk.test").exception("lost the cache")

    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "redis://:***@cache:6379/0 refused for ***" in err
    assert REDIS_PASSWORD not in err and "metrics-token-0123" not in err
    if fmt == "json":
        entry = json.loads(err.strip().splitlines()[-1])
        assert "redis://:***@cache" in entry["exception"]


async def test_sql_parameters_and_rows_are_not_logged_even_at_debug(
    restore_logging: logging.Logger, capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    configure_logging("DEBUG", "text")
    store = await Store.open(sqlite_url)
    try:
        # The chat's writes (their own thread) and the console's (the async engine).
        await store.conversation_for("rest", "sender-0123456789")
        await AccountStore(store.engine).session("session-hash-0123456789")
    finally:
        await store.close()

    err = capsys.readouterr().err
    assert "sender-0123456789" not in err
    assert "session-hash-0123456789" not in err


async def test_a_500_sends_no_traceback_and_logs_one_without_secrets(
    restore_logging: logging.Logger,
    capsys: pytest.CaptureFixture[str],
    aiohttp_client: Any,
    tmp_path: Path,
) -> None:
    config = app_config(tmp_path, auth_token="channel-token-0123")
    configure_logging("INFO", "text", config_secrets(config))
    app = create_app(config)

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError(f"postgresql://app:{DB_PASSWORD}@db/x rejected channel-token-0123")

    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)

    response = await client.get("/broken", headers={"X-Request-Id": "req-500"})

    assert response.status == 500
    assert await response.json() == {
        "error": "internal error; quote request id req-500 when reporting it",
        "status": 500,
    }
    err = capsys.readouterr().err
    assert "ERROR bot.server.http.errors [req-500] unhandled error on GET /broken" in err
    assert "RuntimeError: postgresql://app:***@db/x rejected ***" in err
    assert DB_PASSWORD not in err and "channel-token-0123" not in err


async def test_an_unreachable_redis_is_reported_without_its_password(tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:9/0"
    runner = web.AppRunner(create_app(app_config(tmp_path, redis_url=url)))
    try:
        with pytest.raises(StoreError) as refused:
            await runner.setup()
    finally:
        # What started before Redis (the store, the model threads) is closed again.
        await runner.cleanup()

    message = str(refused.value)
    assert message.startswith("cannot reach Redis at redis://:***@127.0.0.1:9/0: ")
    assert message.endswith("; fix redis_url")
    assert REDIS_PASSWORD not in message
