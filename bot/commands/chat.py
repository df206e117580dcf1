"""``frontdesk chat``: talk to the same pipeline the server runs, in a terminal."""

from __future__ import annotations

import asyncio
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.server.runtime import load_runtime
from bot.storage import Store

CHANNEL = "terminal"


async def chat(config: Config, *, sender: str | None = None, show_decisions: bool = True) -> None:
    store = await Store.open(config.database_url)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="frontdesk-model")
    print("Loading models…", file=sys.stderr)
    runtime = await load_runtime(config, store, executor, Metrics())
    sender = sender or f"terminal-{uuid.uuid4().hex[:8]}"
    print("Type a message (Ctrl-D or /quit to leave).", file=sys.stderr)
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                line = await loop.run_in_executor(None, input, "you> ")
            except EOFError:
                break
            text = line.strip()
            if not text:
                continue
            if text in {"/quit", "/exit"}:
                break
            handled = await runtime.processor.handle(CHANNEL, sender, text)
            if show_decisions and handled.parse is not None:
                p = handled.parse
                sentiment = f", sentiment {p.sentiment.label}" if p.sentiment else ""
                print(
                    f"  [{p.intent.label} {p.intent.confidence:.2f}{sentiment} → {handled.route}]",
                    file=sys.stderr,
                )
            for message in handled.messages:
                print(f"bot> {message.text}")
                for button in message.buttons:
                    print(f"     [{button.get('title')}]")
            if handled.route == "handoff":
                print("  (a person takes over here, from the console)", file=sys.stderr)
    finally:
        await runtime.close()
        await store.close()
        executor.shutdown(wait=True)
