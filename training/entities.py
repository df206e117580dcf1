"""Learning a project's own entities from its annotations (retrieval.models.entities serves
them).

Rasa's CRFEntityExtractor, redone with python-crfsuite: every example becomes a sequence
of tokens (Rasa's WhitespaceTokenizer) tagged BILOU, the tag carrying the entity, role and
group, with the features :func:`retrieval.models.entities.token_features` gives serving
too. Examples without annotations teach the model what is not an entity, so all are used.

The CRF learns from the rows the intent model learns from and is measured on the rows it
is validated on, so the figures in the model metrics are held-out figures, like the intent
model's. On formbot-size data (a few hundred examples) training takes a second or two.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.base.datasets import Example
from retrieval.base.modeldir import ENTITIES_MODEL_NAME
from retrieval.base.nlu_entities import AnnotatedExample, EntityData, EntitySpan
from retrieval.models.entities import (
    OUTSIDE,
    EntityExtractor,
    Patterns,
    Resources,
    Token,
    tag_name,
    token_features,
    tokenize,
    write_resources,
)
from training.metrics import EntityKey, entity_metrics

# Weaker regularisation than Rasa's CRFEntityExtractor (L1 0.1, L2 0.1): a project names
# each value a few times, and Rasa's weights shrink "mexican" -> cuisine until context
# words outvote it. On formbot (8 splits, 150 held-out entities) entity F1 0.925 against
# 0.900 with Rasa's; L-BFGS converges in about 65 iterations there, 0.15 s.
CRF_PARAMS: dict[str, Any] = {
    "c1": 0.0,
    "c2": 0.01,
    "max_iterations": 100,
    "feature.possible_transitions": True,
}
MAX_WARNINGS = 20


def bilou_tags(
    tokens: Sequence[Token],
    spans: Iterable[EntitySpan],
    warn: Callable[[str], None] | None = None,
) -> list[str]:
    """One tag per token: ``U-`` for a one-token entity, ``B-``, ``I-``, ``L-`` for the
    first, inner and last tokens of a longer one, ``O`` outside any.

    A span covers every token it overlaps, so an annotation that cuts a word ("[NW]-123")
    still teaches the whole token. A token can carry one tag: where two annotations claim
    it (``[x][{"entity": "a"}, {"entity": "b"}]``) the first wins and ``warn`` is told.
    """
    tags = [OUTSIDE] * len(tokens)
    for span in spans:
        covered = [i for i, t in enumerate(tokens) if t.start < span.end and span.start < t.end]
        if not covered:
            if warn is not None:
                warn(f"the {span.entity!r} annotation covers no word")
            continue
        if any(tags[i] != OUTSIDE for i in covered):
            if warn is not None:
                warn(f"the {span.entity!r} annotation overlaps another; only the first is learned")
            continue
        if warn is not None and (
            tokens[covered[0]].start != span.start or tokens[covered[-1]].end != span.end
        ):
            warn(f"the {span.entity!r} annotation does not start and end at word boundaries")
        for position, i in enumerate(covered):
            if len(covered) == 1:
                prefix = "U"
            elif position == 0:
                prefix = "B"
            elif position == len(covered) - 1:
                prefix = "L"
            else:
                prefix = "I"
            tags[i] = tag_name(prefix, span.entity, span.role, span.group)
    return tags


def resources_of(data: EntityData, training: dict[str, Any] | None = None) -> Resources:
    return Resources(
        entities=data.entity_names,
        synonyms=dict(data.synonyms),
        lookups=dict(data.lookups),
        regexes=dict(data.regexes),
        training=training or {},
    )


def train_entity_model(
    directory: Path, data: EntityData, examples: Sequence[AnnotatedExample]
) -> dict[str, Any] | None:
    """Train the CRF on ``examples`` and write it and ``data``'s synonyms, lookups and
    regexes into ``directory``; None (and nothing written) when no example is annotated.

    Returns the training record (also kept in ``entities.json``), with the data's warnings.
    """
    import pycrfsuite

    if not any(e.entities for e in examples):
        return None
    started = time.perf_counter()
    patterns = Patterns.build(resources_of(data))
    warnings = list(data.warnings)
    trainer = pycrfsuite.Trainer(verbose=False)
    trainer.set_params(CRF_PARAMS)
    sequences = 0
    for example in examples:
        tokens = tokenize(example.text)
        if not tokens:
            continue

        def warn(problem: str, where: str = example.where) -> None:
            warnings.append(f"warning: {where}: {problem}")

        tags = bilou_tags(tokens, example.entities, warn)
        trainer.append(token_features(tokens, patterns.matches(example.text)), tags)
        sequences += 1
    trainer.train(str(directory / ENTITIES_MODEL_NAME))
    counts = Counter(span.entity for e in examples for span in e.entities)
    record: dict[str, Any] = {
        "extractor": "crfsuite",
        "examples": sequences,
        "annotated_examples": sum(1 for e in examples if e.entities),
        "annotations": dict(sorted(counts.items())),
        "params": CRF_PARAMS,
        "iterations": len(trainer.logparser.iterations),
        "seconds": round(time.perf_counter() - started, 3),
        "warnings": warnings[:MAX_WARNINGS],
    }
    if len(warnings) > MAX_WARNINGS:
        record["warnings"].append(f"... and {len(warnings) - MAX_WARNINGS} more")
    write_resources(directory, resources_of(data, record))
    return record


@dataclass(frozen=True, slots=True)
class EntityScored:
    """One example's gold entities and what the extractor served."""

    example: AnnotatedExample
    predicted: tuple[dict[str, Any], ...]

    @property
    def gold_keys(self) -> set[EntityKey]:
        return {span.key() for span in self.example.entities}

    @property
    def predicted_keys(self) -> set[EntityKey]:
        return {predicted_key(entity) for entity in self.predicted}

    @property
    def correct(self) -> bool:
        return self.gold_keys == self.predicted_keys


