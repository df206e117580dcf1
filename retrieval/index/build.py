"""``frontdesk index build``: from a Q&A file to a saved index directory, in one call.

The build also settles how the index answers (:mod:`retrieval.index.methods`): compared on
held-out questions of the file itself, or as asked, and recorded in the manifest, which the
served bot and ``frontdesk eval retrieval`` follow.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from retrieval.base.datasets import load_examples
from retrieval.base.qa import (
    NEAR_DUPLICATE_THRESHOLD,
    merge_duplicates,
    merge_near_duplicates,
    read_qa,
)
from retrieval.index.examples import IntentExamples
from retrieval.index.faiss_index import RECALL_K, IndexSettings
from retrieval.index.methods import check_requested, choose_method
from retrieval.index.search import AnswerIndex
from retrieval.models.encoder import TextEncoder, load_encoder

REPORT_LINES = 20
"""Merges listed in the summary; the CLI prints it, and thousands of lines would bury it."""


def build_threads() -> int:
    """torch threads for encoding the questions: one core is left to everything else.

    A build often runs beside a server, or on a small machine that is busy anyway, and
    torch's threads spin while they wait for a core: on two busy cores one thread encodes
    faster than two.
    """
    return max(1, (os.cpu_count() or 1) - 1)


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run torch on ``count`` intra-op threads meanwhile (None: leave the setting alone)."""
    if count is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_index(
    data: Path,
    out: Path,
    *,
    encoder_path: str | Path | None = None,
    progress: bool = True,
    near_duplicate_threshold: float | None = NEAR_DUPLICATE_THRESHOLD,
    settings: IndexSettings | None = None,
    encoder: TextEncoder | None = None,
    method: str = "auto",
    examples: Path | None = None,
) -> dict[str, Any]:
    """Read, merge duplicates, embed, choose the answer method, index and save; return a
    JSON-serialisable summary.

    ``near_duplicate_threshold=None`` keeps near-duplicates; ``encoder`` reuses an already
    loaded encoder instead of loading ``encoder_path`` (or the bundled one). ``method`` is
    ``auto`` (compare plain, vote and head on held-out questions and keep the best) or the
    one to answer with. ``examples`` is an intent examples file (``nlu.yml``, CSV
    ``text,intent``) to embed and keep beside the answers (:mod:`retrieval.index.examples`).
    """
    started = time.perf_counter()
    check_requested(method)
    settings = settings or IndexSettings()
    pairs = read_qa(data)
    labelled = load_examples(examples) if examples is not None else []
    kept, exact_report = merge_duplicates(pairs)
    encoder = encoder or load_encoder(encoder_path)
    encode_started = time.perf_counter()
    with torch_threads(build_threads()):
        vectors = encoder.encode(
            [p.question for p in kept], batch_size=settings.batch_size, progress=progress
        )
        intent_examples = None
        if examples is not None:
            intent_examples = IntentExamples(
                tuple(e.text for e in labelled),
                tuple(e.label for e in labelled),
                encoder.encode(
                    [e.text for e in labelled], batch_size=settings.batch_size, progress=progress
                ),
            )
    encode_seconds = time.perf_counter() - encode_started
    near_report: list[str] = []
    if near_duplicate_threshold is not None:
        kept, vectors, near_report = merge_near_duplicates(
            kept, vectors, near_duplicate_threshold, exact_limit=settings.hnsw_threshold
        )
    choose_started = time.perf_counter()
    answering = choose_method(
        vectors, [p.intent for p in kept], requested=method, seed=settings.seed
    )
    choose_seconds = time.perf_counter() - choose_started
    provenance = {
        "data": str(data),
        "rows": len(pairs),
        "merged_exact": len(exact_report),
        "merged_near": len(near_report),
        "near_duplicate_threshold": near_duplicate_threshold,
    }
    index = AnswerIndex.build(
        kept,
        encoder,
        settings=settings,
        vectors=vectors,
        provenance=provenance,
        answering=answering,
        examples=intent_examples,
    )
    if index.method == "head":
        fit_started = time.perf_counter()
        index.intent_head()  # fitted now, and saved with the index, not at the first question
        choose_seconds += time.perf_counter() - fit_started
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
        "method": index.method,
        "intent_examples": None if intent_examples is None else len(intent_examples),
        "method_chosen_by": answering["chosen_by"],
        "encode_seconds": round(encode_seconds, 2),
        "method_seconds": round(choose_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if "validation" in answering:
        summary["validation"] = answering["validation"]
    if "reason" in answering:
        summary["method_reason"] = answering["reason"]
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
