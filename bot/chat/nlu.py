"""Understanding a message: intent ranking, sentiment and entities, in Rasa's parse shape.

Each classifier has its own micro-batcher, so concurrent requests share its forward pass;
the two batches run at the same time on two model workers (one core each), so a message
waits for the slower of the two models, not for both in turn. The event loop never blocks
on a model.

Entities come from two places. The intent model directory may hold an extractor learned
from the project's annotations (retrieval.models.entities: Rasa's CRF, regex and synonym
components); it runs in the intent batch, on the same worker, once per message, and costs
a fraction of a millisecond beside the forward pass. Then the built-in rules
(bot.chat.entities: Duckling's dimensions, order numbers) add what they find where no
learned entity already is: the project's own annotation of a span is the more specific
reading ("[4](guests)" over Duckling's number 4).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.chat import entities as entity_rules
from bot.chat.batching import MicroBatcher
from retrieval.base.labels import FALLBACK_INTENT
from retrieval.models.classifier import Prediction, TextClassifier
from retrieval.models.entities import EntityExtractor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ParseResult:
    text: str
    intent: Prediction
    sentiment: Prediction | None
    entities: list[dict[str, Any]] = field(default_factory=list)

    def to_rasa(self) -> dict[str, Any]:
        """Rasa's ``/model/parse`` shape, with our sentiment alongside."""
        ranking = [{"name": name, "confidence": score} for name, score in self.intent.ranking]
        body: dict[str, Any] = {
            "text": self.text,
            "intent": {"name": self.intent.label, "confidence": self.intent.confidence},
            "entities": self.entities,
            "intent_ranking": ranking,
        }
        if self.intent.rejected:
            # Rasa puts the fallback first in the ranking with the rejected guess behind it.
            body["intent_ranking"] = [
                {"name": FALLBACK_INTENT, "confidence": self.intent.confidence},
                *ranking,
            ]
        if self.sentiment is not None:
            body["sentiment"] = {
                "label": self.sentiment.label,
                "score": self.sentiment.confidence,
            }
        return body


# Rasa's default intents: understood as payloads even when the model never learned them.
DEFAULT_INTENTS = ("restart", "back", "session_start", "out_of_scope", "nlu_fallback")

_COMMAND = re.compile(r"^/(?P<intent>[\w.-]+)(?P<entities>\{.*\})?\s*$", re.DOTALL)


def parse_intent_command(
    text: str, labels: Sequence[str]
) -> tuple[str, list[dict[str, Any]]] | None:
    """Rasa's ``/intent{"entity": "value"}`` payload, if ``text`` is one for a known intent."""
    match = _COMMAND.match(text.strip())
    if match is None or match.group("intent") not in labels:
        return None
    entities: list[dict[str, Any]] = []
    if match.group("entities"):
        try:
            values = json.loads(match.group("entities"))
        except json.JSONDecodeError:
            return None
        if not isinstance(values, dict):
            return None
        entities = [
            {
                "entity": str(name),
                "value": value,
                "start": 0,
                "end": len(text),
                "confidence_entity": 1.0,
                "extractor": "payload",
            }
            for name, value in values.items()
        ]
    return match.group("intent"), entities


Entities = list[dict[str, Any]]


class NluModels:
    """The loaded classifiers and the intent model's learned entity extractor (None when
    its data annotated no entities). Loading is slow and synchronous: call it from a
    worker."""

    def __init__(
        self,
        intent: TextClassifier,
        sentiment: TextClassifier | None,
        entities: EntityExtractor | None = None,
    ) -> None:
        self.intent = intent
        self.sentiment = sentiment
        self.entities = entities

    @classmethod
    def load(
        cls,
        intent_dir: Path,
        sentiment_dir: Path | None,
        device: str | None = None,
        quantization: str | None = None,
    ) -> NluModels:
        intent = TextClassifier.load(intent_dir, device=device or None, quantize=quantization)
        sentiment = None
        if sentiment_dir is not None:
            sentiment = TextClassifier.load(
                sentiment_dir, device=device or None, quantize=quantization
            )
        return cls(intent, sentiment, EntityExtractor.load(intent_dir))

    def learned_entities(self, texts: Sequence[str]) -> list[Entities]:
        """The learned extractor's entities of each text (none without one)."""
        if self.entities is None:
            return [[] for _ in texts]
        found: list[Entities] = []
        for text in texts:
            try:
                found.append(self.entities.extract(text))
            except Exception:
                # Entities fill slots; the intent still answers without them.
                log.exception("the entity extractor failed on a message; no learned entities")
                found.append([])
        return found

    def classify(self, texts: Sequence[str]) -> list[tuple[Prediction, Prediction | None]]:
        """Both models, one after the other (evaluation and scripts; the server batches each
        model on its own worker)."""
        intents = self.intent.predict(texts)
        sentiments: list[Prediction | None] = (
            list(self.sentiment.predict(texts)) if self.sentiment else [None] * len(texts)
        )
        return list(zip(intents, sentiments, strict=True))


