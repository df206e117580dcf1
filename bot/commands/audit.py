"""``frontdesk audit export``: the staff audit log as JSON lines, oldest first.

The same lines as ``GET /api/admin/audit?format=jsonl``, read straight from the database, so
an archive job needs no admin account or token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from bot.core.config import Config, ConfigError
from bot.storage import Store
from bot.storage.audit import ACTIONS, AuditLog, parse_since


def jsonl_line(event: Any) -> str:
    return json.dumps(event.public(), ensure_ascii=False) + "\n"


async def export_audit(
    config: Config, out: TextIO, *, since: str | None = None, action: str | None = None
) -> int:
    """Write every event (at or after ``since``, of ``action``) to ``out``; returns how many."""
    try:
        start = parse_since(since) if since is not None else None
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    store = await Store.open(config.database_url)
    count = 0
    try:
        async for event in AuditLog(store.engine).stream(since=start, action=action):
            out.write(jsonl_line(event))
            count += 1
    finally:
        await store.close()
    return count


def cmd_audit_export(args: argparse.Namespace) -> int:
    config = Config.load(getattr(args, "config", None))
    if args.out is None:
        count = asyncio.run(export_audit(config, sys.stdout, since=args.since, action=args.action))
    else:
        if args.out.is_dir():
            raise ConfigError(f"--out {args.out} is a directory; give a file such as audit.jsonl")
        with args.out.open("w", encoding="utf-8") as out:
            count = asyncio.run(export_audit(config, out, since=args.since, action=args.action))
    print(json.dumps({"events": count, "out": str(args.out or "-")}), file=sys.stderr)
    return 0


def add_parsers(commands: Any) -> None:
    """Add ``audit`` to the CLI's subcommands."""
    audit = commands.add_parser("audit", help="the log of what staff did")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    export = audit_commands.add_parser(
        "export", help="write the audit log as JSON lines, oldest first"
    )
    export.add_argument(
        "--since", help="only events at or after this ISO 8601 date or time (UTC unless given)"
    )
    export.add_argument("--action", choices=list(ACTIONS), help="only events of this action")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=cmd_audit_export)
