"""``frontdesk test stories PATH``: hold Rasa test stories against the trained bot.

The same models, domain, rules and stories as ``frontdesk serve`` (read from the settings),
replayed as ``rasa test`` does (see :mod:`bot.chat.story_test`); prints one JSON line and
writes ``failed_test_stories.yml`` and ``story_report.json`` beside each other.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.chat.nlu import ParseResult
from bot.chat.story_test import hold_stories
from bot.core.config import Config, ConfigError
from bot.core.metrics import Metrics
from bot.server.runtime import load_runtime
from bot.storage import Store
from retrieval.base.stories import read_story_files

DEFAULT_OUT = Path("results")


async def run(config: Config, paths: list[Path], out: Path, *, read_text: bool) -> dict[str, Any]:
    stories = read_story_files(paths)
    found = [*stories.stories, *stories.rules]
    if not found:
        raise ConfigError(
            f"no stories or rules in {', '.join(map(str, paths))}; give a test_stories.yml "
            "or a folder of Rasa story files"
        )
    with tempfile.TemporaryDirectory() as scratch:
        # The replay stores nothing; a throwaway database keeps the serving one untouched.
        store = await Store.open(f"sqlite+aiosqlite:///{scratch}/replay.sqlite3")
        executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="frontdesk-model")
        runtime = await load_runtime(config, store, executor, Metrics())
        try:

            async def parse(text: str) -> ParseResult:
                return await runtime.nlu.parse(text)

            report = await hold_stories(runtime.engine, found, parse if read_text else None)
        finally:
            await runtime.close()
            await store.close()
            executor.shutdown(wait=True)
    summary = report.summary()
    out.mkdir(parents=True, exist_ok=True)
    (out / "failed_test_stories.yml").write_text(report.failed_stories_yaml(), encoding="utf-8")
    (out / "story_report.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    summary["report"] = str(out / "failed_test_stories.yml")
    return summary


def cmd_test_stories(args: argparse.Namespace) -> int:
    import asyncio

    config = Config.load(args.config)
    summary = asyncio.run(run(config, args.paths, args.out, read_text=not args.intents_only))
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if summary["failed"] == 0 or args.no_fail else 1


def add_parsers(commands: Any) -> None:
    test = commands.add_parser("test", help="hold test stories against the bot (rasa test)")
    kinds = test.add_subparsers(dest="test_kind", required=True, metavar="KIND")
    stories = kinds.add_parser(
        "stories", help="replay Rasa test stories; prints JSON and writes a report"
    )
    stories.add_argument("paths", nargs="+", type=Path, help="test_stories.yml files or folders")
    stories.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder")
    stories.add_argument(
        "--intents-only",
        action="store_true",
        help="take each turn's intent from the story instead of reading its text",
    )
    stories.add_argument("--no-fail", action="store_true", help="exit 0 even when stories fail")
    stories.set_defaults(run=cmd_test_stories)
