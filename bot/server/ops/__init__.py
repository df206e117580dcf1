"""The ops monitor in the server: its APIs, the ``/ops/`` page, and the background service.

Wired into the app by :func:`setup_ops`, called once from ``create_app`` after ``setup_web``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import web

from bot.core.config import Config
from bot.ops.config import parse_alerts
from bot.ops.leadership import leadership_for
from bot.ops.priors import (
    LabelledText,
    chunks,
    count_by_topic,
    read_chunk,
    training_texts,
    weigh,
)
from bot.ops.service import OpsMetrics, OpsService
from bot.ops.topics import SubjectReader, TopicBank
from bot.server.appkeys import (
    CONFIG,
    METRICS,
    OPS,
    REDIS,
    RUNTIME,
    STORE,
    SUBJECTS,
    TURN_LISTENERS,
)
from bot.server.runtime import RuntimeHolder
from bot.storage import ops_schema  # noqa: F401  (registers the ops tables on the metadata)
from bot.storage.ops_store import OpsStore
from retrieval.base.domain import Domain
from retrieval.base.modeldir import CARD_NAME

log = logging.getLogger(__name__)

# How often a reload (new models or data) is looked for, to read the priors again.
PRIORS_RECHECK_S = 5.0


def setup_ops(app: web.Application) -> None:
    """Validate ``[alerts]``, the background monitor and
    the turn listener that feeds it. Raises ConfigError on a bad setting."""
    config = parse_alerts(app[CONFIG].extra.get("alerts"))
    service = OpsService(config, OpsMetrics(app[METRICS].registry))
    app[OPS] = service
    settings = app[CONFIG]
    app[SUBJECTS] = SubjectReader(
        max_batch=settings.batch_max_size, max_wait_s=settings.batch_wait_ms / 1000
    )
    app.cleanup_ctx.append(ops_context)
    app[TURN_LISTENERS].append(service.on_turn)


async def ops_context(app: web.Application) -> AsyncIterator[None]:
    service = app[OPS]
    holder = app[RUNTIME]
    # Until the models are loaded (or when they fail to), topics come from the domain file.
    try:
        fallback = await asyncio.to_thread(Domain.load, app[CONFIG].domain_path)
    except Exception as exc:
        log.warning("cannot read the domain for ops topics: %s", exc)
        fallback = Domain()

    def domain() -> Domain:
        runtime = holder.runtime
        return runtime.domain if runtime is not None else fallback

    store = app[STORE]
    leadership = leadership_for(store.engine, app[REDIS])
    await service.start(OpsStore(store.engine, store.transactions), domain, leadership)
    priors = asyncio.get_running_loop().create_task(keep_priors(app))
    yield
    priors.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await priors
    await app[SUBJECTS].close()
    await service.close()


async def keep_priors(app: web.Application) -> None:
    """Build the subject reader's bank and read the topics' priors once the models are
    loaded, and again after each reload.

    The texts go to the model thread a chunk at a time, so customers' messages wait behind
    one chunk at most and a shutdown does not wait for the whole read. What was read is kept
    per set of files: a reload that changed nothing, or another app in this process on the
    same files (tests), reads nothing again."""
    service = app[OPS]
    config = app[CONFIG]
    holder = app[RUNTIME]
    subjects = app[SUBJECTS]
    weight = service.config.negative_share.prior_weight
    if not service.config.enabled:
        return
    await holder.ready.wait()
    # When the files were read (Runtime.loaded_at): holding the Loaded itself would keep the
    # models a reload replaced alive.
    read_at: float | None = None
    while True:
        runtime = holder.runtime
        if runtime is not None and runtime.loaded_at != read_at:
            read_at = runtime.loaded_at
            bank: TopicBank | None = None
            try:
                bank = await _bank(config, holder, subjects)
            except Exception:
                log.exception("building the topic bank failed; general topics stay as they are")
            if weight:
                try:
                    priors = await _priors(config, holder, weight, service.config.overall, bank)
                except Exception:
                    log.exception(
                        "reading the topics' priors failed; the share rule starts without"
                    )
                else:
                    service.set_priors(priors)
                    log.info(
                        "topic priors from the training data: %d topics", max(0, len(priors) - 1)
                    )
        await asyncio.sleep(PRIORS_RECHECK_S)


_READ: dict[tuple[object, ...], list[tuple[str, bool]]] = {}


def _stamp(path: Path | None) -> tuple[str, float]:
    try:
        return (str(path), path.stat().st_mtime) if path is not None else ("", 0.0)
    except OSError:
        return (str(path), 0.0)


async def _bank(config: Config, holder: RuntimeHolder, subjects: SubjectReader) -> TopicBank | None:
    """The topic bank of the answer index's intent examples, installed in ``subjects``; None
    where the domain has no general topics or the index carries no examples."""
    runtime = holder.get()
    index, domain = runtime.index, runtime.domain
    examples = index.examples if index is not None else None
    if index is None or examples is None or not domain.general_topics:
        # A reload that took the general topics or the examples away ends the reading.
        await subjects.close()
        if domain.general_topics:
            log.warning(
                "general_topics (%s) are set, but %s; messages keep their intent's topic",
                ", ".join(sorted(domain.general_topics)),
                "there is no answer index"
                if index is None
                else f"the answer index at {config.index_path} holds no intent examples "
                "(build it with `frontdesk index build --examples data/nlu.yml`)",
            )
        return None
    bank = TopicBank.from_examples(examples, domain)
    await subjects.install(bank, index.embed, runtime.executor)
    log.info(
        "subjects of general topics (%s) read from %d intent examples",
        ", ".join(sorted(domain.general_topics)),
        len(bank.topics),
    )
    return bank


async def _priors(
    config: Config, holder: RuntimeHolder, weight: int, overall: bool, bank: TopicBank | None
) -> dict[str, tuple[float, float]]:
    runtime = holder.get()
    if runtime.loaded.models.sentiment is None:
        return {}
    key = (
        # Which examples file which texts (not the index's stamp: a staff answer changes it).
        None if bank is None else hash((bank.texts, bank.topics, bank.general)),
        _stamp(config.data_dir / "nlu.yml"),
        _stamp(config.data_dir / "qa.csv"),
        _stamp(config.domain_path),
        _stamp(config.intent_model_path / CARD_NAME),
        _stamp(config.sentiment_model_path / CARD_NAME if config.sentiment_model_path else None),
    )
    readings = _READ.get(key)
    if readings is None:
        texts = await asyncio.to_thread(training_texts, config.data_dir)
        loop = asyncio.get_running_loop()
        readings = []
        for chunk in chunks(texts):
            readings += await loop.run_in_executor(
                runtime.executor, functools.partial(_read_chunk, holder, chunk, bank)
            )
        if len(_READ) >= 8:
            _READ.clear()
        _READ[key] = readings
    return weigh(count_by_topic(readings, overall=overall), weight)


def _read_chunk(
    holder: RuntimeHolder, chunk: Sequence[LabelledText], bank: TopicBank | None
) -> list[tuple[str, bool]]:
    # The models are looked up for each chunk, never held between them: a reload meanwhile
    # must be able to free the ones it replaces (bot/server/runtime.py freeze_heap).
    loaded = holder.get().loaded
    models = loaded.models
    sentiment = models.sentiment
    if sentiment is None:
        return []
    index = loaded.index
    read_subjects = None
    if bank is not None and index is not None:
        read_subjects = lambda texts: bank.read(texts, index.embed)  # noqa: E731
    return read_chunk(
        chunk,
        loaded.domain,
        read_intents=lambda texts: [p.label for p in models.intent.predict(texts)],
        read_negative=lambda texts: [p.label == "negative" for p in sentiment.predict(texts)],
        read_subjects=read_subjects,
    )
