"""How the answer index scales: synthetic 384-d vectors at 100k and 1M entries.

Measured through the code a user runs, with the user's defaults: a Q&A file of ``size``
rows is built by :func:`retrieval.index.build_index` (the body of ``frontdesk index
build``: reading the file, merging duplicates and near-duplicates, choosing the answer
method, building, tuning and saving the FAISS index with the default
:class:`IndexSettings`), loaded again with ``AnswerIndex.load`` (what the server does),
and asked single questions through ``AnswerIndex.answer_many`` (what the served bot's
retriever calls). Only the neural encoder is replaced, by a table from each synthetic
question to its vector: encoding a million questions on a small CPU takes hours and says
nothing about the index (``bench/retrieval_bitext.py`` measures the encoder's share).

For each size: build seconds (the whole build, and the FAISS part of it), load seconds,
memory (the FAISS structures' bytes, and the process's resident-set growth over the
build), single-query latency p50/p99 (wall clock, and CPU time of the asking thread) and
recall@10 of the answers against exact search over the indexed vectors, on held-out
queries.

The vectors are a seeded Gaussian mixture, not uniform noise: every cluster has a centre on
the sphere, a low-dimensional subspace of its own along which its members spread, and a
little isotropic noise, roughly how sentence embeddings sit (topics, and within a topic a
few directions of variation). Uniform random vectors in 384 dimensions have no near
neighbours at all, which makes any approximate index look worse than it will be on text,
and a mixture of tight isotropic blobs makes it look better.

Prints one JSON line. Usage:
    python bench/retrieval_scale.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from retrieval.index import RECALL_K, AnswerIndex, build_index  # noqa: E402

DIMENSION = 384
SUBSPACE = 24
SPREAD = 0.8
"""Norm of a member's offset from its centre along the cluster subspace (centre norm 1)."""
NOISE = 0.3
"""Norm of the isotropic noise added to every vector."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class TableEncoder:
    """The encoder the index is built and asked with: question ``q<i>`` is indexed vector
    ``i`` and question ``query<j>`` held-out query ``j``, looked up instead of computed."""

    name = "synthetic"
    dimension = DIMENSION

    def __init__(self, indexed: np.ndarray, queries: np.ndarray, fingerprint: str) -> None:
        self._tables = {"q": indexed, "query": queries}
        self.fingerprint = fingerprint

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for table in ("q", "query"):
            rows = [(n, int(t[len(table) :])) for n, t in enumerate(texts) if _table(t) == table]
            if rows:
                at, numbers = zip(*rows, strict=True)
                out[list(at)] = self._tables[table][list(numbers)]
        return out


def _table(text: str) -> str:
    return "query" if text.startswith("query") else "q"


class Mixture:
    def __init__(self, clusters: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.centres = _unit(rng.standard_normal((clusters, DIMENSION)).astype(np.float32))
        bases = rng.standard_normal((clusters, DIMENSION, SUBSPACE)).astype(np.float32)
        self.bases = np.linalg.qr(bases)[0]  # orthonormal columns per cluster
        # Unequal cluster sizes, as topics are: a few large ones, many small ones.
        weights = rng.pareto(1.5, clusters) + 1
        self.weights = weights / weights.sum()

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, DIMENSION), dtype=np.float32)
        labels = rng.choice(len(self.centres), size=n, p=self.weights)
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(len(self.centres) + 1))
        for c in range(len(self.centres)):
            rows = order[bounds[c] : bounds[c + 1]]
            if not len(rows):
                continue
            z = rng.standard_normal((len(rows), SUBSPACE)).astype(np.float32)
            z *= SPREAD / np.sqrt(SUBSPACE)
            noise = rng.standard_normal((len(rows), DIMENSION)).astype(np.float32)
            noise *= NOISE / np.sqrt(DIMENSION)
            out[rows] = self.centres[c] + z @ self.bases[c].T + noise
        return _unit(out)


def _unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def rss_bytes() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def faiss_bytes(index: Any) -> int:
    """Bytes of the FAISS structures: vectors, HNSW links, id maps (without copying them)."""
    import faiss

    inner: Any = faiss.downcast_index(index.index)  # the stubs know few of these fields
    total = index.ntotal * 8 * 2  # IndexIDMap2: id_map vector and (roughly) its reverse map
    if isinstance(inner, faiss.IndexHNSWFlat):
        storage: Any = faiss.downcast_index(inner.storage)
        graph: Any = inner.hnsw
        total += storage.codes.size()
        total += graph.neighbors.size() * 4 + graph.offsets.size() * 8 + graph.levels.size() * 4
    elif isinstance(inner, faiss.IndexIVF):
        # Codes and their ids in the lists, the centroids (and their graph), the direct map.
        lists: Any = inner.invlists
        total += lists.compute_ntotal() * (inner.code_size + 8)
        total += inner.nlist * inner.d * 4 * 2 + inner.ntotal * 8
    else:
        total += inner.codes.size()
    return int(total)


def percentile_ms(seconds: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(seconds) * 1000, q)), 3)


def write_qa(path: Path, size: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "answer"])
        writer.writerows([str(i), f"q{i}", f"a{i}"] for i in range(size))
    return path


def run_size(
    mixture: Mixture,
    size: int,
    *,
    recall_queries: int,
    latency_queries: int,
    seed: int,
    workdir: Path,
) -> dict[str, Any]:
    import faiss

    log(f"[{size}] generating vectors and the Q&A file")
    vectors = mixture.sample(size, seed=seed + 1)
    queries = mixture.sample(max(recall_queries, latency_queries), seed=seed + 2)
    encoder = TableEncoder(vectors, queries, f"synthetic:{seed}:{len(mixture.centres)}")
    qa = write_qa(workdir / f"qa_{size}.csv", size)
    out = workdir / f"index_{size}"
    before = rss_bytes()
    log(f"[{size}] building the index (build_index, default settings)")
    started = time.perf_counter()
    summary = build_index(qa, out, encoder=encoder, progress=False)
    build_seconds = time.perf_counter() - started
    after = rss_bytes()
    log(f"[{size}] loading it")
    started = time.perf_counter()
    index = AnswerIndex.load(out, encoder)
    load_seconds = time.perf_counter() - started
    info = index.build_info
    result: dict[str, Any] = {
        "n": size,
        "count": summary["count"],
        "merged": summary["merged"],
        "index_type": index.index_type,
        "method": index.method,
        "build_seconds": round(build_seconds, 1),
        "faiss_build_seconds": round(float(info["seconds"]), 1),
        "load_seconds": round(load_seconds, 1),
        "index_bytes": faiss_bytes(index._index),
        "vector_bytes": int(vectors.nbytes),
    }
    if before is not None and after is not None:
        result["rss_delta_bytes"] = after - before
    for kind in ("hnsw", "ivf"):
        if kind in info:
            result[kind] = {k: v for k, v in info[kind].items() if k != "recall_sample"}

    log(f"[{size}] recall@{RECALL_K} on {recall_queries} held-out queries")
    kept = np.array(sorted(int(p.id) for p in index.pairs()), dtype=np.int64)
    _, exact = faiss.knn(
        queries[:recall_queries], vectors[kept], RECALL_K, metric=faiss.METRIC_INNER_PRODUCT
    )
    asked = [f"query{j}" for j in range(recall_queries)]
    found = index.answer_many(asked, RECALL_K)
    overlap = [
        len({int(h.id) for h in hits} & set(kept[truth].tolist())) / RECALL_K
        for hits, truth in zip(found, exact, strict=True)
    ]
    result[f"recall_at_{RECALL_K}"] = round(float(np.mean(overlap)), 4)

    log(f"[{size}] single-query latency over {latency_queries} queries")
    for j in range(20):  # warm the caches
        index.answer_many([f"query{j}"], RECALL_K)
    timings, cpu = [], []
    for j in range(latency_queries):
        one = [f"query{j}"]
        t, c = time.perf_counter(), time.thread_time()
        index.answer_many(one, RECALL_K)
        cpu.append(time.thread_time() - c)
        timings.append(time.perf_counter() - t)
    result["latency_ms"] = {"p50": percentile_ms(timings, 50), "p99": percentile_ms(timings, 99)}
    # CPU time of the searching thread: what the search costs without the waits for a core
    # that a machine shared with other work adds to the wall-clock figures.
    result["cpu_ms"] = {"p50": percentile_ms(cpu, 50), "p99": percentile_ms(cpu, 99)}
    result["load_average"] = round(os.getloadavg()[0], 2)
    log(f"[{size}] {json.dumps(result)}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--recall-queries", type=int, default=200)
    parser.add_argument("--latency-queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    mixture = Mixture(args.clusters, args.seed)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
            results.append(
                run_size(
                    mixture,
                    size,
                    recall_queries=args.recall_queries,
                    latency_queries=args.latency_queries,
                    seed=args.seed,
                    workdir=Path(tmp),
                )
            )
    print(
        json.dumps(
            {
                "bench": "retrieval_scale",
                "dimension": DIMENSION,
                "data": (
                    f"Gaussian mixture, {args.clusters} clusters, {SUBSPACE}-d subspace each, "
                    f"seed {args.seed}"
                ),
                "cores": os.cpu_count(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
