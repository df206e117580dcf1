"""The human-readable evaluation report and its confusion matrix (file names: modeldir).

Training writes it for the validation split and ``frontdesk eval`` for any labelled file,
through the same :func:`write_report`, so the two reports always read alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.base.datasets import Example
from retrieval.base.modeldir import CONFUSION_NAME, REPORT_NAME
from training.metrics import most_confused, per_label_scores

MAX_MISCLASSIFIED = 30
MAX_CONFUSED_PAIRS = 10


@dataclass(frozen=True, slots=True)
class Scored:
    """One example after prediction; ``gold``/``predicted`` are canonical labels."""

    example: Example
    gold: str
    predicted: str
    top_label: str
    confidence: float

    @property
    def correct(self) -> bool:
        return self.gold == self.predicted


def write_report(
    directory: str | Path,
    *,
    title: str,
    metrics: Mapping[str, Any],
    scored: Sequence[Scored],
    context: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report and its confusion matrix into ``directory``; returns the report's
    path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    gold = [s.gold for s in scored]
    predicted = [s.predicted for s in scored]
    write_confusion_matrix(directory / CONFUSION_NAME, gold, predicted, title=title)
    path = directory / REPORT_NAME
    path.write_text(render_markdown(title, metrics, scored, context or {}), encoding="utf-8")
    return path


def render_markdown(
    title: str, metrics: Mapping[str, Any], scored: Sequence[Scored], context: Mapping[str, Any]
) -> str:
    gold = [s.gold for s in scored]
    predicted = [s.predicted for s in scored]
    lines = [f"# {title}", ""]
    for key, value in context.items():
        lines.append(f"- **{key}**: {_cell(value)}")
    lines.append(f"- **generated**: {datetime.now(UTC).isoformat(timespec='seconds')}")
    lines += [
        "",
        "Rejected predictions (`nlu_fallback`) and out-of-scope gold labels are both shown as "
        "`out_of_scope`.",
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | {_number(value)} |" for key, value in metrics.items()]

    lines += ["", "## Per label", "", "Worst F1 first.", ""]
    lines += ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for score in sorted(per_label_scores(gold, predicted), key=lambda s: (s.f1, s.label)):
        lines.append(
            f"| {_cell(score.label)} | {score.precision:.3f} | {score.recall:.3f} | "
            f"{score.f1:.3f} | {score.support} |"
        )

    lines += ["", f"## Most confused pairs (top {MAX_CONFUSED_PAIRS})", ""]
    pairs = most_confused(gold, predicted, MAX_CONFUSED_PAIRS)
    if pairs:
        lines += ["| gold | predicted | count |", "|---|---|---|"]
        lines += [f"| {_cell(g)} | {_cell(p)} | {count} |" for g, p, count in pairs]
    else:
        lines.append("No mistakes.")

    wrong = sorted((s for s in scored if not s.correct), key=lambda s: -s.confidence)
    lines += [
        "",
        f"## Misclassified examples ({min(len(wrong), MAX_MISCLASSIFIED)} of {len(wrong)}, "
        "most confident first)",
        "",
    ]
    if wrong:
        lines += [
            "| text | gold | predicted | model's top label | confidence | source |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(s.example.text)} | {_cell(s.gold)} | {_cell(s.predicted)} | "
            f"{_cell(s.top_label)} | {s.confidence:.3f} | {_cell(s.example.where)} |"
            for s in wrong[:MAX_MISCLASSIFIED]
        ]
    else:
        lines.append("None.")
    lines += ["", f"![confusion matrix]({CONFUSION_NAME})", ""]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    # Pipes and newlines would break the Markdown table row.
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return _cell(value)


def write_confusion_matrix(
    path: str | Path, gold: Sequence[str], predicted: Sequence[str], *, title: str
) -> None:
    """A row-normalised confusion matrix that stays legible with dozens of labels.

    Colour shows the share of each gold row (so rare labels are as visible as common ones)
    and the cells carry raw counts; the figure grows with the number of labels.
    """
    # The object-oriented Agg API touches no global pyplot state, so it is safe from any
    # thread and never tries to open a window.
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = sorted(set(gold) | set(predicted)) or ["(none)"]
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, predicted, strict=True):
        counts[index[g], index[p]] += 1
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)

    size = min(40.0, max(6.0, 0.32 * len(labels) + 3.0))
    font = 9 if len(labels) <= 20 else 7 if len(labels) <= 50 else 5
    figure = Figure(figsize=(size, size * 0.9), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.04, label="share of the gold row")
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=font)
    axes.set_yticks(range(len(labels)), labels, fontsize=font)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(title)
    if len(labels) <= 60:
        for (row, column), count in np.ndenumerate(counts):
            if count:
                axes.text(
                    column,
                    row,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=font,
                    color="white" if shares[row, column] > 0.5 else "black",
                )
    figure.savefig(path)
