"""Changing an answer index in place: adding and replacing pairs, removing them, and
compacting the FAISS index, without a rebuild and without stalling searches for long.

:class:`IndexUpdates` is the half of :class:`retrieval.index.search.AnswerIndex` that
writes; the state it changes is declared here and set up by ``AnswerIndex.__init__``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from retrieval.base.qa import QAPair
from retrieval.index.faiss_index import IndexSettings, build_faiss
from retrieval.index.storage import timestamp
from retrieval.models.encoder import TextEncoder


class IndexUpdates:
    _encoder: TextEncoder
    _index: Any
    _entries: dict[int, QAPair]
    _keys: dict[str, int]
    _masked: set[int]
    _selector: tuple[Any, Any] | None
    _next_key: int
    _index_type: str
    _settings: IndexSettings
    _build: dict[str, Any]
    _updated_at: str
    _revision: int
    _lock: threading.Lock

    def _reconstruct(self, keys: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def add(self, pairs: Sequence[QAPair]) -> None:
        """Insert pairs; a pair whose id is already indexed replaces the old entry, so a
        corrected answer can be pushed without removing it first."""
        reject_duplicate_ids(pairs)
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
        index, index_type, info = build_faiss(self._reconstruct(keys), keys, self._settings)
        if "provenance" in self._build:
            info["provenance"] = self._build["provenance"]
        info["compacted_at"] = timestamp()
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
        self._updated_at = timestamp()


def reject_duplicate_ids(pairs: Sequence[QAPair]) -> None:
    seen: set[str] = set()
    repeated: list[str] = []
    for pair in pairs:
        if pair.id in seen:
            repeated.append(pair.id)
        seen.add(pair.id)
    if repeated:
        shown = ", ".join(repr(i) for i in repeated[:5])
        raise ValueError(
            f"duplicate Q&A ids: {shown}; "
            "merge duplicates first (retrieval.base.qa.merge_duplicates)"
        )
