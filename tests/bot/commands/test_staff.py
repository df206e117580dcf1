"""``frontdesk user add``, ``token create`` and ``feedback export`` as the lead wires them."""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path
from typing import Any

import pytest

from bot.commands import staff as staff_cli
from bot.server.web.auth import digest, verify_password
from bot.storage import Store
from bot.storage.accounts import AccountStore
from bot.storage.audit import AuditLog


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="frontdesk")
    root.add_argument("--config", type=Path)
    staff_cli.add_parsers(root.add_subparsers(dest="command", required=True))
    return root


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'frontdesk.sqlite3'}"
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    return url


def staff_store_call(url: str, method: str, *args: object) -> object:
    async def run() -> object:
        store = await Store.open(url)
        try:
            return await getattr(AccountStore(store.engine), method)(*args)
        finally:
            await store.close()

    return asyncio.run(run())


def test_user_add_reads_the_password_from_stdin_and_stores_an_argon2_hash(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass-word\n"))
    args = parser().parse_args(["user", "add", "ann", "--role", "admin", "--password-stdin"])
    assert args.run(args) == 0
    assert '"user": "ann"' in capsys.readouterr().out
    user = staff_store_call(database, "user_by_name", "ann")
    assert user is not None
    assert user.role == "admin"  # type: ignore[attr-defined]
    assert user.password_hash.startswith("$argon2")  # type: ignore[attr-defined]
    assert verify_password(user.password_hash, "s3cret-pass-word")  # type: ignore[attr-defined]


def test_user_add_prompts_twice_without_stdin(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["first-password", "second-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    args = parser().parse_args(["user", "add", "ann", "--role", "agent"])
    with pytest.raises(staff_cli.ConfigError, match="differ"):
        args.run(args)


def test_user_add_refuses_bad_roles_and_duplicates(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["user", "add", "ann", "--role", "boss"])
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-1\nlong-enough-2\n"))
    args = parser().parse_args(["user", "add", "ann", "--role", "ops", "--password-stdin"])
    args.run(args)
    with pytest.raises(staff_cli.ConfigError, match="already exists"):
        args.run(args)


def test_token_create_prints_a_token_that_is_stored_hashed(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-pass\n"))
    add = parser().parse_args(["user", "add", "ann", "--role", "agent", "--password-stdin"])
    add.run(add)
    capsys.readouterr()
    args = parser().parse_args(["token", "create", "ann"])
    assert args.run(args) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 40
    user = staff_store_call(database, "token_user", digest(token))
    assert user is not None and user.username == "ann"  # type: ignore[attr-defined]
    missing = parser().parse_args(["token", "create", "nobody"])
    with pytest.raises(staff_cli.ConfigError, match="no active user"):
        missing.run(missing)


def test_feedback_export_writes_both_files(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "feedback"
    args = parser().parse_args(["feedback", "export", "--out", str(out)])
    assert args.run(args) == 0
    assert '"corrections": 0' in capsys.readouterr().out
    assert (out / "corrections.csv").read_text() == "text,intent\n"
    assert (out / "answers.csv").read_text() == "question,answer,intent\n"


def test_user_add_refuses_common_and_short_passwords(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for weak, words in (("12345678", "use at least 12"), ("password1234", "most common")):
        monkeypatch.setattr("sys.stdin", io.StringIO(f"{weak}\n"))
        args = parser().parse_args(["user", "add", "ann", "--role", "admin", "--password-stdin"])
        with pytest.raises(staff_cli.ConfigError, match=words):
            args.run(args)
    assert staff_store_call(database, "user_by_name", "ann") is None


def test_token_revoke_by_name_or_id_ends_the_tokens(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-pass\n"))
    add = parser().parse_args(["user", "add", "ann", "--role", "agent", "--password-stdin"])
    add.run(add)
    create = parser().parse_args(["token", "create", "ann"])
    create.run(create)
    first = capsys.readouterr()
    assert "Token id 1: 'frontdesk token revoke --id 1' ends it" in first.err
    assert "it expires in 90 days" in first.err
    create.run(create)
    second = capsys.readouterr().out.strip()

    by_id = parser().parse_args(["token", "revoke", "--id", "1"])
    assert by_id.run(by_id) == 0
    assert '"revoked": 1' in capsys.readouterr().out
    assert staff_store_call(database, "token_user", digest(first.out.strip())) is None
    assert staff_store_call(database, "token_user", digest(second)) is not None

    by_name = parser().parse_args(["token", "revoke", "ann"])
    by_name.run(by_name)
    assert staff_store_call(database, "token_user", digest(second)) is None
    with pytest.raises(staff_cli.ConfigError, match="no live token with id 1"):
        by_id.run(by_id)

    purge = parser().parse_args(["token", "purge"])
    purge.run(purge)
    assert '"tokens": 2' in capsys.readouterr().out


def test_what_the_staff_commands_change_is_audited_as_the_command_line(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-pass\n"))
    add = parser().parse_args(["user", "add", "ann", "--role", "agent", "--password-stdin"])
    add.run(add)
    create = parser().parse_args(["token", "create", "ann"])
    create.run(create)
    revoke = parser().parse_args(["token", "revoke", "ann"])
    revoke.run(revoke)

    async def events() -> list[Any]:
        store = await Store.open(database)
        try:
            return list(reversed(await AuditLog(store.engine).events()))
        finally:
            await store.close()

    recorded = asyncio.run(events())
    assert [(e.action, e.actor, e.client, e.target) for e in recorded] == [
        ("user_created", None, "cli", "ann"),
        ("token_create", None, "cli", "1"),
        ("token_revoke", None, "cli", "1"),
    ]
