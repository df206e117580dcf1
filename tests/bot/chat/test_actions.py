"""bot.chat.actions: rasa_sdk actions run in-process and on a real Rasa action server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from rasa_sdk.types import ActionCall

from bot.chat.actions import ActionError, InProcessActions, RemoteActions
from bot.chat.execution import ActionExecution
from bot.chat.responses import Responder
from bot.chat.tracker import Tracker, simple, slot_set, user_uttered
from retrieval.base.domain import Domain
from retrieval.templates import ResponseTemplates

REPO = Path(__file__).resolve().parents[3]
MODULE = "fd_test_actions"

# A small actions module, written the way a bot builder writes one against rasa_sdk.
ACTIONS_SOURCE = textwrap.dedent(
    """
    import asyncio
    import time
    from pathlib import Path

    from rasa_sdk import Action
    from rasa_sdk.events import SlotSet

    CALLS = Path(__file__).with_name("calls.log")


    def count(name):
        with CALLS.open("a") as handle:
            handle.write(name + "\\n")


    class ActionTestOrderStatus(Action):
        def name(self):
            return "action_test_order_status"

        def run(self, dispatcher, tracker, domain):
            order_id = tracker.get_slot("order_id")
            dispatcher.utter_message(
                text=f"Order {order_id} has shipped.",
                buttons=[{"title": "Track it", "payload": "/track_shipment"}],
            )
            return [SlotSet("order_status", "shipped"), SlotSet("email", None)]


    class ActionTestGreetAsync(Action):
        def name(self):
            return "action_test_greet_async"

        async def run(self, dispatcher, tracker, domain):
            await asyncio.sleep(0)
            text = tracker.latest_message.get("text")
            dispatcher.utter_message(text=f"Hello {tracker.sender_id}, you said {text!r}")
            return []


    class ActionTestBoom(Action):
        def name(self):
            return "action_test_boom"

        def run(self, dispatcher, tracker, domain):
            count("boom")
            raise RuntimeError("order system is down")


    class ActionTestSlowAsync(Action):
        def name(self):
            return "action_test_slow_async"

        async def run(self, dispatcher, tracker, domain):
            await asyncio.sleep(5)
            return []


    class ActionTestSlowSync(Action):
        def name(self):
            return "action_test_slow_sync"

        def run(self, dispatcher, tracker, domain):
            time.sleep(0.6)
            return []
    """
)

DOMAIN = {"intents": ["order_status"], "entities": [], "slots": {}, "actions": [], "responses": {}}


def call(name: str, **slots: Any) -> ActionCall:
    """The body the engine sends for ``name``, from a real tracker."""
    tracker = Tracker("alice")
    tracker.add(
        user_uttered(
            "where is NW-10482?",
            {"intent": {"name": "order_status", "confidence": 1.0}, "entities": []},
            message_id=None,
            channel="rest",
        )
    )
    for slot, value in {"order_id": None, **slots}.items():
        tracker.add(slot_set(slot, value))
    execution = ActionExecution(Domain(), Responder(ResponseTemplates.from_mapping({})), None)
    return execution.call(name, tracker, ())


def calls_logged(actions_dir: Path) -> list[str]:
    log = actions_dir / "calls.log"
    return log.read_text().split() if log.exists() else []


@pytest.fixture(scope="module")
def actions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("actions")
    (directory / f"{MODULE}.py").write_text(ACTIONS_SOURCE, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def in_process(actions_dir: Path) -> InProcessActions:
    return InProcessActions(str(actions_dir / f"{MODULE}.py"), timeout_s=0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def action_server(actions_dir: Path) -> Iterator[str]:
    """A real ``python -m rasa_sdk`` action server for this module's tests."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(actions_dir),
        "SANIC_HOST": "127.0.0.1",
        "ACTION_SERVER_SANIC_WORKERS": "1",
    }
    log = (actions_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", MODULE, "--port", str(port)],
        cwd=actions_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: Sanic's worker goes down with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(
                    "the rasa_sdk action server exited:\n"
                    + (actions_dir / "server.log").read_text(errors="replace")[-3000:]
                )
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the rasa_sdk action server did not answer /health within 60 s")
            time.sleep(0.2)
        yield f"{base}/webhook"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        log.close()


