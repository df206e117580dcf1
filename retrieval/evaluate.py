"""``frontdesk eval retrieval``: how well an answer index answers a set of questions, and
above which similarity the bot should answer at all.

The queries file is CSV/TSV/JSONL with a ``text`` column and the expected answer: an
``intent`` column (the top hit is right when its intent matches) or an ``id`` column (when
it is that Q&A pair); with both, a row's ``id`` wins when it is filled in.

The questions are answered the way the served bot answers them: through
:meth:`AnswerIndex.answer` with the method the index was built to answer with (its
manifest's ``answering``; ``method`` overrides it, to compare), one question at a time,
encoded as the server encodes them (the traced encoder on a CPU, on as many threads as
the server gives it when the caller says how many). So the figures are those of the
answers the bot gives.

Figures: the method, hit@1, hit@5 and MRR (over the top :data:`EVAL_K` answers), coverage
(share of queries whose first answer clears the threshold, i.e. that the bot would answer)
and precision (share of those whose first answer is right) at the serving threshold, the
share of off-topic questions answered when a file of them is given, and the single-query
latency (encoding included; also as CPU time, which a busy machine does not inflate).
``report.md`` adds the precision/coverage table over thresholds 0.30-0.90, the recommended
threshold and the misses.

:func:`calibrate_threshold` picks the threshold: the widest coverage whose precision
reaches a target while at most 5% of off-topic questions would get an answer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.base.atomic import write_file
from retrieval.base.datafiles import (
    DataFileError,
    optional_text,
    pick_column,
    read_rows,
    required_text,
)
from retrieval.base.modeldir import REPORT_NAME
from retrieval.index import (
    DEFAULT_THRESHOLD,
    AnswerIndex,
    AnswerMethod,
    Hit,
    rank_figures,
    torch_threads,
)
from retrieval.models.encoder import TextEncoder, load_encoder

EVAL_K = 10
TEXT_COLUMNS = ("text", "question", "query")
REPORT_FILE = REPORT_NAME  # one report name for every evaluation Frontdesk writes
TABLE_THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(13))
"""0.30, 0.35, ..., 0.90: the rows of the report's precision/coverage table."""
CALIBRATION_GRID = tuple(round(0.20 + 0.01 * i, 2) for i in range(76))
"""0.20 to 0.95 in steps of 0.01: the thresholds :func:`calibrate_threshold` considers."""
MAX_OOD_RATE = 0.05
MIN_PRECISION = 0.9
MISSES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Query:
    line: int
    text: str
    expected_id: str | None = None
    expected_intent: str | None = None

    @property
    def expected(self) -> str:
        return self.expected_id if self.expected_id is not None else str(self.expected_intent)

    def matches(self, hit: Hit) -> bool:
        if self.expected_id is not None:
            return hit.id == self.expected_id
        return hit.intent == self.expected_intent


@dataclass(frozen=True, slots=True)
class Outcome:
    """One query's hits, the 1-based rank of the first right one (None: not in the top k)
    and how long the search took."""

    query: Query
    hits: list[Hit]
    rank: int | None
    seconds: float
    cpu_seconds: float = 0.0
    """CPU time of the answering thread: the answer's own cost, without the waits for a
    core that a busy machine adds to ``seconds``."""

    @property
    def top_score(self) -> float:
        # No hit at all (an empty index) scores below any threshold.
        return self.hits[0].score if self.hits else -1.0


