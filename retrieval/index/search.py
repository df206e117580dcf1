"""The answer index: historical questions embedded and searchable by meaning.

An index directory holds three files:

``index.faiss``
    A FAISS ``IndexIDMap2`` over inner-product vectors of the questions (normalised, so
    scores are cosine similarities): ``IndexFlatIP`` up to ``hnsw_threshold`` entries,
    ``IndexHNSWFlat`` up to ``ivf_threshold``, inverted lists above it
    (``IndexIVFScalarQuantizer``, 8-bit codes, its centroids searched through a small HNSW
    graph): an HNSW graph of a million vectors takes far too long to build on a small CPU,
    while the lists build in a few minutes, and 8-bit codes make each query read a quarter
    of the memory at a recall cost of a few thousandths.
``entries.jsonl``
    One ``{"key", "id", "question", "answer", "intent"}`` object per entry; ``key`` is the
    FAISS id of the entry's vector.
``manifest.json``
    ``{"format_version", "encoder": {"name", "fingerprint", "dimension"}, "dimension",
    "count", "index_type", "metric", "settings", "build", "data_fingerprint",
    "created_at", "updated_at", "revision"}``. ``revision`` and ``updated_at`` change with
    every add/remove, so a server can notice (via :func:`read_stamp`) that the directory
    was rewritten and reload it.

Only questions are embedded: customers' messages look like questions, not like answers,
so question-to-question similarity is what ranks the right answer first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.base.atomic import DirectoryReplaceError, replace_directory, write_file
from retrieval.base.qa import QAPair
from retrieval.index.intents import (
    HEAD_MAX_PER_INTENT,
    HEAD_MIN_EXAMPLES,
    IntentHead,
    IntentMatch,
    IntentMethod,
    IntentScore,
    best_hit_per_intent,
    subsample_per_label,
    vote_intent,
)
from retrieval.models.encoder import TextEncoder

FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
ENTRIES_FILE = "entries.jsonl"
MANIFEST_FILE = "manifest.json"
RECALL_K = 10
# The cosine similarity above which the served bot answers from the index; calibrated on the
# demo's held-out queries with `frontdesk eval retrieval`, and a setting (retrieval_threshold).
DEFAULT_THRESHOLD = 0.55
MAX_EF_SEARCH = 1024
INDEX_TYPES = ("flat", "hnsw", "ivf")
IVF_QUANTIZER_EF = 128
INTENT_NEIGHBOURS = 20
"""Nearest questions consulted by :meth:`AnswerIndex.search_intent` (votes, answers)."""


class AnswerIndexError(RuntimeError):
    """Base class for index problems a person has to act on."""


class IndexLoadError(AnswerIndexError):
    """An index directory that is missing, corrupt, or built with another encoder."""


class IndexSaveError(AnswerIndexError):
    """An index that cannot be written where it was asked to go."""


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    question: str
    answer: str
    intent: str | None
    score: float


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """How the FAISS index is laid out; stored in the manifest and reused on load."""

    hnsw_threshold: int = 50_000
    """Above this many entries, exact search costs more than ~10 ms a query on a small CPU,
    so build an HNSW graph instead."""
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    """Candidates kept while linking a new vector. Recall is bought back at search time
    (efSearch is tuned below); 200 cost 2.5x the build time for no measured gain at 100k."""
    hnsw_ef_search: int = 64
    """Starting efSearch; build raises it (x1.5 a step) until ``target_recall`` is met."""
    ivf_threshold: int = 200_000
    """Above this many entries, use inverted lists (IVF) instead of an HNSW graph."""
    ivf_nlist: int = 0
    """Number of inverted lists; 0 picks about 4·sqrt(n), a power of two."""
    ivf_nprobe: int = 8
    """Starting nprobe; build raises it (x1.5 a step) until ``target_recall`` is met."""
    ivf_train_per_list: int = 40
    """k-means training sample per list (FAISS warns below 39)."""
    ivf_train_iterations: int = 10
    ivf_codes: str = "sq8"
    """``sq8`` (8-bit scalar quantisation: a quarter of the memory, scores within ~1e-3)
    or ``flat`` (float32 vectors)."""
    target_recall: float = 0.95
    recall_sample: int = 1000
    batch_size: int = 64
    compact_ratio: float = 0.25
    """HNSW cannot delete vectors, so removed entries are masked; once masked ones exceed
    this share of the graph it is rebuilt from the live vectors."""
    seed: int = 0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> IndexSettings:
        # Ignore keys a newer version may have added, so old code still loads new indexes.
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def read_stamp(directory: str | Path) -> str | None:
    """The stored index's :attr:`AnswerIndex.stamp`, or None when there is none readable.

    Cheap (one small JSON file), for a server polling whether to reload.
    """
    try:
        manifest = json.loads((Path(directory) / MANIFEST_FILE).read_text(encoding="utf-8"))
        return _stamp(int(manifest["revision"]), str(manifest["updated_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _stamp(revision: int, updated_at: str) -> str:
    return f"{revision}@{updated_at}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class AnswerIndex:
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
    ) -> None:
        self._encoder = encoder
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
        # The intent head is fitted on first use and refitted once the contents change;
        # its own lock keeps two threads from fitting it at once.
        self._head: tuple[int, IntentHead | None] | None = None
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
    ) -> AnswerIndex:
        """Embed the questions and index them.

        ``vectors`` lets a caller that already encoded the questions (near-duplicate
        merging does) skip encoding them again; ``provenance`` is stored in the manifest's
        ``build`` section (data file, merge counts).
        """
        settings = settings or IndexSettings()
        _reject_duplicate_ids(pairs)
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
        now = _now()
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
            return _stamp(self._revision, self._updated_at)

    def get(self, pair_id: str) -> QAPair | None:
        with self._lock:
            key = self._keys.get(pair_id)
            return None if key is None else self._entries[key]

    def pairs(self) -> list[QAPair]:
        with self._lock:
            return [self._entries[k] for k in sorted(self._entries)]

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

    # -- intents ----------------------------------------------------------------------------

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
        if method not in ("auto", "head", "vote"):
            raise ValueError(f"method must be 'auto', 'head' or 'vote', not {method!r}")
        results = [IntentMatch(method=method) for _ in queries]
        wanted = [i for i, q in enumerate(queries) if q.strip()]
        if k <= 0 or not wanted:
            return results
        vectors = self._encoder.encode(
            [queries[i] for i in wanted], batch_size=self._settings.batch_size
        )
        head = self.intent_head() if method != "vote" else None
        if method == "auto" and head is not None and head.median_examples < HEAD_MIN_EXAMPLES:
            head = None
        found = self.search_vectors(vectors, max(k, neighbours))
        head_rankings = head.rank(vectors) if head is not None else None
        for row, i in enumerate(wanted):
            ranking: list[IntentScore]
            if head_rankings is not None:
                ranking, used = head_rankings[row], "head"
            else:
                ranking, used = vote_intent(found[row]), "vote"
            results[i] = IntentMatch(
                ranking=tuple(ranking),
                hits=best_hit_per_intent(ranking, found[row], k),
                method=used,
            )
        return results

    def intent_head(self) -> IntentHead | None:
        """The intent head for the current contents (None with fewer than two intents).

        Fitted on first use from the indexed vectors (a second or two for thousands of
        pairs; larger indexes are subsampled per intent) and again after any add/remove.
        """
        with self._head_lock:
            with self._lock:
                revision = self._revision
                if self._head is not None and self._head[0] == revision:
                    return self._head[1]
                labelled = [(key, p.intent) for key, p in self._entries.items() if p.intent]
                labels = sorted({intent for _, intent in labelled})
                position = {label: n for n, label in enumerate(labels)}
                targets = np.array([position[intent] for _, intent in labelled], dtype=np.int64)
                chosen = (
                    subsample_per_label(targets, HEAD_MAX_PER_INTENT, self._settings.seed)
                    if len(labels) >= 2
                    else np.zeros(0, dtype=np.int64)
                )
                keys = np.array([labelled[i][0] for i in chosen], dtype=np.int64)
                vectors = (
                    self._index.reconstruct_batch(keys)
                    if len(keys)
                    else np.zeros((0, self.dimension), dtype=np.float32)
                )
            # Fitted outside the index lock: searches go on meanwhile.
            head = IntentHead.fit(
                vectors, [labels[targets[i]] for i in chosen], seed=self._settings.seed
            )
            self._head = (revision, head)
            return head

    def _faiss_search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        with _threads_for(len(vectors)):
            if self._index_type == "flat":
                return self._index.search(vectors, k)
            selector = None
            if self._masked:
                if self._selector is None:
                    # Both objects are kept: the SWIG "not" selector holds only a raw pointer
                    # to the batch selector, which Python would otherwise free.
                    masked = faiss.IDSelectorBatch(np.fromiter(self._masked, dtype=np.int64))
                    self._selector = (masked, faiss.IDSelectorNot(masked))
                selector = self._selector[1]
            if self._index_type == "ivf":
                nprobe = int(self._build.get("ivf", {}).get("nprobe", 1))
                return self._index.search(vectors, k, params=_ivf_params(nprobe, selector))
            ef = max(int(self._build.get("hnsw", {}).get("ef_search", 0)), k)
            return self._index.search(vectors, k, params=_hnsw_params(ef, selector))

    def _hit(self, key: int, score: float) -> Hit:
        pair = self._entries[key]
        return Hit(pair.id, pair.question, pair.answer, pair.intent, score)

    # -- updating -------------------------------------------------------------------------

    def add(self, pairs: Sequence[QAPair]) -> None:
        """Insert pairs; a pair whose id is already indexed replaces the old entry, so a
        corrected answer can be pushed without removing it first."""
        _reject_duplicate_ids(pairs)
        if not pairs:
            return
        vectors = self._encoder.encode(
            [p.question for p in pairs], batch_size=self._settings.batch_size
        )
        with self._lock:
            self._drop([p.id for p in pairs if p.id in self._keys])
            keys = np.arange(self._next_key, self._next_key + len(pairs), dtype=np.int64)
            self._next_key += len(pairs)
            self._index.add_with_ids(vectors, keys)
            for key, pair in zip(keys, pairs, strict=True):
                self._entries[int(key)] = pair
                self._keys[pair.id] = int(key)
            self._touch()

    def remove(self, ids: Iterable[str]) -> int:
        """Remove entries by id; unknown ids are ignored. Returns how many were removed."""
        with self._lock:
            present = [i for i in dict.fromkeys(ids) if i in self._keys]
            if not present:
                return 0
            self._drop(present)
            self._touch()
            if (
                self._index_type != "flat"
                and len(self._masked) > self._settings.compact_ratio * self._index.ntotal
            ):
                self._compact_locked()
            return len(present)

    def compact(self) -> None:
        """Rebuild the FAISS index from the live entries' vectors.

        Drops masked (removed) vectors from an HNSW graph or IVF lists, and re-chooses
        flat, HNSW or IVF by the current size: an index that grew past ``hnsw_threshold``
        through :meth:`add` becomes HNSW here (with its recall measured again), not
        silently on its own. IVF lists are re-trained, so it also follows drifting data.
        """
        # The contents stay the same, so the revision does too.
        with self._lock:
            self._compact_locked()

    def _compact_locked(self) -> None:
        keys = np.array(sorted(self._entries), dtype=np.int64)
        vectors = (
            self._index.reconstruct_batch(keys)
            if len(keys)
            else np.zeros((0, self.dimension), dtype=np.float32)
        )
        index, index_type, info = build_faiss(vectors, keys, self._settings)
        if "provenance" in self._build:
            info["provenance"] = self._build["provenance"]
        info["compacted_at"] = _now()
        self._index, self._index_type, self._build = index, index_type, info
        self._masked = set()
        self._selector = None

    def _drop(self, ids: Sequence[str]) -> None:
        keys = [self._keys.pop(i) for i in ids]
        for key in keys:
            del self._entries[key]
        if self._index_type == "flat":
            self._index.remove_ids(np.array(keys, dtype=np.int64))
        else:
            # Neither an HNSW graph nor IVF lists behind an id map can delete in place:
            # the vectors are masked at search time until the next compaction.
            self._masked.update(keys)
            self._selector = None

    def _touch(self) -> None:
        self._revision += 1
        self._updated_at = _now()

    # -- saving and loading ---------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        with self._lock:
            return self._manifest_locked()

    def _manifest_locked(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "encoder": {
                "name": self._encoder.name,
                "fingerprint": self._encoder.fingerprint,
                "dimension": self._encoder.dimension,
            },
            "dimension": self._encoder.dimension,
            "count": len(self._entries),
            "index_type": self._index_type,
            "metric": "inner_product",
            "embedded_field": "question",
            "settings": dataclasses.asdict(self._settings),
            "build": self._build,
            "data_fingerprint": _data_fingerprint(self._entries.values()),
            "created_at": self._created_at,
            "updated_at": self._updated_at,
            "revision": self._revision,
        }

    def save(self, directory: str | Path) -> None:
        """Write the index directory, replacing an existing one atomically."""
        import faiss

        with self._lock:
            # Snapshot under the lock, write outside it: disk I/O must not stall searches,
            # and a concurrent add must not land between the three files.
            blob = faiss.serialize_index(self._index).tobytes()
            entries = [
                {"key": key, **dataclasses.asdict(self._entries[key])}
                for key in sorted(self._entries)
            ]
            manifest = json.loads(json.dumps(self._manifest_locked()))

        def write(staging: Path) -> None:
            write_file(staging / INDEX_FILE, blob)
            write_file(
                staging / ENTRIES_FILE,
                (json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in entries),
            )
            # The manifest goes last: a directory with a manifest is a complete one.
            write_file(
                staging / MANIFEST_FILE,
                json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n",
            )

        try:
            replace_directory(Path(directory), write, replaceable=_is_index_directory)
        except DirectoryReplaceError as exc:
            raise IndexSaveError(str(exc)) from exc

    @classmethod
    def load(cls, directory: str | Path, encoder: TextEncoder) -> AnswerIndex:
        """Load an index directory, refusing one built with a different encoder."""
        directory = Path(directory)
        manifest = _read_manifest(directory)
        _check_encoder(directory, manifest, encoder)
        index = _read_faiss(directory, encoder.dimension)
        entries = _read_entries(directory)
        stored = {int(k) for k in _faiss_ids(index)}
        index_type = manifest.get("index_type")
        if index_type not in INDEX_TYPES:
            raise _corrupt(directory, f"{MANIFEST_FILE} has unknown index_type {index_type!r}")
        missing = set(entries) - stored
        masked = stored - set(entries)
        if missing or (masked and index_type == "flat") or manifest.get("count") != len(entries):
            raise _corrupt(
                directory,
                f"{ENTRIES_FILE} ({len(entries)} entries), {INDEX_FILE} ({len(stored)} "
                f"vectors) and {MANIFEST_FILE} (count {manifest.get('count')}) disagree",
            )
        return cls(
            encoder=encoder,
            index=index,
            entries=entries,
            index_type=index_type,
            settings=IndexSettings.from_mapping(manifest.get("settings") or {}),
            build=dict(manifest.get("build") or {}),
            created_at=str(manifest.get("created_at", "")),
            updated_at=str(manifest.get("updated_at", "")),
            revision=int(manifest.get("revision", 0)),
            masked=masked,
        )


# -- helpers ------------------------------------------------------------------------------


def _rebuild_hint(directory: Path) -> str:
    return f"rebuild it with 'frontdesk index build --data PATH --out {directory}'"


def _corrupt(directory: Path, problem: str) -> IndexLoadError:
    return IndexLoadError(f"index {directory} is unusable: {problem}; {_rebuild_hint(directory)}")


def _is_index_directory(path: Path) -> bool:
    return (path / MANIFEST_FILE).is_file() or not any(path.iterdir())


def _read_manifest(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise IndexLoadError(
            f"index directory {directory} does not exist; build one with "
            f"'frontdesk index build --data PATH --out {directory}'"
        )
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise _corrupt(directory, f"{MANIFEST_FILE} is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _corrupt(directory, f"{MANIFEST_FILE} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise _corrupt(directory, f"{MANIFEST_FILE} is not a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexLoadError(
            f"index {directory} has format_version {version!r}, this Frontdesk reads "
            f"{FORMAT_VERSION}; {_rebuild_hint(directory)}"
        )
    return manifest


def _check_encoder(directory: Path, manifest: Mapping[str, Any], encoder: TextEncoder) -> None:
    built_with = manifest.get("encoder")
    if not isinstance(built_with, dict):
        raise _corrupt(directory, f"{MANIFEST_FILE} does not say which encoder built it")
    name = built_with.get("name")
    if built_with.get("dimension") != encoder.dimension:
        raise IndexLoadError(
            f"index {directory} holds {built_with.get('dimension')}-dimensional vectors from "
            f"encoder {name!r}, but the configured encoder {encoder.name!r} produces "
            f"{encoder.dimension}; configure the encoder it was built with, or "
            f"{_rebuild_hint(directory)}"
        )
    # The fingerprint decides, not the name: the same model in another directory is the
    # same encoder, while retrained weights in the same directory are not.
    if built_with.get("fingerprint") != encoder.fingerprint:
        raise IndexLoadError(
            f"index {directory} was built with encoder {name!r} "
            f"({built_with.get('fingerprint')}), not the configured {encoder.name!r} "
            f"({encoder.fingerprint}); scores would be meaningless. Configure the encoder it "
            f"was built with, or {_rebuild_hint(directory)}"
        )


def _read_faiss(directory: Path, dimension: int) -> Any:
    import faiss

    path = directory / INDEX_FILE
    if not path.is_file():
        raise _corrupt(directory, f"{INDEX_FILE} is missing")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        raise _corrupt(directory, f"{INDEX_FILE} cannot be read ({first_line})") from exc
    if not isinstance(index, faiss.IndexIDMap2):
        raise _corrupt(directory, f"{INDEX_FILE} is a {type(index).__name__}, not IndexIDMap2")
    if index.d != dimension:
        raise _corrupt(
            directory, f"{INDEX_FILE} has dimension {index.d}, the manifest says {dimension}"
        )
    return index


def _faiss_ids(index: Any) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(index.id_map)


def _read_entries(directory: Path) -> dict[int, QAPair]:
    path = directory / ENTRIES_FILE
    if not path.is_file():
        raise _corrupt(directory, f"{ENTRIES_FILE} is missing")
    entries: dict[int, QAPair] = {}
    seen_ids: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise _corrupt(directory, f"{ENTRIES_FILE} is not UTF-8 text") from exc
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            key = record["key"]
            pair = QAPair(
                id=record["id"],
                question=record["question"],
                answer=record["answer"],
                intent=record.get("intent"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise _corrupt(
                directory, f"{ENTRIES_FILE} line {number} is not a valid entry ({exc!r})"
            ) from exc
        if not isinstance(key, int) or key in entries or pair.id in seen_ids:
            raise _corrupt(directory, f"{ENTRIES_FILE} line {number} repeats a key or an id")
        entries[key] = pair
        seen_ids.add(pair.id)
    return entries


def _reject_duplicate_ids(pairs: Sequence[QAPair]) -> None:
    seen: set[str] = set()
    repeated: list[str] = []
    for pair in pairs:
        if pair.id in seen:
            repeated.append(pair.id)
        seen.add(pair.id)
    if repeated:
        shown = ", ".join(repr(i) for i in repeated[:5])
        raise ValueError(
            f"duplicate Q&A ids: {shown}; merge duplicates first (retrieval.base.qa.merge_duplicates)"
        )


def _check_vectors(vectors: np.ndarray, count: int, dimension: int) -> None:
    if vectors.shape != (count, dimension) or vectors.dtype != np.float32:
        raise ValueError(
            f"expected float32 vectors of shape ({count}, {dimension}), got "
            f"{vectors.dtype} {vectors.shape}"
        )


def _data_fingerprint(pairs: Iterable[QAPair]) -> str:
    digest = hashlib.sha256()
    for pair in sorted(pairs, key=lambda p: p.id):
        digest.update(json.dumps(dataclasses.astuple(pair), ensure_ascii=False).encode())
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()[:32]


def build_faiss(
    vectors: np.ndarray, keys: np.ndarray, settings: IndexSettings
) -> tuple[Any, str, dict[str, Any]]:
    """A filled FAISS index for ``vectors`` under ``keys``, its type and what was measured.

    The type follows the size (see :class:`IndexSettings`); for an approximate index the
    search breadth (efSearch or nprobe) is raised until recall@10 against exact search
    reaches ``target_recall`` on a sample of the vectors, and both are recorded.
    """
    import faiss

    dimension = vectors.shape[1]
    if len(vectors) <= settings.hnsw_threshold:
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        index.add_with_ids(vectors, keys)
        return index, "flat", {}
    if len(vectors) <= settings.ivf_threshold:
        graph = faiss.IndexHNSWFlat(dimension, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = settings.hnsw_ef_construction
        index = faiss.IndexIDMap2(graph)
        index.add_with_ids(vectors, keys)
        ef, recall, sample = _tune_breadth(
            index, vectors, keys, settings, max(settings.hnsw_ef_search, RECALL_K), _hnsw_params
        )
        graph.hnsw.efSearch = ef
        return (
            index,
            "hnsw",
            {
                "hnsw": {
                    "m": settings.hnsw_m,
                    "ef_construction": settings.hnsw_ef_construction,
                    "ef_search": ef,
                    f"recall_at_{RECALL_K}": round(recall, 4),
                    "recall_sample": sample,
                }
            },
        )
    nlist = min(settings.ivf_nlist or _auto_nlist(len(vectors)), len(vectors))
    quantizer = faiss.IndexFlatIP(dimension)
    module: Any = faiss  # the bundled stubs omit DirectMap and ScalarQuantizer
    lists: Any
    if settings.ivf_codes == "sq8":
        lists = faiss.IndexIVFScalarQuantizer(
            quantizer, dimension, nlist, module.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
    elif settings.ivf_codes == "flat":
        lists = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"ivf_codes must be 'sq8' or 'flat', not {settings.ivf_codes!r}")
    rng = np.random.default_rng(settings.seed)
    train_size = min(len(vectors), nlist * settings.ivf_train_per_list)
    train = vectors[np.sort(rng.choice(len(vectors), size=train_size, replace=False))]
    lists.cp.seed = settings.seed
    lists.cp.niter = settings.ivf_train_iterations
    lists.cp.max_points_per_centroid = settings.ivf_train_per_list
    lists.train(train)
    # An array direct map lets the id map reconstruct vectors (compaction, intent head).
    lists.set_direct_map_type(module.DirectMap.Array)
    index = faiss.IndexIDMap2(lists)
    # Assigned to lists by the exact (BLAS) quantizer: fastest in bulk ...
    index.add_with_ids(vectors, keys)
    # ... while a single query finds its nearest lists through a graph over the centroids
    # instead of reading all of them (at 4096 lists, as many bytes as the lists it probes).
    centroids: Any = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
    centroids.hnsw.efConstruction = 80
    centroids.add(quantizer.reconstruct_n(0, nlist))
    centroids.hnsw.efSearch = IVF_QUANTIZER_EF
    lists.quantizer = centroids
    lists.own_fields = True
    centroids.this.disown()  # freed with the lists, which now own it
    nprobe, recall, sample = _tune_breadth(
        index, vectors, keys, settings, settings.ivf_nprobe, _ivf_params, limit=nlist
    )
    lists.nprobe = nprobe
    centroids.hnsw.efSearch = max(IVF_QUANTIZER_EF, 2 * nprobe)
    return (
        index,
        "ivf",
        {
            "ivf": {
                "nlist": nlist,
                "nprobe": nprobe,
                "codes": settings.ivf_codes,
                "train_size": train_size,
                f"recall_at_{RECALL_K}": round(recall, 4),
                "recall_sample": sample,
            }
        },
    )


def _auto_nlist(count: int) -> int:
    """About 4·sqrt(n) lists, as a power of two between 64 and 65536."""
    target = 4 * np.sqrt(count)
    return int(min(65536, max(64, 2 ** round(np.log2(target)))))


@contextlib.contextmanager
def _threads_for(queries: int) -> Iterator[None]:
    """Run FAISS on at most one OpenMP thread per query.

    FAISS parallelises over queries, so a single query gains nothing from a second thread
    and pays for waking it: on a busy two-core machine that made one HNSW search 10-40x
    slower. OpenMP's thread count belongs to the calling thread, so this does not change
    what other threads (a build, a batch search) get.
    """
    import faiss

    current = faiss.omp_get_max_threads()
    if queries >= current:
        yield
        return
    faiss.omp_set_num_threads(max(1, queries))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(current)


def _hnsw_params(ef_search: int, selector: Any = None) -> Any:
    """Per-call HNSW parameters: setting ``efSearch`` on the shared graph instead would race
    with searches on other threads."""
    import faiss

    module: Any = faiss  # faiss's bundled stubs omit SearchParametersHNSW
    params = module.SearchParametersHNSW()
    params.efSearch = ef_search
    if selector is not None:
        params.sel = selector
    return params


def _ivf_params(nprobe: int, selector: Any = None) -> Any:
    """Per-call IVF parameters, for the same reason as :func:`_hnsw_params`."""
    import faiss

    module: Any = faiss
    params = module.SearchParametersIVF()
    params.nprobe = nprobe
    if selector is not None:
        params.sel = selector
    return params


def _tune_breadth(
    index: Any,
    vectors: np.ndarray,
    keys: np.ndarray,
    settings: IndexSettings,
    start: int,
    params: Callable[[int], Any],
    *,
    limit: int = MAX_EF_SEARCH,
) -> tuple[int, float, int]:
    """Smallest search breadth (efSearch or nprobe, growing from ``start``) whose recall@10
    against exact search reaches the target on a sample of the indexed vectors;
    (breadth, recall, sample size)."""
    import faiss

    rng = np.random.default_rng(settings.seed)
    sample = rng.choice(len(vectors), size=min(settings.recall_sample, len(vectors)), replace=False)
    queries = vectors[sample]
    # Each sampled vector is its own nearest neighbour in the index, which a real query is
    # not: it is left out of both lists, so the recall is the one new queries see.
    k = min(RECALL_K, len(vectors) - 1)
    if k < 1:
        return max(1, min(start, limit)), 1.0, len(sample)
    _, exact_rows = faiss.knn(queries, vectors, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
    exact = [_without(keys[row], keys[i], k) for row, i in zip(exact_rows, sample, strict=True)]
    breadth = max(1, min(start, limit))
    while True:
        _, approx_rows = index.search(queries, k + 1, params=params(breadth))
        approx = [_without(row, keys[i], k) for row, i in zip(approx_rows, sample, strict=True)]
        recall = float(
            np.mean([len(set(a) & set(e)) / k for a, e in zip(approx, exact, strict=True)])
        )
        if recall >= settings.target_recall or breadth >= limit:
            return breadth, recall, len(sample)
        # Steps of x1.5 rather than x2: the breadth is what every query pays for.
        breadth = min(max(breadth + 1, breadth * 3 // 2), limit)


def _without(row: np.ndarray, own: Any, k: int) -> list[int]:
    """The first ``k`` keys of ``row`` other than ``own`` (and FAISS's -1 padding)."""
    return [int(key) for key in row if key != own and key >= 0][:k]
