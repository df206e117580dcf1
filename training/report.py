"""The human-readable evaluation report and its confusion matrix (file names: modeldir).

Training writes it for the validation split and ``frontdesk eval`` for any labelled file,
through the same :func:`write_report`, so the two reports always read alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.base.datasets import Example
from retrieval.base.modeldir import CONFUSION_NAME, REPORT_NAME
from training.metrics import EntityKey, most_confused, per_label_scores

if TYPE_CHECKING:
    from training.entities import EntityScored

MAX_MISCLASSIFIED = 30
MAX_CONFUSED_PAIRS = 10
MAX_ENTITY_MISTAKES = 30

EntityFigures = tuple[Mapping[str, Any], Sequence["EntityScored"]]
"""training.metrics.entity_metrics's figures and the examples they were measured on."""


@dataclass(frozen=True, slots=True)
class Scored:
    """One example after prediction; ``gold``/``predicted`` are canonical labels."""

    example: Example
    gold: str
    predicted: str
    top_label: str
    confidence: float
    # The out-of-scope scorer's score (None: the model has none) and the encoder's own
    # confidence, what the rule reads without one.
    oos_score: float | None = None
    encoder_confidence: float | None = None

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
    entities: EntityFigures | None = None,
    tradeoff: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report and its confusion matrix into ``directory``; returns the report's
    path. ``entities``, for data that annotates entities, adds their section;
    ``tradeoff`` (``{"source", "points"}``, training.oos.tradeoff_curve) the out-of-scope
    trade-off."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    gold = [s.gold for s in scored]
    predicted = [s.predicted for s in scored]
    write_confusion_matrix(directory / CONFUSION_NAME, gold, predicted, title=title)
    path = directory / REPORT_NAME
    text = render_markdown(title, metrics, scored, context or {}, entities, tradeoff)
    path.write_text(text, encoding="utf-8")
    return path


def render_markdown(
    title: str,
    metrics: Mapping[str, Any],
    scored: Sequence[Scored],
    context: Mapping[str, Any],
    entities: EntityFigures | None = None,
    tradeoff: Mapping[str, Any] | None = None,
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
    if tradeoff is not None:
        lines += _tradeoff_lines(tradeoff)

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
    if entities is not None:
        lines += _entity_lines(*entities)
    lines += ["", f"![confusion matrix]({CONFUSION_NAME})", ""]
    return "\n".join(lines)


def _tradeoff_lines(tradeoff: Mapping[str, Any]) -> list[str]:
    lines = [
        "",
        "## Out-of-scope trade-off",
        "",
        "Each row moves the rejection threshold so that it turns away this share of in-scope "
        "questions (in-scope accuracy counts those as errors) and shows how many "
        f"out-of-scope questions it then catches (out-of-scope questions: {tradeoff['source']}). "
        "`frontdesk train --reject-target` chooses the point.",
        "",
        "| in-scope rejected | in-scope accuracy | out-of-scope recall |",
        "|---|---|---|",
    ]
    for point in tradeoff["points"]:
        lines.append(
            f"| {point['in_scope_rejection']:.2%} | {point['in_scope_accuracy']:.2%} | "
            f"{point['oos_recall']:.2%} |"
        )
    return lines


def _entity_lines(figures: Mapping[str, Any], scored: Sequence[EntityScored]) -> list[str]:
    lines = [
        "",
        "## Entities",
        "",
        "An entity counts as found when its span, name, role and group are all right.",
        "",
        "| entity | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    rows = [("all (micro)", figures), *sorted(figures.get("per_entity", {}).items())]
    lines += [
        f"| {_cell(name)} | {row['precision']:.3f} | {row['recall']:.3f} | "
        f"{row['f1']:.3f} | {row['support']} |"
        for name, row in rows
    ]
    wrong = [s for s in scored if not s.correct]
    lines += [
        "",
        f"### Entity mistakes ({min(len(wrong), MAX_ENTITY_MISTAKES)} of {len(wrong)})",
        "",
    ]
    if not wrong:
        return [*lines, "None."]
    lines += ["| text | missed | not annotated | source |", "|---|---|---|---|"]
    for s in wrong[:MAX_ENTITY_MISTAKES]:
        missed = [_describe(s.example.text, k) for k in _ordered(s.gold_keys - s.predicted_keys)]
        extra = [_describe(s.example.text, k) for k in _ordered(s.predicted_keys - s.gold_keys)]
        lines.append(
            f"| {_cell(s.example.text)} | {_cell('; '.join(missed))} | "
            f"{_cell('; '.join(extra))} | {_cell(s.example.where)} |"
        )
    return lines


def _ordered(keys: Iterable[EntityKey]) -> list[EntityKey]:
    return sorted(keys, key=lambda k: (k[0], k[1], k[2]))


def _describe(text: str, key: EntityKey) -> str:
    start, end, entity, role, group = key
    label = entity + (f" ({role})" if role else "") + (f" [group {group}]" if group else "")
    return f"{text[start:end]!r} as {label}"


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
