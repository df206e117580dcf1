"""Logs: one JSON object per line when asked, with the request id, and no personal data."""

from __future__ import annotations

import json
import logging

import pytest

from bot.server.http.middleware import request_id_var
from bot.server.serve import configure_logging


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
