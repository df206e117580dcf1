"""Schemathesis fuzzes every operation of /openapi.json against a live server.

The server runs for real (on the tiny models, with its own SQLite file) on a port of its own,
in a thread with its own event loop: schemathesis makes blocking HTTP calls, which must not
share the test's loop. Every operation gets schema-valid and schema-breaking requests as an
admin (so staff endpoints go past 401), and valid ones without credentials; each response
must be no 5xx, a documented status, a documented content type and a body that matches its
schema. The rate and sign-in limits are off here, so 429s do not hide the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.server.app import create_app
from bot.server.appkeys import RUNTIME, STORE
from bot.server.web.auth import digest, hash_password
from bot.storage.accounts import AccountStore
from tests.conftest import TinyModels, app_config

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Examples per operation and run: enough to reach every field's edge cases a few times,
# few enough that the whole fuzz stays well under two minutes on two cores.
EXAMPLES = 12
ANONYMOUS_EXAMPLES = 3
ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"
PASSWORD = "correct horse battery"


class LiveServer:
    """The app on 127.0.0.1:<free port>, served from a thread with its own event loop."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner = web.AppRunner(app)
        self.url = ""

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 180) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.call(self._start())

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        await asyncio.wait_for(self.app[RUNTIME].ready.wait(), timeout=120)

    def stop(self) -> None:
        try:
            self.call(self.runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()


async def add_admin(app: web.Application) -> None:
    accounts = AccountStore(app[STORE].engine)
    password_hash = await asyncio.to_thread(hash_password, PASSWORD)
    user = await accounts.create_user("root", password_hash, "admin")
    await accounts.create_api_token(user.id, digest(ADMIN_TOKEN))


@pytest.fixture
def live_server(tmp_path: Path, tiny_models: TinyModels) -> Iterator[LiveServer]:
    # Saving an answer rewrites the index on disk: this server gets its own copy.
    index = tmp_path / "index"
    shutil.copytree(tiny_models.index, index)
    config = app_config(
        tmp_path,
        models_dir=tiny_models.models_dir,
        index=index,
        login_failures_per_account=0,
        login_failures_per_ip=0,
        cookie_secure=False,
    )
    server = LiveServer(create_app(config))
    server.start()
    try:
        server.call(add_admin(server.app))
        yield server
    finally:
        server.stop()


@dataclass
class Tally:
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    by_operation: dict[str, int] = field(default_factory=dict)


def fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    base_url: str,
    headers: dict[str, str],
    session: requests.Session,
    tally: Tally,
) -> None:
    """Up to ``examples`` cases of ``operation``; failures are collected, not raised, so
    one run reports every operation that breaks."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        tally.cases += 1
        tally.by_operation[operation.label] = tally.by_operation.get(operation.label, 0) + 1
        try:
            case.call_and_validate(
                base_url=base_url, session=session, headers=headers, checks=CHECKS, timeout=60
            )
        except (Exception, FailureGroup) as exc:
            # Several failed checks come as one group, which is not an Exception.
            tally.failures.append(f"{operation.label} [{mode.value}]: {exc}")

    # Negative cases of an operation with no parameters and no body cannot exist.
    with contextlib.suppress(Unsatisfiable):
        run()


def operations_of(schema: Any) -> list[Any]:
    """Every operation, or the error in the first one schemathesis cannot read."""
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found


def test_every_operation_survives_schemathesis(
    live_server: LiveServer, record_property: Callable[[str, object], None]
) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    schema.validate()
    operations = operations_of(schema)
    document = requests.get(f"{live_server.url}/openapi.json", timeout=30).json()
    documented = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    # Schemathesis leaves out the operation that serves the schema it loaded.
    assert {operation.label for operation in operations} == documented - {"GET /openapi.json"}
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    runs = [
        (GenerationMode.POSITIVE, EXAMPLES, admin),
        (GenerationMode.NEGATIVE, EXAMPLES, admin),
        (GenerationMode.POSITIVE, ANONYMOUS_EXAMPLES, {}),
    ]
    tally = Tally()
    started = time.perf_counter()
    with requests.Session() as session:
        for operation in operations:
            for mode, examples, headers in runs:
                fuzz(operation, mode, examples, live_server.url, headers, session, tally)
    elapsed = time.perf_counter() - started
    print(
        f"\nschemathesis: {len(operations)} operations, {tally.cases} generated cases, "
        f"{len(tally.failures)} failures in {elapsed:.0f}s"
    )
    record_property("schemathesis_operations", len(operations))
    record_property("schemathesis_cases", tally.cases)
    assert tally.cases >= len(operations) * 2
    assert not tally.failures, "\n\n".join(tally.failures)
