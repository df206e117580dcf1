"""Everything the bot needs to answer, loaded once from the model directories and data files.

Loading takes seconds, so the server starts answering ``/healthz`` at once and loads in the
background; ``/readyz`` and the chat endpoints wait for :class:`RuntimeHolder` to be ready.
A reload builds a complete new :class:`Runtime` beside the old one and swaps it in a single
assignment, so no request ever sees half of each.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from bot.chat.actions import ActionRunner, InProcessActions, RemoteActions
from bot.chat.conversation import ConversationProcessor, SubjectReading, TurnListener
from bot.chat.engine import DialogueEngine, EngineSettings
from bot.chat.handoff import HandoffPolicy
from bot.chat.locks import ConversationLocks
from bot.chat.nlu import NluModels, NluService
from bot.chat.policies.memoization import MemoizationPolicy
from bot.chat.policies.rules import RulePolicy
from bot.chat.policies.states import StateReader
from bot.chat.responses import Responder
from bot.chat.retriever import IndexRetriever
from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.ops.config import parse_alerts
from bot.storage import Store
from retrieval.base.datafiles import load_yaml
from retrieval.base.domain import Domain
from retrieval.base.stories import StoryFiles, read_story_files
from retrieval.index import AnswerIndex
from retrieval.templates import ResponseTemplates

log = logging.getLogger(__name__)


class NotReadyError(RuntimeError):
    """The models are still loading (or failed to load)."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """What is read from disk: the part of a runtime that a reload replaces."""

    models: NluModels
    index: AnswerIndex | None
    templates: ResponseTemplates
    domain: Domain
    stories: StoryFiles


@dataclass
class Runtime:
    config: Config
    executor: Executor
    nlu: NluService
    processor: ConversationProcessor
    loaded: Loaded
    actions: ActionRunner | None
    retriever: IndexRetriever | None
    loaded_at: float = field(default_factory=time.time)

    @property
    def engine(self) -> DialogueEngine:
        return self.processor.engine

    @property
    def index(self) -> AnswerIndex | None:
        return self.loaded.index

    @property
    def domain(self) -> Domain:
        return self.loaded.domain

    async def reload(self) -> float:
        """Read models, index and data files again and swap them in; returns the seconds taken.

        The new parts load beside the old ones, which keep answering; the swap is a pair of
        assignments between two awaits, so every request sees either the old or the new set.
        """
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(self.executor, _load_blocking, self.config)
        self.nlu.swap(loaded.models)
        if loaded.index is None:
            retriever = None
        elif self.retriever is not None:
            self.retriever.index = loaded.index
            retriever = self.retriever
        else:
            retriever = self.retriever = _retriever(self.config, loaded.index, self.executor)
        self.processor.engine = _engine(self.config, loaded, self.actions, retriever)
        self.loaded = loaded
        self.loaded_at = time.time()
        freeze_heap()
        return time.perf_counter() - started

    async def close(self) -> None:
        await self.nlu.stop()
        if self.retriever is not None:
            await self.retriever.close()
        if self.actions is not None:
            await self.actions.close()


@dataclass
class RuntimeHolder:
    """The current runtime; a mutable box because app state is frozen once the app starts."""

    runtime: Runtime | None = None
    error: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def get(self) -> Runtime:
        if self.runtime is None:
            raise NotReadyError(self.error or "the models are still loading")
        return self.runtime


def freeze_heap() -> None:
    """Move everything alive now, the loaded models above all, out of the cyclic garbage
    collector's reach.

    The models are hundreds of thousands of long-lived objects. Without this, every full
    collection walks them all and stalls every request in flight (``bench/server_load.py``
    shows the cost at concurrency 16). Unfreezing first lets a reload's collection reclaim
    the models it replaced.

    The price is that one full collection itself, once per load or reload, during which the
    event loop stalls. Replaced models still held by a batch in flight get frozen too;
    whatever of them only a collection could free waits for the next reload.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def process_cores(config: Config) -> int:
    """The cores this server process may count on: the machine's, shared evenly by the
    ``--workers`` processes on it (two workers on two cores each get one, not two each)."""
    return max(1, (os.cpu_count() or 1) // max(1, config.workers))


def model_workers(config: Config) -> int:
    """Model worker threads: two, so the intent and sentiment batches run side by side, where
    this process has two cores to run them on."""
    return 2 if process_cores(config) >= 2 else 1


def inference_threads(config: Config) -> int:
    """torch threads per model worker. The event loop needs a core of its own: on a small
    machine torch's spinning OpenMP threads and the loop thrash, so there each worker gets
    one thread and the operating system shares the cores between them and the loop."""
    if config.inference_threads:
        return config.inference_threads
    return max(1, (process_cores(config) - 1) // model_workers(config))


def limit_blas_threads(threads: int) -> None:
    """Give numpy's BLAS the threads torch has.

    The out-of-scope scorer and the index multiply numpy matrices on the model workers'
    threads. Left alone, OpenBLAS keeps a thread per core of the machine and spins them while
    it waits, so on a small machine they fight the model workers and the event loop for the
    same cores: on 2 cores, limiting them took ``bench/server_load.py`` at concurrency 16 from
    101-116 to 153-165 messages a second, and p99 from 270-327 to 184-195 ms.

    threadpoolctl only limits libraries already loaded, so this runs once the models have
    loaded numpy and scipy. It lets only one thread at a time set OpenBLAS's process-wide
    limit: the first to set it holds that right until it lets go. So this sets it on the event
    loop's thread, which no context manager has claimed, and then lets go, so that the index's
    own one-thread limit (``retrieval/index/intents.py``) still applies when a reload rebuilds
    it on a model worker's thread.
    """
    from threadpoolctl import OpenBLASController, threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
    OpenBLASController.clear_controlling_thread()


def _load_blocking(config: Config) -> Loaded:
    import torch
    from transformers.utils import logging as hf_logging

    from retrieval.models.encoder import load_encoder

    # A server's log is for requests; per-file weight-loading bars are noise there.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    torch.set_num_threads(inference_threads(config))
    started = time.perf_counter()
    sentiment_dir: Path | None = config.sentiment_model_path
    if sentiment_dir is not None and not sentiment_dir.exists():
        log.warning("no sentiment model at %s; sentiment is not recorded", sentiment_dir)
        sentiment_dir = None
    models = NluModels.load(
        config.intent_model_path,
        sentiment_dir,
        device=config.device or None,
        quantization=config.quantization,
    )
    index: AnswerIndex | None = None
    if config.index_path.exists():
        encoder = load_encoder(config.encoder, device=config.device or None)
        encoder.trace_for_cpu()
        index = AnswerIndex.load(config.index_path, encoder)
    else:
        log.warning("no answer index at %s; retrieval is off", config.index_path)
    domain = Domain.load(config.domain_path)
    templates = _templates(config, domain)
    stories = read_story_files(config.story_paths)
    log.info("models loaded in %.1fs", time.perf_counter() - started)
    return Loaded(models, index, templates, domain, stories)


def _templates(config: Config, domain: Domain) -> ResponseTemplates:
    """responses.yml, with the domain's own ``responses:`` (a Rasa project's) beside it."""
    responses: dict[str, object] = dict(domain.responses)
    if config.responses_path.exists():
        own = load_yaml(config.responses_path) or {}
        if isinstance(own, dict):
            responses.update(own.get("responses", own) if "responses" in own else own)
    return ResponseTemplates.from_mapping(responses, source=str(config.responses_path))


def _actions(config: Config) -> ActionRunner | None:
    if config.action_server_url:
        return RemoteActions(config.action_server_url, timeout_s=config.action_timeout_s)
    if config.actions_module:
        return InProcessActions(config.actions_module, timeout_s=config.action_timeout_s)
    default = config.data_dir / "actions.py"
    if default.is_file():
        return InProcessActions(str(default), timeout_s=config.action_timeout_s)
    return None


def _retriever(config: Config, index: AnswerIndex, executor: Executor) -> IndexRetriever:
    return IndexRetriever(
        index, executor, max_batch=config.batch_max_size, max_wait_s=config.batch_wait_ms / 1000
    )


def _engine(
    config: Config, loaded: Loaded, actions: ActionRunner | None, retriever: IndexRetriever | None
) -> DialogueEngine:
    reader = StateReader(loaded.domain)
    return DialogueEngine(
        loaded.domain,
        Responder(loaded.templates),
        rules=RulePolicy(loaded.stories.rules, reader),
        stories=MemoizationPolicy(loaded.stories.stories, reader),
        retriever=retriever,
        actions=actions,
        settings=EngineSettings(
            retrieval_threshold=config.retrieval_threshold,
            retrieval_strong_threshold=config.retrieval_strong_threshold,
            intent_confident=config.intent_confident,
        ),
        handoff=handoff_policy(config),
    )


def handoff_policy(config: Config) -> HandoffPolicy:
    return HandoffPolicy(
        negative_turns=config.negative_handoff_turns,
        negative_score=config.negative_handoff_score,
        fallbacks_before_handoff=config.fallbacks_before_handoff,
    )


async def load_runtime(
    config: Config,
    store: Store,
    executor: Executor,
    metrics: Metrics,
    listeners: tuple[TurnListener, ...] = (),
    locks: ConversationLocks | None = None,
    staff_online: Callable[[], bool] | None = None,
    subjects: SubjectReading | None = None,
) -> Runtime:
    loop = asyncio.get_running_loop()
    loaded = await loop.run_in_executor(executor, _load_blocking, config)
    limit_blas_threads(inference_threads(config))
    nlu = NluService(
        loaded.models,
        executor=executor,
        max_batch=config.batch_max_size,
        max_wait_s=config.batch_wait_ms / 1000,
        on_batch=metrics.observe_batch,
    )
    nlu.start()
    actions = _actions(config)
    retriever = _retriever(config, loaded.index, executor) if loaded.index is not None else None
    processor = ConversationProcessor(
        store,
        nlu,
        _engine(config, loaded, actions, retriever),
        mask_pii_in_storage=config.mask_pii_in_storage,
        listeners=listeners,
        handoff=handoff_policy(config),
        locks=locks,
        staff_online=staff_online,
        # The same setting that turns the ops monitor on: it reads these events.
        sentiment_events=parse_alerts(config.extra.get("alerts")).enabled,
        subjects=subjects,
    )
    nlu.expect(processor.upcoming)
    runtime = Runtime(config, executor, nlu, processor, loaded, actions, retriever)
    freeze_heap()
    return runtime