def read_queries(path: str | Path, index: AnswerIndex, index_dir: str | Path) -> list[Query]:
    """Read the queries file; expected ids and intents must exist in ``index``."""
    header, rows = read_rows(path)
    text_col = pick_column(path, header, TEXT_COLUMNS, role="query text")
    has_id, has_intent = "id" in header, "intent" in header
    if not has_id and not has_intent:
        raise DataFileError(
            path,
            f"no expected answer column: expected intent or id; found {', '.join(header)}",
            line=1,
            fix="add an intent column (the expected intent) or an id column (the expected "
            "answer's id in the index)",
        )
    if not rows:
        raise DataFileError(
            path, "no queries", fix="add rows with a text and the expected intent or id"
        )
    pairs = index.pairs()
    ids = {p.id for p in pairs}
    intents = {p.intent for p in pairs if p.intent}
    queries: list[Query] = []
    for row in rows:
        text = required_text(path, row, text_col)
        expected_id = optional_text(path, row, "id") if has_id else None
        expected_intent = optional_text(path, row, "intent") if has_intent else None
        if expected_id is None and expected_intent is None:
            raise DataFileError(
                path,
                "no expected answer",
                line=row.line,
                field="id" if has_id else "intent",
                fix="fill in the expected intent or answer id, or delete the row",
            )
        if expected_id is not None:
            if expected_id not in ids:
                raise DataFileError(
                    path,
                    f"id {expected_id!r} is not in the index {index_dir}",
                    line=row.line,
                    field="id",
                    fix="use an id from the index's entries.jsonl, or rebuild the index from "
                    "the Q&A file that has it (a duplicate question is merged into the first)",
                )
            expected_intent = None
        elif expected_intent not in intents:
            raise DataFileError(
                path,
                f"no entry of the index {index_dir} has intent {expected_intent!r}",
                line=row.line,
                field="intent",
                fix="check the spelling, or add Q&A pairs with that intent and rebuild",
            )
        queries.append(Query(row.line, text, expected_id, expected_intent))
    return queries


def read_texts(path: str | Path) -> list[str]:
    """The ``text`` column of a file of (off-topic) questions."""
    header, rows = read_rows(path)
    column = pick_column(path, header, TEXT_COLUMNS, role="query text")
    if not rows:
        raise DataFileError(path, "no questions", fix="add rows with a text")
    return [required_text(path, row, column) for row in rows]


def rank_metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    """hit@1, hit@5 and MRR from the 1-based rank of each query's first right hit (the same
    figures the index build's validation records)."""
    return rank_figures(ranks)


def at_threshold(
    threshold: float,
    scores: Sequence[float],
    correct: Sequence[bool],
    ood_scores: Sequence[float] = (),
) -> dict[str, Any]:
    """Coverage, precision (None when nothing is answered) and, given off-topic scores,
    the share of off-topic questions that would get an answer."""
    answered = [c for s, c in zip(scores, correct, strict=True) if s >= threshold]
    row: dict[str, Any] = {
        "threshold": threshold,
        "answered": len(answered),
        "coverage": round(len(answered) / len(scores), 4) if len(scores) else 0.0,
        "precision": round(sum(answered) / len(answered), 4) if answered else None,
    }
    if len(ood_scores):
        row["ood_answered"] = round(sum(s >= threshold for s in ood_scores) / len(ood_scores), 4)
    return row


