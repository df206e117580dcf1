"""``frontdesk user add``, ``frontdesk token create|revoke|purge`` and ``frontdesk feedback
export``.

What they change is in the audit log with the client ``cli`` and no actor (the command line
has no signed-in user). Each command is a plain function of parsed arguments (wired into
``bot.cli`` by :func:`add_parsers`) over an async core that tests call directly.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.core.config import Config, ConfigError
from bot.server.http.errors import ApiError
from bot.server.web.auth import check_password, digest, hash_password, new_secret
from bot.server.web.feedback import ANSWERS_FILE, CORRECTIONS_FILE, answers_csv, corrections_csv
from bot.storage import Store
from bot.storage.accounts import ROLES, AccountError, AccountStore, StaffUser
from bot.storage.audit import CLI
from bot.storage.feedback import FeedbackStore


async def add_user(config: Config, name: str, role: str, password: str) -> StaffUser:
    if role not in ROLES:
        raise ConfigError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    try:
        check_password(password, name)
    except ApiError as exc:
        raise ConfigError(f"{exc.message}; nothing was changed") from None
    store = await Store.open(config.database_url)
    try:
        password_hash = await asyncio.to_thread(hash_password, password, name)
        try:
            return await AccountStore(store.engine).create_user(name, password_hash, role, by=CLI)
        except AccountError as exc:
            raise ConfigError(str(exc)) from None
    finally:
        await store.close()


async def create_token(config: Config, name: str) -> str:
    """A new bearer token for user ``name``; only its hash is stored, so show it once."""
    token, _ = await create_token_with_id(config, name)
    return token


async def create_token_with_id(config: Config, name: str) -> tuple[str, int]:
    """A new bearer token for user ``name`` and its id (what ``token revoke --id`` takes)."""
    store = await Store.open(config.database_url)
    try:
        accounts = AccountStore(store.engine)
        user = await accounts.user_by_name(name)
        if user is None or not user.active:
            raise ConfigError(
                f"no active user {name!r}; add one with 'frontdesk user add {name} --role ROLE'"
            )
        token = new_secret()
        token_id = await accounts.create_api_token(user.id, digest(token), by=CLI)
        return token, token_id
    finally:
        await store.close()


async def revoke_tokens(config: Config, name: str | None, token_id: int | None) -> int:
    """Revoke every token of user ``name``, or the one token ``token_id``; returns how many."""
    store = await Store.open(config.database_url)
    try:
        accounts = AccountStore(store.engine)
        if token_id is not None:
            return await accounts.revoke_tokens(token_id=token_id, by=CLI)
        user = await accounts.user_by_name(name or "")
        if user is None:
            raise ConfigError(f"no user {name!r}; 'frontdesk user add' lists none by that name")
        return await accounts.revoke_tokens(user_id=user.id, by=CLI)
    finally:
        await store.close()


async def purge(config: Config) -> dict[str, int]:
    """Delete ended sessions, and revoked or expired tokens."""
    store = await Store.open(config.database_url)
    try:
        days = config.api_token_days
        sessions, tokens = await AccountStore(store.engine).purge_expired(
            timedelta(days=days) if days > 0 else None
        )
    finally:
        await store.close()
    return {"sessions": sessions, "tokens": tokens}


async def export_feedback(config: Config, out: Path) -> dict[str, Any]:
    """Write ``corrections.csv`` (text,intent) and ``answers.csv`` (question,answer,intent)."""
    store = await Store.open(config.database_url)
    try:
        feedback = FeedbackStore(store.engine)
        corrections = await feedback.corrections()
        answers = await feedback.saved_answers()
    finally:
        await store.close()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory for the two CSV files")
    out.mkdir(parents=True, exist_ok=True)
    (out / CORRECTIONS_FILE).write_text(corrections_csv(corrections), encoding="utf-8")
    (out / ANSWERS_FILE).write_text(answers_csv(answers), encoding="utf-8")
    return {
        "corrections": len(corrections),
        "corrections_file": str(out / CORRECTIONS_FILE),
        "answers": len(answers),
        "answers_file": str(out / ANSWERS_FILE),
    }


def _config(args: argparse.Namespace) -> Config:
    return Config.load(getattr(args, "config", None))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise ConfigError("the passwords differ; nothing was changed")
    if not password:
        raise ConfigError("an empty password is not allowed")
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    password = _read_password(args)
    user = asyncio.run(add_user(_config(args), args.name, args.role, password))
    print(json.dumps({"user": user.username, "role": user.role, "id": user.id}))
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    config = _config(args)
    token, token_id = asyncio.run(create_token_with_id(config, args.name))
    print(token)
    expiry = (
        f"it expires in {config.api_token_days:g} days"
        if config.api_token_days > 0
        else "it does not expire"
    )
    print(
        f"Send it as 'Authorization: Bearer <token>'. It is shown only this once; {expiry}. "
        f"Token id {token_id}: 'frontdesk token revoke --id {token_id}' ends it.",
        file=sys.stderr,
    )
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    if (args.name is None) == (args.id is None):
        raise ConfigError("give a user NAME (all their tokens) or --id N (one token), not both")
    count = asyncio.run(revoke_tokens(_config(args), args.name, args.id))
    if args.id is not None and count == 0:
        raise ConfigError(f"no live token with id {args.id}; nothing was revoked")
    print(json.dumps({"revoked": count}))
    return 0


def cmd_token_purge(args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(purge(_config(args)))))
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(export_feedback(_config(args), args.out))))
    return 0


def add_parsers(commands: Any) -> None:
    """Add ``user``, ``token`` and ``feedback`` to the CLI's subcommands."""
    user = commands.add_parser("user", help="staff accounts for the console")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="add a staff user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=list(ROLES))
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.set_defaults(run=cmd_user_add)

    token = commands.add_parser("token", help="bearer tokens for the JSON APIs")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="print a new token for a user, once")
    create.add_argument("name")
    create.set_defaults(run=cmd_token_create)
    revoke = token_commands.add_parser(
        "revoke", help="end a user's tokens (NAME) or one token (--id N) at once"
    )
    revoke.add_argument("name", nargs="?")
    revoke.add_argument("--id", type=int, help="the token id 'token create' printed")
    revoke.set_defaults(run=cmd_token_revoke)
    purge_parser = token_commands.add_parser(
        "purge", help="delete ended sessions and revoked or expired tokens"
    )
    purge_parser.set_defaults(run=cmd_token_purge)

    feedback = commands.add_parser("feedback", help="what staff taught the bot")
    feedback_commands = feedback.add_subparsers(
        dest="feedback_command", required=True, metavar="ACTION"
    )
    export = feedback_commands.add_parser(
        "export",
        help="write corrections.csv (text,intent) and answers.csv (question,answer,intent)",
    )
    export.add_argument("--out", type=Path, required=True, help="directory for the CSV files")
    export.set_defaults(run=cmd_feedback_export)