def predicted_key(entity: dict[str, Any]) -> EntityKey:
    role, group = entity.get("role"), entity.get("group")
    return (
        int(entity["start"]),
        int(entity["end"]),
        str(entity["entity"]),
        None if role is None else str(role),
        None if group is None else str(group),
    )


def score_entities(
    extractor: EntityExtractor | None, examples: Sequence[AnnotatedExample]
) -> tuple[dict[str, Any], list[EntityScored]]:
    """Entity precision, recall and F1 of what ``extractor`` serves (none: nothing found)
    against the annotations, exact spans and roles; and every example's predictions."""
    scored = [
        EntityScored(e, tuple(extractor.extract(e.text)) if extractor is not None else ())
        for e in examples
    ]
    metrics = entity_metrics([s.gold_keys for s in scored], [s.predicted_keys for s in scored])
    return metrics, scored


@dataclass(frozen=True, slots=True)
class EntityJob:
    """The entity side of a training run, ready to be written into the staged model."""

    data: EntityData
    train: tuple[AnnotatedExample, ...]
    validation: tuple[AnnotatedExample, ...]

    def write(self, directory: Path) -> LearnedEntities | None:
        """Train into ``directory`` and measure the served extractor on the validation
        rows; None if there is nothing to learn."""
        record = train_entity_model(directory, self.data, self.train)
        if record is None:
            return None
        metrics, scored = score_entities(EntityExtractor.load(directory), self.validation)
        return LearnedEntities(record, metrics, scored)


@dataclass(frozen=True, slots=True)
class LearnedEntities:
    """What training the entity extractor gave: its record and its validation figures."""

    training: dict[str, Any]
    validation: dict[str, Any]
    scored: list[EntityScored]

    def summary(self) -> dict[str, Any]:
        return {"training": self.training, "validation": self.validation}


def plan_entities(
    data: EntityData,
    train: Sequence[Example],
    validation: Sequence[Example],
    validation_data: EntityData | None = None,
) -> EntityJob | None:
    """The annotated examples on each side of the intent model's split; None when the
    training side annotates no entity (regexes and lookups alone extract nothing: Rasa's
    RegexEntityExtractor reads only the entity names the annotations use)."""
    pool = {e.key(): e for e in data.examples}
    if validation_data is not None:
        pool.update((e.key(), e) for e in validation_data.examples)

    def annotated(rows: Sequence[Example]) -> tuple[AnnotatedExample, ...]:
        keys = ((row.source, row.line, row.text) for row in rows)
        return tuple(pool[key] for key in keys if key in pool)

    job = EntityJob(data, annotated(train), annotated(validation))
    return job if any(e.entities for e in job.train) else None
