"""``frontdesk index build``: from a Q&A file to a saved index directory, in one call."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from retrieval.base.qa import (
    NEAR_DUPLICATE_THRESHOLD,
    merge_duplicates,
    merge_near_duplicates,
    read_qa,
)
from retrieval.index.faiss_index import RECALL_K, IndexSettings
from retrieval.index.search import AnswerIndex
from retrieval.models.encoder import TextEncoder, load_encoder

REPORT_LINES = 20
"""Merges listed in the summary; the CLI prints it, and thousands of lines would bury it."""


def build_index(
    data: Path,
    out: Path,
    *,
    encoder_path: str | Path | None = None,
    progress: bool = True,
    near_duplicate_threshold: float | None = NEAR_DUPLICATE_THRESHOLD,
    settings: IndexSettings | None = None,
    encoder: TextEncoder | None = None,
) -> dict[str, Any]:
    """Read, merge duplicates, embed, index and save; return a JSON-serialisable summary.

    ``near_duplicate_threshold=None`` keeps near-duplicates; ``encoder`` reuses an already
    loaded encoder instead of loading ``encoder_path`` (or the bundled one).
    """
    started = time.perf_counter()
    settings = settings or IndexSettings()
    pairs = read_qa(data)
    kept, exact_report = merge_duplicates(pairs)
    encoder = encoder or load_encoder(encoder_path)
    encode_started = time.perf_counter()
    vectors = encoder.encode(
        [p.question for p in kept], batch_size=settings.batch_size, progress=progress
    )
    encode_seconds = time.perf_counter() - encode_started
    near_report: list[str] = []
    if near_duplicate_threshold is not None:
        kept, vectors, near_report = merge_near_duplicates(
            kept, vectors, near_duplicate_threshold, exact_limit=settings.hnsw_threshold
        )
    provenance = {
        "data": str(data),
        "rows": len(pairs),
        "merged_exact": len(exact_report),
        "merged_near": len(near_report),
        "near_duplicate_threshold": near_duplicate_threshold,
    }
    index = AnswerIndex.build(
        kept, encoder, settings=settings, vectors=vectors, provenance=provenance
    )
    index.save(out)
    report = exact_report + near_report
    summary: dict[str, Any] = {
        "data": str(data),
        "out": str(out),
        "rows": len(pairs),
        "count": len(index),
        "merged": len(report),
        "merged_exact": len(exact_report),
        "merged_near": len(near_report),
        "merge_report": report[:REPORT_LINES],
        "index_type": index.index_type,
        "dimension": index.dimension,
        "encoder": encoder.name,
        "encode_seconds": round(encode_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if len(report) > REPORT_LINES:
        summary["merge_report_omitted"] = len(report) - REPORT_LINES
    info = index.build_info
    if "hnsw" in info:
        summary[f"recall_at_{RECALL_K}"] = info["hnsw"][f"recall_at_{RECALL_K}"]
        summary["ef_search"] = info["hnsw"]["ef_search"]
    if "ivf" in info:
        summary[f"recall_at_{RECALL_K}"] = info["ivf"][f"recall_at_{RECALL_K}"]
        summary["nlist"] = info["ivf"]["nlist"]
        summary["nprobe"] = info["ivf"]["nprobe"]
    return summary
