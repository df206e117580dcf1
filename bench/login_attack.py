"""What a password guesser gets from a real `frontdesk serve`: guesses checked per minute.

Two attacks, each on a fresh server with the default sign-in settings, sent as fast as the
server answers (4 at a time) for --minutes:

* one account from one address (a targeted guess at the admin's password);
* one address trying a new username every time (a spray, which no account lock stops).

A guess is "checked" when the server ran the password hash on it and said 401; a 429 is a
guess refused unchecked. After the targeted attack the bench waits out the lock and signs
in with the right password, which must work. Prints one JSON line. Usage:

    python bench/login_attack.py [--models models] [--minutes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_load import free_port, wait_ready

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "a long and unguessable passphrase"


def server_env(workdir: Path, models: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "FRONTDESK_PORT": str(port),
        "FRONTDESK_MODELS_DIR": str(models.resolve()),
        "FRONTDESK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}",
        "FRONTDESK_PID_FILE": str(workdir / "frontdesk.pid"),
        "FRONTDESK_LOG_LEVEL": "WARNING",
        # Served over plain HTTP on loopback: the client's jar must get the cookie back.
        "FRONTDESK_COOKIE_SECURE": "false",
    }


def add_admin(env: dict[str, str]) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
        ],
        cwd=REPO,
        env=env,
        input=f"{PASSWORD}\n".encode(),
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def login(session: aiohttp.ClientSession, url: str, username: str, password: str) -> Any:
    body = {"username": username, "password": password}
    async with session.post(f"{url}/api/login", json=body) as response:
        await response.read()
        return response.status, response.headers.get("Retry-After")


async def attack(
    url: str, minutes: float, username_of: Callable[[int], str]
) -> tuple[Counter[int], str | None]:
    """Wrong passwords for ``minutes``, 4 in flight; the statuses and the last Retry-After."""
    statuses: Counter[int] = Counter()
    retry_after: str | None = None
    deadline = time.perf_counter() + minutes * 60
    counter = iter(range(10**9))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal retry_after
            for i in counter:
                if time.perf_counter() >= deadline:
                    return
                status, wait = await login(session, url, username_of(i), f"guess-{i}")
                statuses[status] += 1
                if status == 429:
                    retry_after = wait
                    # A patient attacker: asking again at once only costs it nothing.
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(worker() for _ in range(4)))
    return statuses, retry_after


async def with_server(
    models: Path, body: Callable[[str], Any], *, with_admin: bool = True
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="frontdesk-login-"))
    port = free_port()
    env = server_env(workdir, models, port)
    if with_admin:
        add_admin(env)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, process, timeout=300)
        result: dict[str, Any] = await body(url)
        return result
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


async def targeted(url: str, minutes: float) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        # The check: wrong passwords 6 to 11 within a minute are refused unchecked.
        first = [(await login(session, url, "admin", f"wrong-{i}"))[0] for i in range(11)]
    statuses, retry_after = await attack(url, minutes, lambda i: "admin")
    statuses.update(first)
    waited = float(retry_after or 0)
    await asyncio.sleep(waited + 1)
    async with aiohttp.ClientSession() as session:
        right, _ = await login(session, url, "admin", PASSWORD)
    return {
        "first_11_statuses": first,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "guesses_checked_per_minute": round(statuses[401] / (minutes + 11 / 60), 1),
        "lock_waited_s": waited,
        "right_password_after_lock": right,
    }


async def spray(url: str, minutes: float) -> dict[str, Any]:
    statuses, _ = await attack(url, minutes, lambda i: f"user{i}")
    return {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "guesses_checked_per_minute": round(statuses[401] / minutes, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    per_account = await with_server(args.models, lambda url: targeted(url, args.minutes))
    per_address = await with_server(
        args.models, lambda url: spray(url, args.minutes), with_admin=False
    )
    return {
        "bench": "login_attack",
        "minutes": args.minutes,
        "per_account": per_account,
        "per_address": per_address,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--minutes", type=float, default=2.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
