"""The FAISS index behind an answer index: its layout, building, tuning and searching it.

Everything FAISS-specific lives here; :class:`retrieval.index.search.AnswerIndex` keeps the
entries, the lock and the masked ids, and hands FAISS only vectors and integer keys.

Every index is a FAISS ``IndexIDMap2`` over inner-product vectors of the questions
(normalised, so scores are cosine similarities), so entries keep stable ids however the
index underneath is laid out. The layout follows the size, because what is cheap at one
size is unaffordable at another:

``flat`` (``IndexFlatIP``), up to ``hnsw_threshold`` entries
    Exact search: nothing to tune and nothing to get wrong while it is fast enough.
``hnsw`` (``IndexHNSWFlat``), up to ``ivf_threshold``
    A graph that reads a small part of the vectors per query.
``ivf`` (``IndexIVFScalarQuantizer`` or ``IndexIVFFlat``), above it
    Inverted lists, their centroids searched through a small HNSW graph. An HNSW graph of a
    very large collection takes too long to build on a small CPU, while lists train and
    fill quickly; 8-bit codes make each query read a quarter of the memory.

For the approximate layouts the search breadth (efSearch or nprobe) is raised until
recall@:data:`RECALL_K` against exact search reaches the target on a sample of the indexed
vectors, and what was measured is returned for the manifest, so an index says how good
its own answers are.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

RECALL_K = 10
"""Recall is measured over this many nearest neighbours."""
INDEX_TYPES = ("flat", "hnsw", "ivf")
MAX_EF_SEARCH = 1024
"""Upper bound on efSearch while tuning, so a target that cannot be met still ends."""
IVF_QUANTIZER_EF = 128
"""efSearch of the graph over the IVF centroids; it must find the nearest lists reliably,
or probing more of them does not help."""


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """How the FAISS index is laid out; stored in the manifest and reused on load."""

    hnsw_threshold: int = 50_000
    """Above this many entries exact search costs too much per query on a small CPU, so
    build an HNSW graph instead."""
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    """Candidates kept while linking a new vector. Kept modest: recall is bought back at
    search time (efSearch is tuned at build), while a larger value mostly lengthens the
    build."""
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
    """``sq8`` (8-bit scalar quantisation: a quarter of the memory, scores a little less
    precise) or ``flat`` (float32 vectors)."""
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


def build_faiss(
    vectors: np.ndarray, keys: np.ndarray, settings: IndexSettings
) -> tuple[Any, str, dict[str, Any]]:
    """A filled FAISS index for ``vectors`` under ``keys``, its type and what was measured.

    The type follows the size (see the module docstring); for an approximate index the
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
        return _build_hnsw(vectors, keys, settings)
    return _build_ivf(vectors, keys, settings)


def _build_hnsw(
    vectors: np.ndarray, keys: np.ndarray, settings: IndexSettings
) -> tuple[Any, str, dict[str, Any]]:
    import faiss

    graph = faiss.IndexHNSWFlat(vectors.shape[1], settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = settings.hnsw_ef_construction
    index = faiss.IndexIDMap2(graph)
    index.add_with_ids(vectors, keys)
    ef, recall, sample = tune_breadth(
        index, vectors, keys, settings, max(settings.hnsw_ef_search, RECALL_K), hnsw_params
    )
    graph.hnsw.efSearch = ef
    info = {
        "m": settings.hnsw_m,
        "ef_construction": settings.hnsw_ef_construction,
        "ef_search": ef,
        f"recall_at_{RECALL_K}": round(recall, 4),
        "recall_sample": sample,
    }
    return index, "hnsw", {"hnsw": info}


def _build_ivf(
    vectors: np.ndarray, keys: np.ndarray, settings: IndexSettings
) -> tuple[Any, str, dict[str, Any]]:
    import faiss

    dimension = vectors.shape[1]
    nlist = min(settings.ivf_nlist or auto_nlist(len(vectors)), len(vectors))
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
    # instead of reading all of them (with many lists, that costs as much as the probing).
    centroids: Any = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
    centroids.hnsw.efConstruction = 80
    centroids.add(quantizer.reconstruct_n(0, nlist))
    centroids.hnsw.efSearch = IVF_QUANTIZER_EF
    lists.quantizer = centroids
    lists.own_fields = True
    centroids.this.disown()  # freed with the lists, which now own it
    nprobe, recall, sample = tune_breadth(
        index, vectors, keys, settings, settings.ivf_nprobe, ivf_params, limit=nlist
    )
    lists.nprobe = nprobe
    centroids.hnsw.efSearch = max(IVF_QUANTIZER_EF, 2 * nprobe)
    info = {
        "nlist": nlist,
        "nprobe": nprobe,
        "codes": settings.ivf_codes,
        "train_size": train_size,
        f"recall_at_{RECALL_K}": round(recall, 4),
        "recall_sample": sample,
    }
    return index, "ivf", {"ivf": info}


def auto_nlist(count: int) -> int:
    """About 4·sqrt(n) lists, as a power of two between 64 and 65536."""
    target = 4 * np.sqrt(count)
    return int(min(65536, max(64, 2 ** round(np.log2(target)))))


def hnsw_params(ef_search: int, selector: Any = None) -> Any:
    """Per-call HNSW parameters: setting ``efSearch`` on the shared graph instead would race
    with searches on other threads."""
    import faiss

    module: Any = faiss  # faiss's bundled stubs omit SearchParametersHNSW
    params = module.SearchParametersHNSW()
    params.efSearch = ef_search
    if selector is not None:
        params.sel = selector
    return params


def ivf_params(nprobe: int, selector: Any = None) -> Any:
    """Per-call IVF parameters, for the same reason as :func:`hnsw_params`."""
    import faiss

    module: Any = faiss
    params = module.SearchParametersIVF()
    params.nprobe = nprobe
    if selector is not None:
        params.sel = selector
    return params


def search_faiss(
    index: Any,
    index_type: str,
    build: Mapping[str, Any],
    vectors: np.ndarray,
    k: int,
    selector: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, keys) of the ``k`` nearest vectors for each row of ``vectors``.

    An approximate index is searched with the breadth tuned at build (recorded in
    ``build``), skipping what ``selector`` (see :func:`exclude_selector`) excludes.
    """
    with _threads_for(len(vectors)):
        if index_type == "flat":
            return index.search(vectors, k)
        if index_type == "ivf":
            nprobe = int(build.get("ivf", {}).get("nprobe", 1))
            return index.search(vectors, k, params=ivf_params(nprobe, selector))
        ef = max(int(build.get("hnsw", {}).get("ef_search", 0)), k)
        return index.search(vectors, k, params=hnsw_params(ef, selector))


def exclude_selector(keys: Iterable[int]) -> tuple[Any, Any]:
    """A FAISS selector of every id but ``keys``, for :func:`search_faiss`, as the pair
    (batch selector, the selector to pass).

    Keep both: the SWIG "not" selector holds only a raw pointer to the batch selector,
    which Python would otherwise free.
    """
    import faiss

    excluded = faiss.IDSelectorBatch(np.fromiter(keys, dtype=np.int64))
    return excluded, faiss.IDSelectorNot(excluded)


@contextlib.contextmanager
def _threads_for(queries: int) -> Iterator[None]:
    """Run FAISS on at most one OpenMP thread per query.

    FAISS parallelises over queries, so a single query gains nothing from a second thread
    and pays for waking it, which on a busy machine can cost far more than the search
    itself. OpenMP's thread count belongs to the calling thread, so this does not change
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


def tune_breadth(
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