class NluService:
    """The async face of the models: ``await parse(text)`` from any request handler."""

    def __init__(
        self,
        models: NluModels,
        *,
        executor: Executor,
        max_batch: int = 32,
        max_wait_s: float = 0.002,
        on_batch: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.models = models
        options: dict[str, Any] = {
            "executor": executor,
            "max_size": max_batch,
            "max_wait_s": max_wait_s,
        }

        def report(model: str) -> Callable[[int, float], None] | None:
            return None if on_batch is None else functools.partial(on_batch, model)

        self._intents: MicroBatcher[str, tuple[Prediction, Entities]] = MicroBatcher(
            self._intent, on_batch=report("intent"), **options
        )
        self._sentiments: MicroBatcher[str, Prediction | None] = MicroBatcher(
            self._sentiment, on_batch=report("sentiment"), **options
        )

    # Both read self.models per batch, so that a hot reload swaps models between batches.
    def _intent(self, texts: Sequence[str]) -> list[tuple[Prediction, Entities]]:
        models = self.models  # one model directory's intents and entities per batch
        predictions = models.intent.predict(texts)
        return list(zip(predictions, models.learned_entities(texts), strict=True))

    def _sentiment(self, texts: Sequence[str]) -> list[Prediction | None]:
        sentiment = self.models.sentiment
        return list(sentiment.predict(texts)) if sentiment else [None] * len(texts)

    @property
    def queue_depth(self) -> int:
        """Messages waiting for a model (the busier of the two)."""
        return max(self._intents.queue_depth, self._sentiments.queue_depth)

    def start(self) -> None:
        self._intents.start()
        self._sentiments.start()

    async def stop(self) -> None:
        await self._intents.stop()
        await self._sentiments.stop()

    def swap(self, models: NluModels) -> None:
        self.models = models

    def expect(self, upcoming: Callable[[], int]) -> None:
        """``upcoming()`` says how many messages are on their way to ``parse``; the batchers
        stop waiting for more once none are."""
        self._intents.upcoming = upcoming
        self._sentiments.upcoming = upcoming

    async def _classify(self, text: str) -> tuple[tuple[Prediction, Entities], Prediction | None]:
        if self.models.sentiment is None:
            return await self._intents.enqueue(text), None
        # Both queued before the first await, so that a batcher deciding whether to wait for
        # more (ConversationProcessor.upcoming) already sees this message in its queue.
        intent, sentiment = await asyncio.gather(
            self._intents.enqueue(text), self._sentiments.enqueue(text), return_exceptions=True
        )
        if isinstance(intent, BaseException):
            raise intent
        if isinstance(sentiment, BaseException):
            # Sentiment feeds monitoring, not the answer: the customer still gets one.
            log.error("the sentiment model failed: %s", sentiment, exc_info=sentiment)
            sentiment = None
        return intent, sentiment

    async def parse(self, text: str, *, expecting: str | None = None) -> ParseResult:
        (intent, learned), sentiment = await self._classify(text)
        command = parse_intent_command(text, (*self.models.intent.labels, *DEFAULT_INTENTS))
        if command is not None:
            # A button payload like /order_status{"order_id": "NW-10001"} names its intent.
            name, entities = command
            ranking = ((name, 1.0),)
            return ParseResult(text, Prediction(name, 1.0, name, ranking), sentiment, entities)
        builtins = entity_rules.extract(text, expecting=expecting)
        return ParseResult(
            text=text,
            intent=intent,
            sentiment=sentiment,
            entities=[*learned, *(e for e in builtins if not _overlaps_any(e, learned))],
        )


def _overlaps_any(entity: dict[str, Any], others: Entities) -> bool:
    start, end = entity["start"], entity["end"]
    return any(start < other["end"] and other["start"] < end for other in others)
