"""What each topic is usually like before it has a history: the training data, as the served
models read it.

On an empty store the share rule had no usual level for any topic, so a topic negative by
nature (complaints, feedback) was judged on the threshold alone and the first busy ten minutes
of every deployment raised an alert that told ops nothing. The labelled data the bot was
trained on already says which topics are like that: read each intent example and each Q&A
question with the sentiment model (its topic is its intent's, or for a Q&A pair without one,
the intent model's reading), count negatives per topic, and let that count as
``[alerts.negative_share] prior_weight`` messages of history. Real history adds to it and,
within a day of ordinary traffic, outweighs it.

Only the share rule uses it. The shift and surge rules ask whether a topic changed against its
own recent traffic, which curated examples cannot stand in for: a calm stream that merely
reads differently from the examples would look like a change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.ops.engine import OVERALL
from retrieval.base.datafiles import DataFileError
from retrieval.base.datasets import load_examples
from retrieval.base.domain import Domain
from retrieval.base.qa import read_qa

log = logging.getLogger(__name__)

# Sentiment is read in chunks so a large project's examples do not become one huge batch.
CHUNK = 64


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    intent: str | None  # None: the intent model reads it


def training_texts(data_dir: Path) -> list[LabelledText]:
    """The intent examples (``nlu.yml``) and Q&A questions (``qa.csv``) under ``data_dir``.

    A file that is missing or unreadable is left out with a warning: the priors are a head
    start, and a server must not refuse to start over them."""
    texts: list[LabelledText] = []
    nlu = data_dir / "nlu.yml"
    if nlu.is_file():
        try:
            texts += [LabelledText(e.text, e.label) for e in load_examples(nlu)]
        except DataFileError as exc:
            log.warning("topic priors: cannot read %s: %s", nlu, exc)
    qa = data_dir / "qa.csv"
    if qa.is_file():
        try:
            texts += [LabelledText(p.question, p.intent) for p in read_qa(qa)]
        except DataFileError as exc:
            log.warning("topic priors: cannot read %s: %s", qa, exc)
    return texts


def count_by_topic(
    readings: Iterable[tuple[str, bool]], *, overall: bool = True
) -> dict[str, tuple[int, int]]:
    """topic -> (texts, negative texts), with ``OVERALL`` over all of them when asked."""
    counts: dict[str, tuple[int, int]] = {}
    for topic, negative in readings:
        targets = (topic, OVERALL) if overall else (topic,)
        for name in targets:
            n, neg = counts.get(name, (0, 0))
            counts[name] = (n + 1, neg + int(negative))
    return counts


def weigh(counts: dict[str, tuple[int, int]], weight: int) -> dict[str, tuple[float, float]]:
    """Each topic's share, counted as at most ``weight`` messages (fewer if it has fewer
    examples: a topic read from five examples is worth five)."""
    priors: dict[str, tuple[float, float]] = {}
    for topic, (n, neg) in counts.items():
        worth = min(weight, n)
        if worth:
            priors[topic] = (float(worth), worth * neg / n)
    return priors


def read_chunk(
    chunk: Sequence[LabelledText],
    domain: Domain,
    *,
    read_intents: Callable[[list[str]], list[str | None]],
    read_negative: Callable[[list[str]], list[bool]],
    read_subjects: Callable[[list[str]], list[str | None]] | None = None,
) -> list[tuple[str, bool]]:
    """(topic, negative) for each text of ``chunk``, read with the served models (blocking).

    With ``read_subjects``, a text of a general topic is counted under its subject where it
    has one, as the served bot files a customer's message (bot/ops/topics.py)."""
    unread = [t.text for t in chunk if t.intent is None]
    read = iter(read_intents(unread)) if unread else iter(())
    intents = [t.intent if t.intent is not None else next(read) for t in chunk]
    negative = read_negative([t.text for t in chunk])
    topics = [domain.category(i) for i in intents]
    general = [i for i, topic in enumerate(topics) if topic in domain.general_topics]
    if read_subjects is not None and general:
        subjects = read_subjects([chunk[i].text for i in general])
        for i, subject in zip(general, subjects, strict=True):
            topics[i] = subject or topics[i]
    return list(zip(topics, negative, strict=True))


def chunks(texts: Sequence[LabelledText]) -> list[Sequence[LabelledText]]:
    return [texts[first : first + CHUNK] for first in range(0, len(texts), CHUNK)]


def read_priors(
    texts: Sequence[LabelledText],
    domain: Domain,
    *,
    read_intents: Callable[[list[str]], list[str | None]],
    read_negative: Callable[[list[str]], list[bool]],
    weight: int,
    overall: bool = True,
    read_subjects: Callable[[list[str]], list[str | None]] | None = None,
) -> dict[str, tuple[float, float]]:
    """The priors for the share rule, reading ``texts`` with the served models (blocking)."""
    if not weight or not texts:
        return {}
    readings: list[tuple[str, bool]] = []
    for chunk in chunks(texts):
        readings += read_chunk(
            chunk,
            domain,
            read_intents=read_intents,
            read_negative=read_negative,
            read_subjects=read_subjects,
        )
    return weigh(count_by_topic(readings, overall=overall), weight)
