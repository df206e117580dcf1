"""Custom actions written against ``rasa_sdk.Action``, run unchanged.

In-process: the configured module (a dotted name or a ``.py`` path) is registered with
rasa_sdk's own :class:`ActionExecutor`. Remote: the same action call is POSTed to a Rasa action
server's ``/webhook``. Either way the call and the result have Rasa's wire shape, so a project
can move its actions between the two without touching them.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import aiohttp
from rasa_sdk.types import ActionCall

log = logging.getLogger(__name__)


class ActionError(RuntimeError):
    """An action that could not run or returned garbage; the bot degrades past it."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    events: list[dict[str, Any]]
    responses: list[dict[str, Any]]


class ActionRunner(Protocol):
    def known(self, name: str) -> bool: ...

    async def run(self, call: ActionCall) -> ActionResult: ...

    async def close(self) -> None: ...


def import_actions_module(spec: str) -> ModuleType:
    """Import ``spec``: a file path ending in ``.py`` or a dotted module name."""
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        if not path.is_file():
            raise ActionError(f"actions module {spec} does not exist; fix actions_module")
        name = f"frontdesk_actions_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ActionError(f"cannot import actions module {spec}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise ActionError(f"actions module {spec} failed to import: {exc!r}") from exc
        return module
    try:
        return importlib.import_module(spec)
    except Exception as exc:
        raise ActionError(f"actions module {spec!r} failed to import: {exc!r}") from exc


class InProcessActions:
    """Runs actions through rasa_sdk's executor inside this process."""

    def __init__(self, module_spec: str, *, timeout_s: float = 5.0) -> None:
        from rasa_sdk import Action
        from rasa_sdk.executor import ActionExecutor

        module = import_actions_module(module_spec)
        self._executor = ActionExecutor()
        # rasa_sdk's register_package registers every Action subclass the process has ever
        # seen, so another module's action of the same name could win. Register this
        # module's own classes explicitly, last, and answer only for them.
        own: list[type[Action]] = [
            cls
            for cls in vars(module).values()
            if inspect.isclass(cls)
            and issubclass(cls, Action)
            and cls.__module__ == module.__name__
            and not inspect.isabstract(cls)
        ]
        for cls in own:
            self._executor.register_action(cls)
        self._names = {cls().name() for cls in own}
        # rasa_sdk calls a synchronous ``run`` on the event loop: one slow action (a blocking
        # HTTP call, a sleep) would stall every conversation and outlive the timeout. Run those
        # in a worker thread instead; the timeout then holds (the thread finishes on its own).
        for name in self._names:
            run = self._executor.actions[name]
            if not inspect.iscoroutinefunction(run):
                self._executor.actions[name] = _in_thread(run)
        self._timeout_s = timeout_s

    def known(self, name: str) -> bool:
        return name in self._names

    async def run(self, call: ActionCall) -> ActionResult:
        name = call["next_action"]
        if not self.known(name):
            raise ActionError(f"action {name!r} is not defined in the actions module")
        try:
            result = await asyncio.wait_for(self._executor.run(dict(call)), self._timeout_s)
        except TimeoutError as exc:
            raise ActionError(f"action {name} timed out after {self._timeout_s}s") from exc
        except Exception as exc:
            raise ActionError(f"action {name} raised {exc!r}") from exc
        if result is None:
            return ActionResult([], [])
        return ActionResult(list(result.events), list(result.responses))

    async def close(self) -> None:
        return None


def _in_thread(run: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def run_in_thread(dispatcher: Any, tracker: Any, domain: Any) -> Any:
        result = await asyncio.to_thread(run, dispatcher, tracker, domain)
        if inspect.isawaitable(result):
            result = await result
        return result

    return run_in_thread


class RemoteActions:
    """Calls a Rasa action server (``POST {url}`` with Rasa's action-call body)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, retries: int = 2) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self._session: aiohttp.ClientSession | None = None

    def known(self, name: str) -> bool:
        return True  # the server answers 404 for names it does not have

    async def run(self, call: ActionCall) -> ActionResult:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        name = call["next_action"]
        last: Exception | None = None
        for attempt in range(self._retries + 1):
            try:
                async with self._session.post(self._url, json=dict(call)) as response:
                    if response.status == 200:
                        body = await response.json()
                        if not isinstance(body, dict):
                            raise ActionError(
                                f"action server returned {type(body).__name__} for {name}, "
                                "expected a JSON object"
                            )
                        return ActionResult(
                            list(body.get("events") or []), list(body.get("responses") or [])
                        )
                    detail = await response.text()
                    if 400 <= response.status < 500:
                        # The action itself rejected the call; retrying will not help.
                        raise ActionError(
                            f"action server refused {name}: HTTP {response.status} {detail[:200]}"
                        )
                    last = ActionError(f"action server error for {name}: HTTP {response.status}")
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                last = exc
            if attempt < self._retries:
                await asyncio.sleep(0.1 * 2**attempt)
        raise ActionError(f"action {name} failed on {self._url}: {last!r}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