def calibrate_threshold(
    scores: Sequence[float],
    correct: Sequence[bool],
    ood_scores: Sequence[float] = (),
    *,
    max_ood_rate: float = MAX_OOD_RATE,
    min_precision: float = MIN_PRECISION,
    thresholds: Sequence[float] = CALIBRATION_GRID,
) -> dict[str, Any]:
    """The similarity threshold to serve with, from held-out in-domain queries (their best
    hit's score and whether that hit was right) and off-topic ones (best hit's score).

    Among the thresholds where precision >= ``min_precision`` and at most ``max_ood_rate``
    of the off-topic questions clear the bar, the one with the widest coverage wins; when
    several tie, the middle one, so the margin is shared between the in-domain questions
    that need to pass and the off-topic ones that must not. When no threshold meets both
    targets, the precision target is dropped (``met`` is False and ``reason`` says so).
    """
    if len(scores) != len(correct):
        raise ValueError(f"{len(scores)} scores but {len(correct)} outcomes")
    if not len(scores):
        raise ValueError("calibrate_threshold needs at least one in-domain query")
    rows = [at_threshold(t, scores, correct, ood_scores) for t in thresholds]

    def ood_ok(row: dict[str, Any]) -> bool:
        return row.get("ood_answered", 0.0) <= max_ood_rate

    def precise(row: dict[str, Any]) -> bool:
        return row["precision"] is not None and row["precision"] >= min_precision

    reason = None
    candidates = [r for r in rows if ood_ok(r) and precise(r)]
    if not candidates:
        candidates = [r for r in rows if ood_ok(r) and r["answered"]]
        reason = f"no threshold reaches precision {min_precision}"
        if not candidates:
            candidates = [rows[-1]]
            reason = (
                f"no threshold keeps off-topic answers at or below {max_ood_rate} "
                "while answering anything"
            )
    best = max(r["coverage"] for r in candidates)
    tied = [r for r in candidates if r["coverage"] == best]
    chosen = dict(tied[len(tied) // 2])
    chosen.update(
        {
            "met": reason is None,
            "min_precision": min_precision,
            "max_ood_rate": max_ood_rate,
            "ood_n": len(ood_scores),
        }
    )
    if reason is not None:
        chosen["reason"] = reason
    elif not len(ood_scores):
        chosen["reason"] = "no off-topic queries given: only precision was checked"
    return chosen


def search_all(
    index: AnswerIndex,
    queries: Sequence[Query],
    k: int = EVAL_K,
    *,
    method: AnswerMethod | None = None,
) -> list[Outcome]:
    """Answer each query on its own (as the bot does), timing each answer."""
    if queries:
        index.answer(queries[0].text, k=k, method=method)  # one-off set-up costs
    outcomes: list[Outcome] = []
    for query in queries:
        started, cpu = time.perf_counter(), time.thread_time()
        hits = index.answer(query.text, k=k, method=method)
        seconds, cpu = time.perf_counter() - started, time.thread_time() - cpu
        rank = next((n for n, hit in enumerate(hits, start=1) if query.matches(hit)), None)
        outcomes.append(Outcome(query, hits, rank, seconds, cpu))
    return outcomes


def latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    if not len(seconds):
        return {"p50": 0.0, "p99": 0.0}
    values = np.array(seconds) * 1000
    return {
        "p50": round(float(np.percentile(values, 50)), 2),
        "p99": round(float(np.percentile(values, 99)), 2),
    }


def evaluate_retrieval(
    index_dir: Path,
    data: Path,
    *,
    report_dir: Path | None = None,
    threshold: float | None = None,
    encoder_path: str | Path | None = None,
    out_of_domain: Path | None = None,
    encoder: TextEncoder | None = None,
    k: int = EVAL_K,
    min_precision: float = MIN_PRECISION,
    max_ood_rate: float = MAX_OOD_RATE,
    method: AnswerMethod | None = None,
    query_threads: int | None = None,
) -> dict[str, Any]:
    """Evaluate the index in ``index_dir`` on the queries in ``data``; write ``report.md``
    to ``report_dir`` (default: the index directory) and return the figures.

    ``threshold`` defaults to the serving default (``DEFAULT_THRESHOLD``).
    ``out_of_domain`` is a file of off-topic questions (a ``text`` column): with it, the
    share of them that would be answered is reported and bounds the recommended threshold.
    ``encoder`` reuses a loaded encoder instead of loading ``encoder_path`` (which is then
    traced for the CPU, as the server's is). ``method`` answers another way than the
    index's own (the figures then say so: ``method`` differs from ``index_method``);
    ``query_threads`` is the torch thread count the questions are encoded with.
    """
    if threshold is None:
        threshold = DEFAULT_THRESHOLD
    index_dir, data = Path(index_dir), Path(data)
    if encoder is None:
        loaded = load_encoder(encoder_path)
        loaded.trace_for_cpu()  # what the server does: a small batch costs less traced
        encoder = loaded
    index = AnswerIndex.load(index_dir, encoder)
    used = method or index.method
    queries = read_queries(data, index, index_dir)
    ood_texts = read_texts(out_of_domain) if out_of_domain is not None else []

    with torch_threads(query_threads):
        outcomes = search_all(index, queries, k, method=used)
    scores = [o.top_score for o in outcomes]
    correct = [o.rank == 1 for o in outcomes]
    ood_answers = index.answer_many(ood_texts, k=1, method=used)
    ood_scores = [hits[0].score if hits else -1.0 for hits in ood_answers]
    at_serving = at_threshold(threshold, scores, correct, ood_scores)
    calibration = calibrate_threshold(
        scores, correct, ood_scores, max_ood_rate=max_ood_rate, min_precision=min_precision
    )
    kinds = {"id" if q.expected_id is not None else "intent" for q in queries}
    report_path = Path(report_dir or index_dir) / REPORT_FILE
    result: dict[str, Any] = {
        "task": "retrieval",
        "index": str(index_dir),
        "data": str(data),
        "n": len(queries),
        "expected": "+".join(sorted(kinds)),
        "method": used,
        "index_method": index.method,
        "method_chosen_by": index.answering.get("chosen_by"),
        "k": k,
        **rank_metrics([o.rank for o in outcomes]),
        "threshold": threshold,
        "coverage": at_serving["coverage"],
        "precision": at_serving["precision"],
        "latency_ms_per_query": latency_ms([o.seconds for o in outcomes]),
        "cpu_ms_per_query": latency_ms([o.cpu_seconds for o in outcomes]),
        "recommended_threshold": calibration["threshold"],
        "calibration": calibration,
        "report": str(report_path),
    }
    if ood_texts:
        result["ood_n"] = len(ood_texts)
        result["ood_answered"] = at_serving["ood_answered"]
    table = [at_threshold(t, scores, correct, ood_scores) for t in TABLE_THRESHOLDS]
    report_path.parent.mkdir(parents=True, exist_ok=True)
    write_file(report_path, render_report(result, table, outcomes, index).encode())
    return result


def render_report(
    result: dict[str, Any],
    table: Sequence[dict[str, Any]],
    outcomes: Sequence[Outcome],
    index: AnswerIndex,
) -> str:
    calibration = result["calibration"]
    latency = result["latency_ms_per_query"]
    lines = [
        "# Retrieval evaluation",
        "",
        f"- Index: `{result['index']}` ({len(index)} entries, {index.index_type})",
        f"- Queries: `{result['data']}` ({result['n']}, expected answer by {result['expected']})",
        f"- Answered by: {result['method']}"
        + (
            f" (the index answers {result['index_method']})"
            if result["method"] != result["index_method"]
            else f" (the index's method, chosen by {result['method_chosen_by']})"
        ),
        f"- hit@1 {result['hit_at_1']:.4f}, hit@5 {result['hit_at_5']:.4f}, "
        f"MRR@{result['k']} {result['mrr']:.4f}",
        f"- At the threshold {result['threshold']}: coverage {result['coverage']:.4f}, "
        f"precision {_fmt(result['precision'])}"
        + (
            f", off-topic questions answered {result['ood_answered']:.4f} of {result['ood_n']}"
            if "ood_n" in result
            else ""
        ),
        f"- Latency per query (one at a time, encoding included): p50 {latency['p50']} ms, "
        f"p99 {latency['p99']} ms (CPU time p50 {result['cpu_ms_per_query']['p50']} ms, "
        f"p99 {result['cpu_ms_per_query']['p99']} ms)",
        f"- Recommended threshold: **{calibration['threshold']}** (coverage "
        f"{calibration['coverage']:.4f}, precision {_fmt(calibration['precision'])}"
        + (
            f", off-topic answered {calibration['ood_answered']:.4f}"
            if "ood_answered" in calibration
            else ""
        )
        + f"): the widest coverage with precision >= {calibration['min_precision']} and at "
        f"most {calibration['max_ood_rate']:.0%} of off-topic questions answered"
        + (f". Note: {calibration['reason']}" if "reason" in calibration else ""),
        "",
        "## Precision and coverage by threshold",
        "",
        "Coverage: share of the queries whose best hit scores at least the threshold (the "
        "bot answers them). Precision: share of those whose best hit is the right one.",
        "",
    ]
    with_ood = any("ood_answered" in row for row in table)
    lines.append(
        "| threshold | answered | coverage | precision |"
        + (" off-topic answered |" if with_ood else "")
    )
    lines.append("|---|---|---|---|" + ("---|" if with_ood else ""))
    for row in table:
        lines.append(
            f"| {row['threshold']:.2f} | {row['answered']} | {row['coverage']:.4f} | "
            f"{_fmt(row['precision'])} |" + (f" {row['ood_answered']:.4f} |" if with_ood else "")
        )
    misses = sorted((o for o in outcomes if o.rank != 1), key=lambda o: -o.top_score)
    lines += ["", f"## Misses ({len(misses)}): the best hit was not the expected answer", ""]
    if misses:
        lines.append("| line | query | expected | best hit | score | expected at rank |")
        lines.append("|---|---|---|---|---|---|")
        for o in misses[:MISSES_SHOWN]:
            top = o.hits[0] if o.hits else None
            got = "-" if top is None else (top.id if o.query.expected_id else str(top.intent))
            lines.append(
                f"| {o.query.line} | {_cell_text(o.query.text)} | {o.query.expected} | "
                f"{got} | {o.top_score:.3f} | {o.rank or '-'} |"
            )
        if len(misses) > MISSES_SHOWN:
            lines.append(f"\n{len(misses) - MISSES_SHOWN} more not shown.")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
