"""The answer index: historical questions embedded and searchable by meaning.

:class:`AnswerIndex` is what the bot queries, and what is added to and removed from while
it serves. Only questions are embedded: customers' messages look like questions, not like
answers, so question-to-question similarity is what ranks the right answer first.

Two ways in: :meth:`AnswerIndex.search` finds the nearest questions, whatever they are;
:meth:`AnswerIndex.answer` answers the way the index was built to (its ``answering``
method: plain nearest questions, or the nearest question of the intent the vote or the
intent head picks). The served bot and ``frontdesk eval retrieval`` call ``answer``, so
what is evaluated is what is served.

The rest of the package does the work that is not about entries: :mod:`.faiss_index`
picks, builds, tunes and searches the FAISS index, :mod:`.storage` reads and writes the
index directory, and :mod:`.intents` turns the nearest answers into an intent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.base.qa import QAPair
from retrieval.index.examples import IntentExamples
from retrieval.index.faiss_index import (
    IndexSettings,
    build_faiss,
    exclude_selector,
    search_faiss,
)
from retrieval.index.hits import Hit
from retrieval.index.intents import (
    INTENT_NEIGHBOURS,
    AnswerMethod,
    IntentHead,
    IntentMatch,
    IntentMethod,
    answer_hits,
    check_answer_method,
    check_method,
    head_sample,
    match_intents,
)
from retrieval.index.storage import (
    PLAIN_ANSWERING,
    build_manifest,
    make_stamp,
    read_index,
    snapshot,
    timestamp,
    write_index,
)
from retrieval.index.updates import IndexUpdates, reject_duplicate_ids
from retrieval.models.encoder import TextEncoder

# The cosine similarity above which the served bot answers from the index; calibrated on the
# demo's held-out queries with `frontdesk eval retrieval`, and a setting (retrieval_threshold).
DEFAULT_THRESHOLD = 0.55


class AnswerIndex(IndexUpdates):
    """Nearest-question search over Q&A pairs, safe to search from one thread while
    another adds or removes entries.

    A single lock guards the FAISS index and the entry tables. Encoding, the slow part,
    happens outside it, so a long :meth:`add` does not stall searches except for the
    moment its vectors are inserted.
    """

    def __init__(
        self,
        *,
        encoder: TextEncoder,
        index: Any,
        entries: dict[int, QAPair],
        index_type: str,
        settings: IndexSettings,
        build: dict[str, Any],
        created_at: str,
        updated_at: str,
        revision: int,
        masked: set[int] | None = None,
        answering: Mapping[str, Any] | None = None,
        head: IntentHead | None = None,
        examples: IntentExamples | None = None,
    ) -> None:
        self._encoder = encoder
        # The intent examples in this index's space (retrieval.index.examples); fixed at
        # build time, carried through every save.
        self.examples = examples
        self._index = index
        self._entries = entries
        self._keys = {pair.id: key for key, pair in entries.items()}
        self._masked: set[int] = masked or set()
        self._selector: tuple[Any, Any] | None = None  # built from _masked on first search
        self._next_key = max([*entries, *self._masked], default=-1) + 1
        self._index_type = index_type
        self._settings = settings
        self._build = build
        self._created_at = created_at
        self._updated_at = updated_at
        self._revision = revision
        self._lock = threading.Lock()
        self._answering = dict(answering or PLAIN_ANSWERING)
        check_answer_method(self._answering.get("method", ""))
        # The intent head is fitted on first use (or comes fitted from disk) and refitted
        # once the contents change; its own lock keeps two threads from fitting it at once.
        self._head: tuple[int, IntentHead | None] | None = (
            None if head is None else (revision, head)
        )
        self._head_lock = threading.Lock()

    # -- building -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        pairs: Sequence[QAPair],
        encoder: TextEncoder,
        *,
        progress: bool = False,
        settings: IndexSettings | None = None,
        vectors: np.ndarray | None = None,
        provenance: Mapping[str, Any] | None = None,
        answering: Mapping[str, Any] | None = None,
        examples: IntentExamples | None = None,
    ) -> AnswerIndex:
        """Embed the questions and index them.

        ``vectors`` lets a caller that already encoded the questions (near-duplicate
        merging does) skip encoding them again; ``provenance`` is stored in the manifest's
        ``build`` section (data file, merge counts); ``answering`` is how the index answers
        (``{"method": ..., ...}``, see :mod:`retrieval.index.methods`; default plain).
        """
        settings = settings or IndexSettings()
        reject_duplicate_ids(pairs)
        started = time.perf_counter()
        if vectors is None:
            vectors = encoder.encode(
                [p.question for p in pairs], batch_size=settings.batch_size, progress=progress
            )
        _check_vectors(vectors, len(pairs), encoder.dimension)
        keys = np.arange(len(pairs), dtype=np.int64)
        index, index_type, info = build_faiss(vectors, keys, settings)
        info["seconds"] = round(time.perf_counter() - started, 3)
        if provenance:
            info["provenance"] = dict(provenance)
        now = timestamp()
        return cls(
            encoder=encoder,
            index=index,
            entries=dict(enumerate(pairs)),
            index_type=index_type,
            settings=settings,
            build=info,
            created_at=now,
            updated_at=now,
            revision=0,
            answering=answering,
            examples=examples,
        )

    # -- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def dimension(self) -> int:
        return self._encoder.dimension

    @property
    def index_type(self) -> str:
        return self._index_type

    @property
    def settings(self) -> IndexSettings:
        return self._settings

    @property
    def build_info(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._build))

    @property
    def method(self) -> AnswerMethod:
        """How :meth:`answer` answers: ``plain``, ``vote`` or ``head``."""
        method: AnswerMethod = self._answering["method"]
        return method

    @property
    def answering(self) -> dict[str, Any]:
        """The manifest's ``answering`` section: the method and how it was chosen."""
        return json.loads(json.dumps(self._answering))

    @property
    def created_at(self) -> str:
        return self._created_at

    @property
    def updated_at(self) -> str:
        with self._lock:
            return self._updated_at

    @property
    def revision(self) -> int:
        with self._lock:
            return self._revision

    @property
    def stamp(self) -> str:
        """Changes whenever the contents change; compare with :func:`read_stamp`."""
        with self._lock:
            return make_stamp(self._revision, self._updated_at)

    def get(self, pair_id: str) -> QAPair | None:
        with self._lock:
            key = self._keys.get(pair_id)
            return None if key is None else self._entries[key]

    def pairs(self) -> list[QAPair]:
        with self._lock:
            return [self._entries[k] for k in sorted(self._entries)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``texts`` as the index sees them (float32, L2-normalised rows), from the encoder it
        searches with: callers that compare texts with each other, as the index compares
        questions, share this encoder instead of loading a second copy.

        Blocking, like :meth:`search`; a batch longer than ``settings.batch_size`` holds the
        encoder, and so every search, until it is done.
        """
        return self._encoder.encode(texts, batch_size=self._settings.batch_size)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 5) -> list[list[Hit]]:
        """The ``k`` best hits for each query, best first; all queries encoded in one batch.

        A blank query gets no hits rather than whatever happens to be nearest to nothing.
        """
        if isinstance(queries, str):
            raise TypeError("search_many() takes a sequence of queries, not a single string")
        results: list[list[Hit]] = [[] for _ in queries]
        wanted = [i for i, q in enumerate(queries) if q.strip()]
        if k <= 0 or not wanted:
            return results
        vectors = self._encoder.encode(
            [queries[i] for i in wanted], batch_size=self._settings.batch_size
        )
        for i, hits in zip(wanted, self.search_vectors(vectors, k), strict=True):
            results[i] = hits
        return results

    def search_vectors(self, vectors: np.ndarray, k: int = 5) -> list[list[Hit]]:
        """:meth:`search_many` for queries already encoded (float32, L2-normalised rows).

        For callers that encode once and search several ways, and for benchmarks that
        measure the index without the encoder.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ValueError(
                f"expected query vectors of shape (n, {self.dimension}), got {vectors.shape}"
            )
        results: list[list[Hit]] = [[] for _ in range(len(vectors))]
        if k <= 0 or not len(vectors):
            return results
        with self._lock:
            if not self._entries:
                return results
            scores, keys = self._faiss_search(vectors, min(k, len(self._entries)))
            for row in range(len(vectors)):
                results[row] = [
                    self._hit(int(key), float(score))
                    for score, key in zip(scores[row], keys[row], strict=True)
                    if key >= 0 and int(key) in self._entries
                ]
        return results

    # -- answering ------------------------------------------------------------------------

    def answer(self, query: str, k: int = 5, *, method: AnswerMethod | None = None) -> list[Hit]:
        return self.answer_many([query], k, method=method)[0]

    def answer_many(
        self, queries: Sequence[str], k: int = 5, *, method: AnswerMethod | None = None
    ) -> list[list[Hit]]:
        """The ``k`` answers for each query, best first, the way the index answers
        (:attr:`method`, unless ``method`` says otherwise); all queries encoded in one batch.

        What the served bot shows and ``frontdesk eval retrieval`` scores. Scores on the hits
        stay the cosine similarity of the query to the answer's own question, whatever the
        method, so the serving threshold means the same for all of them; with ``vote`` and
        ``head`` the first answer is the nearest question of the winning intent, which need
        not be the nearest question overall. A blank query gets no answers.
        """
        if isinstance(queries, str):
            raise TypeError("answer_many() takes a sequence of queries, not a single string")
        results: list[list[Hit]] = [[] for _ in queries]
        wanted = [i for i, q in enumerate(queries) if q.strip()]
        if k <= 0 or not wanted:
            return results
        vectors = self._encoder.encode(
            [queries[i] for i in wanted], batch_size=self._settings.batch_size
        )
        for i, hits in zip(wanted, self.answer_vectors(vectors, k, method=method), strict=True):
            results[i] = hits
        return results

    def answer_vectors(
        self, vectors: np.ndarray, k: int = 5, *, method: AnswerMethod | None = None
    ) -> list[list[Hit]]:
        """:meth:`answer_many` for queries already encoded (float32, L2-normalised rows)."""
        method = method or self.method
        check_answer_method(method)
        if method == "plain" or k <= 0:
            return self.search_vectors(vectors, k)
        head = self.intent_head() if method == "head" else None
        found = self.search_vectors(vectors, max(k, INTENT_NEIGHBOURS))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return answer_hits(vectors, found, k, method=method, head=head)

    def _faiss_search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        selector = None
        if self._masked and self._index_type != "flat":
            if self._selector is None:
                self._selector = exclude_selector(self._masked)
            selector = self._selector[1]
        return search_faiss(self._index, self._index_type, self._build, vectors, k, selector)

    def _hit(self, key: int, score: float) -> Hit:
        pair = self._entries[key]
        return Hit(pair.id, pair.question, pair.answer, pair.intent, score)

    # -- intents --------------------------------------------------------------------------

    def search_intent(
        self,
        query: str,
        k: int = 5,
        *,
        method: IntentMethod = "auto",
        neighbours: int = INTENT_NEIGHBOURS,
    ) -> IntentMatch:
        """The intents ``query`` most likely belongs to, and the nearest answer of each.

        ``method="head"`` ranks intents with the :class:`IntentHead` fitted on the indexed
        questions; ``"vote"`` lets the ``neighbours`` nearest questions vote; ``"auto"``
        (the default) takes the head when the index holds enough examples per intent for
        it (see :data:`retrieval.index.intents.HEAD_MIN_EXAMPLES`) and the vote otherwise. The
        head falls back to the vote with fewer than two intents. Either way the answers
        come from those neighbours: ``hits[0]`` is the nearest question of the winning
        intent when one is among them. Scores on the hits stay cosine similarities, so the
        serving threshold applies to them unchanged.
        """
        return self.search_intent_many([query], k, method=method, neighbours=neighbours)[0]

    def search_intent_many(
        self,
        queries: Sequence[str],
        k: int = 5,
        *,
        method: IntentMethod = "auto",
        neighbours: int = INTENT_NEIGHBOURS,
    ) -> list[IntentMatch]:
        if isinstance(queries, str):
            raise TypeError("search_intent_many() takes a sequence of queries, not a string")
        check_method(method)
        results = [IntentMatch(method=method) for _ in queries]
        wanted = [i for i, q in enumerate(queries) if q.strip()]
        if k <= 0 or not wanted:
            return results
        vectors = self._encoder.encode(
            [queries[i] for i in wanted], batch_size=self._settings.batch_size
        )
        head = self.intent_head() if method != "vote" else None
        found = self.search_vectors(vectors, max(k, neighbours))
        matches = match_intents(vectors, found, k, method=method, head=head)
        for i, match in zip(wanted, matches, strict=True):
            results[i] = match
        return results

    def intent_head(self) -> IntentHead | None:
        """The intent head for the current contents (None with fewer than two intents).

        Fitted on first use from the indexed vectors (larger indexes are subsampled per
        intent) and again after any add/remove.
        """
        with self._head_lock:
            with self._lock:
                revision = self._revision
                if self._head is not None and self._head[0] == revision:
                    return self._head[1]
                keys, intents = head_sample(
                    {key: p.intent for key, p in self._entries.items() if p.intent},
                    self._settings.seed,
                )
                vectors = self._reconstruct(keys)
            # Fitted outside the index lock: searches go on meanwhile.
            head = IntentHead.fit(vectors, intents, seed=self._settings.seed)
            self._head = (revision, head)
            return head

    def _reconstruct(self, keys: np.ndarray) -> np.ndarray:
        if not len(keys):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._index.reconstruct_batch(keys)

    # -- saving and loading ---------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        with self._lock:
            return self._manifest_locked()

    def _manifest_locked(self) -> dict[str, Any]:
        return build_manifest(
            answering=self._answering,
            encoder=self._encoder,
            entries=self._entries,
            index_type=self._index_type,
            settings=self._settings,
            build=self._build,
            created_at=self._created_at,
            updated_at=self._updated_at,
            revision=self._revision,
        )

    def save(self, directory: str | Path) -> None:
        """Write the index directory, replacing an existing one atomically.

        The intent head goes with it when one is fitted for the current contents (it is
        not fitted here: a save after an add should not wait for it).
        """
        with self._lock:
            # Snapshot under the lock, write outside it: disk I/O must not stall searches,
            # and a concurrent add must not land between the files.
            head = self._head
            current = head[1] if head is not None and head[0] == self._revision else None
            contents = snapshot(
                self._index, self._entries, self._manifest_locked(), current, self.examples
            )
        write_index(directory, contents)

    @classmethod
    def load(cls, directory: str | Path, encoder: TextEncoder) -> AnswerIndex:
        """Load an index directory, refusing one built with a different encoder.

        An index that answers ``head`` gets its head here, from ``head.npz`` or fitted
        afresh, so the first question served does not wait for it.
        """
        stored = read_index(directory, encoder)
        index = cls(
            encoder=encoder,
            index=stored.index,
            entries=stored.entries,
            index_type=stored.index_type,
            settings=stored.settings,
            build=stored.build,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
            revision=stored.revision,
            masked=stored.masked,
            answering=stored.answering,
            head=stored.head,
            examples=stored.examples,
        )
        if index.method == "head":
            index.intent_head()
        return index


def _check_vectors(vectors: np.ndarray, count: int, dimension: int) -> None:
    if vectors.shape != (count, dimension) or vectors.dtype != np.float32:
        raise ValueError(
            f"expected float32 vectors of shape ({count}, {dimension}), got "
            f"{vectors.dtype} {vectors.shape}"
        )