def test_action_call_has_rasas_wire_shape() -> None:
    tracker = Tracker("alice")
    tracker.add(user_uttered("hi", {"intent": {"name": "greet"}}, message_id="m1", channel="rest"))
    tracker.add(slot_set("order_id", "NW-1"))
    tracker.add(simple("pause"))
    domain = Domain.load(REPO / "data" / "domain.yml")
    execution = ActionExecution(domain, Responder(ResponseTemplates.from_mapping({})), None)

    body = execution.call("action_x", tracker, ())

    assert body["next_action"] == "action_x"
    assert body["sender_id"] == "alice"
    assert set(body["domain"]) >= {"intents", "entities", "slots", "actions", "responses"}
    assert body["tracker"]["sender_id"] == "alice"
    assert body["tracker"]["slots"]["order_id"] == "NW-1"
    assert body["tracker"]["latest_message"]["text"] == "hi"
    assert body["tracker"]["latest_message"]["message_id"] == "m1"
    assert body["tracker"]["paused"] is True
    assert [e["event"] for e in body["tracker"]["events"]] == ["user", "slot", "pause"]


# In-process ----------------------------------------------------------------------------


def test_in_process_runner_knows_only_the_actions_of_its_module(
    in_process: InProcessActions,
) -> None:
    assert in_process.known("action_test_order_status")
    assert in_process.known("action_test_greet_async")
    assert not in_process.known("action_listen")
    assert not in_process.known("action_not_there")


async def test_in_process_action_returns_slot_set_events_and_responses(
    in_process: InProcessActions,
) -> None:
    result = await in_process.run(call("action_test_order_status", order_id="NW-10482"))

    assert [(e["event"], e["name"], e["value"]) for e in result.events] == [
        ("slot", "order_status", "shipped"),
        ("slot", "email", None),
    ]
    [response] = result.responses
    assert response["text"] == "Order NW-10482 has shipped."
    assert response["buttons"] == [{"title": "Track it", "payload": "/track_shipment"}]


async def test_in_process_async_action_sees_the_tracker(in_process: InProcessActions) -> None:
    result = await in_process.run(call("action_test_greet_async"))

    assert result.events == []
    assert [r["text"] for r in result.responses] == ["Hello alice, you said 'where is NW-10482?'"]


async def test_in_process_unknown_action_is_an_action_error(in_process: InProcessActions) -> None:
    with pytest.raises(ActionError) as caught:
        await in_process.run(call("action_not_there"))

    assert str(caught.value) == "action 'action_not_there' is not defined in the actions module"


async def test_in_process_action_that_raises_is_an_action_error(
    in_process: InProcessActions,
) -> None:
    with pytest.raises(ActionError) as caught:
        await in_process.run(call("action_test_boom"))

    assert str(caught.value) == (
        "action action_test_boom raised RuntimeError('order system is down')"
    )
    assert isinstance(caught.value.__cause__, RuntimeError)


async def test_in_process_slow_async_action_times_out(in_process: InProcessActions) -> None:
    started = time.perf_counter()

    with pytest.raises(ActionError) as caught:
        await in_process.run(call("action_test_slow_async"))

    assert str(caught.value) == "action action_test_slow_async timed out after 0.2s"
    assert time.perf_counter() - started < 2


async def test_in_process_slow_sync_action_times_out_without_blocking_the_event_loop(
    in_process: InProcessActions,
) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    started = time.perf_counter()
    try:
        with pytest.raises(ActionError, match=r"action_test_slow_sync timed out after 0\.2s"):
            await in_process.run(call("action_test_slow_sync"))
    finally:
        ticker.cancel()

    assert time.perf_counter() - started < 0.5
    assert ticks >= 3  # other coroutines kept running while the action slept


async def test_in_process_close_leaves_the_runner_usable(in_process: InProcessActions) -> None:
    await in_process.close()

    result = await in_process.run(call("action_test_order_status", order_id="NW-7"))

    # Closing an in-process runner releases nothing it still needs.
    assert result.responses[0]["text"] == "Order NW-7 has shipped."


def test_a_missing_actions_file_is_an_action_error(tmp_path: Path) -> None:
    with pytest.raises(ActionError, match=r"nope\.py does not exist; fix actions_module"):
        InProcessActions(str(tmp_path / "nope.py"))


def test_an_actions_file_that_fails_to_import_is_an_action_error(tmp_path: Path) -> None:
    path = tmp_path / "broken_actions.py"
    path.write_text("raise ImportError('no such order system')\n")

    with pytest.raises(ActionError) as caught:
        InProcessActions(str(path))

    assert str(caught.value) == (
        f"actions module {path} failed to import: ImportError('no such order system')"
    )
    assert "frontdesk_actions_broken_actions" not in sys.modules


def test_an_unknown_dotted_actions_module_is_an_action_error() -> None:
    with pytest.raises(
        ActionError, match=r"actions module 'no_such_pkg\.actions' failed to import"
    ):
        InProcessActions("no_such_pkg.actions")


def test_the_shipped_example_actions_load_in_process() -> None:
    runner = InProcessActions(str(REPO / "data" / "actions.py"))

    assert runner.known("action_order_status")


# Remote: a real rasa_sdk action server ------------------------------------------------


