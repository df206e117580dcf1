"""kill -9 in the middle of load: is every answered message stored once, with its reply and its
sentiment event?

Starts a real `frontdesk serve` on the models in --models (default: models/, what `make run`
trains) and a fresh SQLite file, drives the Rasa REST webhook from --senders concurrent
customers (each message with its own message_id, as a retrying client sends them), and
kill -9's the server once --kill-after messages have been answered. Then it starts the server
again on the same file, lets the customers resend what they never saw answered (same ids),
stops it, and counts from the database. Prints one JSON line. Usage:

    python bench/crash_recovery.py [--models models] [--senders 8] [--kill-after 200]

``answered``: messages that got a 200 with replies before the kill. ``stored_once``: of those,
stored as exactly one customer turn; ``with_reply``: with the bot's reply stored;
``with_sentiment_event``: with exactly one sentiment event for the ops monitor. ``lost``:
answered messages missing any of the three; ``doubled``: customer turns with more than one
event, or message ids stored more than once. ``in_flight``: messages sent but not answered when
the server died; ``resent_answered``: of those, answered after the restart, and ``resent_lost``:
of these, any not stored once with reply and event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alerts_replay import require_models
from server_load import REPO, default_messages, free_port, wait_ready


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, stdout=subprocess.DEVNULL
    )


Message = tuple[str, str]  # (sender, text)


async def post(
    session: aiohttp.ClientSession, url: str, sender: str, text: str, mid: str
) -> bool | None:
    """Whether the message came back answered (a 200 with replies); False when the request
    failed, None for a 200 without replies (a conversation a person owns: the bot is quiet)."""
    body = {"sender": sender, "message": text, "metadata": {"message_id": mid}}
    try:
        async with session.post(f"{url}/webhooks/rest/webhook", json=body) as response:
            if response.status != 200:
                return False
            return bool(await response.json()) or None
    except (TimeoutError, aiohttp.ClientError):
        return False


async def load_until_killed(
    url: str, process: subprocess.Popen[bytes], messages: list[str], args: argparse.Namespace
) -> tuple[dict[str, Message], dict[str, Message], int]:
    """Send until the server dies; returns the answered messages and those whose request
    failed, by message id, and how many were answered with silence."""
    answered: dict[str, Message] = {}
    failed: dict[str, Message] = {}
    silent = 0
    killed = asyncio.Event()

    async def sender(worker: int, session: aiohttp.ClientSession) -> None:
        nonlocal silent
        sent = 0
        while not killed.is_set():
            # A new customer every few messages, as in server_load.py.
            customer = f"s{worker}-c{sent // 4}"
            mid = f"s{worker}-m{sent}"
            text = messages[(worker * 997 + sent) % len(messages)]
            sent += 1
            outcome = await post(session, url, customer, text, mid)
            if outcome:
                answered[mid] = (customer, text)
            elif outcome is False:
                failed[mid] = (customer, text)
            else:
                silent += 1
            if len(answered) >= args.kill_after and not killed.is_set():
                killed.set()
                # Mid-load: the other senders' requests are in flight at this moment.
                process.send_signal(signal.SIGKILL)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(sender(w, session) for w in range(args.senders)))
    process.wait(timeout=30)
    return answered, failed, silent


def count(database: Path, answered: dict[str, Message]) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        turns: dict[str, list[int]] = {}
        for turn_id, mid in db.execute(
            "SELECT id, message_id FROM turns WHERE role = 'user' AND message_id IS NOT NULL"
        ):
            turns.setdefault(mid, []).append(turn_id)
        replies = {
            reply_to for (reply_to,) in db.execute("SELECT reply_to FROM turns WHERE role = 'bot'")
        }
        events: dict[int, int] = dict(
            db.execute("SELECT turn_id, COUNT(*) FROM sentiment_events GROUP BY turn_id")
        )
    stored_once = with_reply = with_event = lost = 0
    for mid in answered:
        found = turns.get(mid, [])
        once = len(found) == 1
        replied = once and found[0] in replies
        evented = once and events.get(found[0], 0) == 1
        stored_once += once
        with_reply += replied
        with_event += evented
        lost += not (once and replied and evented)
    doubled = sum(1 for ids in turns.values() if len(ids) > 1)
    doubled += sum(1 for n in events.values() if n > 1)
    return {
        "stored_once": stored_once,
        "with_reply": with_reply,
        "with_sentiment_event": with_event,
        "lost": lost,
        "doubled": doubled,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    messages = default_messages()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="frontdesk-crash-"))
    database = workdir / "crash.sqlite3"
    env = {
        **os.environ,
        "FRONTDESK_PORT": str(port),
        "FRONTDESK_MODELS_DIR": str(args.models.resolve()),
        "FRONTDESK_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "FRONTDESK_PID_FILE": str(workdir / "frontdesk.pid"),
        "FRONTDESK_RATE_LIMIT_PER_SENDER": "0",
        "FRONTDESK_RATE_LIMIT_PER_IP": "0",
        "FRONTDESK_LOG_LEVEL": "ERROR",
    }
    process = start(env)
    try:
        await wait_ready(url, process, timeout=300)
        answered, failed, silent = await load_until_killed(url, process, messages, args)
    finally:
        if process.poll() is None:
            process.kill()
    killed_at = time.perf_counter()

    process = start(env)
    try:
        await wait_ready(url, process, timeout=300)
        restart_s = time.perf_counter() - killed_at
        # The customers resend what they never saw answered, with the same ids.
        async with aiohttp.ClientSession() as session:
            resent = await asyncio.gather(
                *(post(session, url, sender, text, mid) for mid, (sender, text) in failed.items())
            )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()

    # Answered on the second try, they must be stored once like the rest.
    resent_answered = {
        mid: message for (mid, message), ok in zip(failed.items(), resent, strict=True) if ok
    }
    return {
        "bench": "crash_recovery",
        "models": str(args.models),
        "senders": args.senders,
        "answered": len(answered),
        **count(database, answered),
        "silent": silent,
        "in_flight": len(failed),
        "resent_answered": len(resent_answered),
        "resent_lost": count(database, resent_answered)["lost"],
        "restart_ready_s": round(restart_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument(
        "--kill-after", type=int, default=200, help="answered messages before the kill"
    )
    args = parser.parse_args()
    # Without a sentiment model no message has an event, and there would be nothing to count.
    require_models(args.models)
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
