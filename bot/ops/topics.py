"""Which subject a message is about when its intent does not say.

The ops monitor counts sentiment per topic, and a topic is its intent's category
(``categories`` in ``domain.yml``). Some intents say how a customer feels, not what about: the
demo's ``complaint`` holds "the courier threw my parcel over the fence" beside "your service
is awful". Counted under ``feedback``, a surge of angry shipping messages reached the shipping
topic thinned and late (``bench/alerts_resample.py --topic shipping``: 33% found within 50
messages), and ops were told "feedback is negative", which says nothing about what broke.

The domain names such topics (``general_topics``). A message of one is filed under the topic
its words are nearest to: the intent examples (``nlu.yml``), embedded by the answer index's
sentence encoder when the index was built (``frontdesk index build --examples``,
retrieval/index/examples.py), vote with their topics among the :data:`NEIGHBOURS` nearest,
and the plurality wins. When the plurality is a general topic itself ("your service is awful" lies
among complaints, "thanks!" among thanks), the message keeps its intent's topic: the
examples of the general intents are the "no subject" class, so nothing is spread over the
subjects for want of a better place. A message far from every example (off-domain chatter)
keeps its topic too (:data:`MIN_SIMILARITY`). Fallbacks (``nlu_fallback``) are not re-read:
what the bot did not understand is not guessed at.

``k``, the vote and the floor were chosen on the stream messages named below and on
TweetEval tweets, which the alert benchmarks also replay: the benchmarks' figures for this
rule are not a held-out measure.

Why this encoder, not the intent model's own embedding, which comes free with each parse:
fine-tuning pulls each intent's examples together, so a courier complaint lies among
complaints and nowhere near shipping. Among the subject intents' examples alone, the
fine-tuned space found the right subject for 27 of the 58 messages of
``data/eval/sentiment_stream.csv`` that the demo reads as general or as a fallback, the
sentence encoder for 48. With this module's rule (all examples vote, the general ones as
"no subject") and the demo's ``general_topics: [feedback]``, the 22 stream messages read as
complaints are filed right 18 times, wrong 3 times, and one keeps ``feedback``.

Only messages whose intent has a general topic pay for the extra encoder pass, batched across
concurrent requests on the model worker like every other model call.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from bot.chat.batching import MicroBatcher
from retrieval.base.domain import Domain
from retrieval.index.examples import IntentExamples

log = logging.getLogger(__name__)

# The examples that vote. Ten was better than five or twenty on the demo's stream messages
# read as general or as a fallback (right 42, 38 and 40 times of 58), and moved none of the
# 36 held-out paraphrases of general intents (data/eval/intent_paraphrases.csv).
NEIGHBOURS = 10

# How close, on average, the k nearest examples must lie (cosine similarity, in the bundled
# encoder's scale) before their vote counts. Off-domain text lies far from all of them, and
# without the floor its nearest examples still vote: 101 of 1,500 TweetEval tweets read as
# general were filed under a subject (75 under account, enough for a false alert in
# bench/alerts_calm.py); with it, 21. The demo's stream messages of general intents lie at
# 0.37 and above in nine cases of ten, and none of those filed right was lost.
MIN_SIMILARITY = 0.35

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class TopicBank:
    """The intent examples as unit vectors, each with its topic."""

    vectors: np.ndarray  # (examples, dimension), float32, unit rows
    topics: tuple[str, ...]
    general: frozenset[str]
    texts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.topics):
            raise ValueError(
                f"expected one vector per topic, got {self.vectors.shape} for "
                f"{len(self.topics)} topics"
            )

    @classmethod
    def from_examples(cls, examples: IntentExamples, domain: Domain) -> TopicBank:
        """The examples whose intent has a topic in the domain's ``categories``."""
        rows = [i for i, intent in enumerate(examples.intents) if intent in domain.categories]
        return cls(
            np.ascontiguousarray(examples.vectors[rows], dtype=np.float32).reshape(
                len(rows), examples.vectors.shape[1]
            ),
            tuple(domain.categories[examples.intents[i]] for i in rows),
            domain.general_topics,
            tuple(examples.texts[i] for i in rows),
        )

    @functools.cached_property
    def _rows(self) -> dict[str, int]:
        return {text: row for row, text in enumerate(self.texts)}

    def read(self, texts: Sequence[str], embed: Embed) -> list[str | None]:
        """:meth:`subjects` of ``texts``; a text that is one of the examples is not embedded
        again (the priors read the training data itself)."""
        if not texts:
            return []
        known = self._rows
        missing = [text for text in texts if text not in known]
        fresh = iter(embed(missing)) if missing else iter(())
        vectors = [self.vectors[known[t]] if t in known else next(fresh) for t in texts]
        return self.subjects(np.stack(vectors))

    def subjects(
        self, queries: np.ndarray, k: int = NEIGHBOURS, min_similarity: float = MIN_SIMILARITY
    ) -> list[str | None]:
        """The subject of each query row: the plurality topic of its ``k`` nearest examples,
        or None where that is a general topic, where those examples lie further than
        ``min_similarity`` on average, or where there are no examples."""
        if not self.topics:
            return [None] * len(queries)
        k = min(k, len(self.topics))
        similarity = np.asarray(queries, dtype="float32") @ self.vectors.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        out: list[str | None] = []
        for row, candidates in zip(similarity, nearest, strict=True):
            # Nearest first, so that a tie goes to the topic of the closest example.
            ordered = candidates[np.argsort(-row[candidates], kind="stable")]
            if float(row[ordered].mean()) < min_similarity:
                out.append(None)
                continue
            topic = Counter(self.topics[i] for i in ordered).most_common(1)[0][0]
            out.append(None if topic in self.general else topic)
        return out


class SubjectReader:
    """Reads the subject of general-topic messages off the event loop, batching the
    messages of concurrent requests into one encoder pass.

    Until :meth:`install` is called (bot/server/ops, once the models are loaded, and after
    each reload) it reads nothing, and messages keep their intent's topic."""

    def __init__(self, *, max_batch: int = 32, max_wait_s: float = 0.002) -> None:
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._batcher: MicroBatcher[str, str | None] | None = None

    @property
    def ready(self) -> bool:
        return self._batcher is not None

    async def install(self, bank: TopicBank, embed: Embed, executor: Executor) -> None:
        """Read with ``bank`` from now on, embedding with ``embed`` (the answer index's
        encoder, the one the bank was built with) on ``executor``."""

        def read(texts: Sequence[str]) -> list[str | None]:
            return bank.read(texts, embed)

        batcher: MicroBatcher[str, str | None] = MicroBatcher(
            read, executor=executor, max_size=self._max_batch, max_wait_s=self._max_wait_s
        )
        batcher.start()
        old, self._batcher = self._batcher, batcher
        if old is not None:
            await old.stop()

    async def subject(self, text: str) -> str | None:
        """The subject ``text`` is about, or None: not ready, or no subject nearer than
        the general topics."""
        batcher = self._batcher
        if batcher is None or not text.strip():
            return None
        return await batcher.submit(text)

    async def close(self) -> None:
        batcher, self._batcher = self._batcher, None
        if batcher is not None:
            await batcher.stop()