async def test_remote_action_returns_the_servers_events_and_responses(action_server: str) -> None:
    remote = RemoteActions(action_server, timeout_s=5)
    try:
        result = await remote.run(call("action_test_order_status", order_id="NW-10482"))
    finally:
        await remote.close()

    assert [(e["event"], e["name"], e["value"]) for e in result.events] == [
        ("slot", "order_status", "shipped"),
        ("slot", "email", None),
    ]
    assert [r["text"] for r in result.responses] == ["Order NW-10482 has shipped."]
    assert remote.known("anything")  # the server is the judge of names


async def test_remote_and_in_process_give_the_same_result(
    action_server: str, in_process: InProcessActions
) -> None:
    remote = RemoteActions(action_server, timeout_s=5)
    try:
        over_http = await remote.run(call("action_test_order_status", order_id="NW-1"))
    finally:
        await remote.close()

    assert over_http == await in_process.run(call("action_test_order_status", order_id="NW-1"))


async def test_remote_unknown_action_404_is_an_action_error_without_retrying(
    action_server: str,
) -> None:
    remote = RemoteActions(action_server, timeout_s=5, retries=2)
    try:
        with pytest.raises(ActionError) as caught:
            await remote.run(call("action_not_there"))
    finally:
        await remote.close()

    assert str(caught.value).startswith("action server refused action_not_there: HTTP 404 ")
    assert "action_not_there" in str(caught.value)


async def test_remote_action_that_raises_is_retried_then_an_action_error(
    action_server: str, actions_dir: Path
) -> None:
    before = len(calls_logged(actions_dir))
    remote = RemoteActions(action_server, timeout_s=5, retries=2)
    try:
        with pytest.raises(ActionError) as caught:
            await remote.run(call("action_test_boom"))
    finally:
        await remote.close()

    assert str(caught.value) == (
        f"action action_test_boom failed on {action_server}: "
        "ActionError('action server error for action_test_boom: HTTP 500')"
    )
    assert len(calls_logged(actions_dir)) - before == 3  # first try and two retries


async def test_remote_connection_refused_is_an_action_error_after_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}/webhook"
    remote = RemoteActions(url, timeout_s=1, retries=1)
    try:
        with pytest.raises(ActionError) as caught:
            await remote.run(call("action_test_order_status"))
    finally:
        await remote.close()

    assert str(caught.value).startswith(f"action action_test_order_status failed on {url}: ")
    assert "ClientConnectorError" in str(caught.value)


# Remote: misbehaving servers ------------------------------------------------------------


async def serve(aiohttp_server: Any, handler: Any) -> str:
    app = web.Application()
    app.router.add_post("/webhook", handler)
    server = await aiohttp_server(app)
    return str(server.make_url("/webhook"))


async def test_remote_transient_server_error_is_retried_until_it_succeeds(
    aiohttp_server: Any,
) -> None:
    attempts = 0

    async def flaky(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return web.Response(status=503, text="starting up")
        body = await request.json()
        return web.json_response(
            {"events": [], "responses": [{"text": f"ran {body['next_action']}"}]}
        )

    remote = RemoteActions(await serve(aiohttp_server, flaky), timeout_s=5, retries=2)
    try:
        result = await remote.run(call("action_x"))
    finally:
        await remote.close()

    assert attempts == 2
    assert result.responses == [{"text": "ran action_x"}]


async def test_remote_slow_server_times_out_into_an_action_error(aiohttp_server: Any) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"events": [], "responses": []})

    remote = RemoteActions(await serve(aiohttp_server, slow), timeout_s=0.2, retries=1)
    try:
        with pytest.raises(ActionError, match=r"action action_x failed on .*TimeoutError"):
            await remote.run(call("action_x"))
    finally:
        await remote.close()


@pytest.mark.parametrize(
    ("body", "content_type"), [("null", "application/json"), ("[1, 2]", "application/json")]
)
async def test_remote_answer_that_is_not_a_json_object_is_an_action_error(
    aiohttp_server: Any, body: str, content_type: str
) -> None:
    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type=content_type)

    remote = RemoteActions(await serve(aiohttp_server, garbage), timeout_s=5, retries=0)
    try:
        with pytest.raises(ActionError, match="expected a JSON object"):
            await remote.run(call("action_x"))
    finally:
        await remote.close()


async def test_remote_answer_that_is_not_json_is_an_action_error(aiohttp_server: Any) -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<h1>proxy error</h1>", content_type="text/html")

    remote = RemoteActions(await serve(aiohttp_server, html), timeout_s=5, retries=0)
    try:
        with pytest.raises(ActionError, match="ContentTypeError"):
            await remote.run(call("action_x"))
    finally:
        await remote.close()
