"""The regression gate: is the candidate measurably no worse than the serving model?

Both models answer the same held-out set: the pinned files (``text,intent``), off-topic
texts labelled out of scope, and the corrections ``retrain`` held out. Each predicts every
row once through the serving classifier, its rejection rule included, so the figures are
what the bot would answer and count as ``frontdesk eval intent`` counts them (a rejection
is an out-of-scope answer). The candidate passes when

- its accuracy is no more than ``accuracy_tolerance`` below the serving model's,
- its out-of-scope recall (where the set has out-of-scope rows) no more than
  ``oos_recall_tolerance`` below,
- and no intent with at least ``min_intent_support`` held-out rows loses more than
  ``max_intent_drop`` of its recall where that loss is more than chance: a one-sided sign
  test on the intent's rows the candidate broke against those it fixed, at
  ``significance`` shared among the intents tested (Bonferroni). Held-out sets have few rows
  an intent (one row is a tenth of ten), and among 77 intents tested each at 5%, about one
  in six candidates no better or worse than the serving model would lose an intent by
  chance: uncorrected, BANKING77's first real candidate was refused for an intent that
  lost 5 of its 11 rows while it fixed 33 rows and broke 27 overall.

The report (``gate.json``, ``gate.md``) lists per intent what was fixed and broken, the
out-of-scope figures and the confusions that changed most. Run as a program by
``frontdesk gate`` (``python -m training.gate``); exit status 0 passed, 1 refused.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.base import modeldir
from retrieval.base.datasets import Example, load_examples
from retrieval.base.labels import FALLBACK_INTENT, OOS_LABELS
from training.retrain import CORRECTIONS_HOLDOUT, OUT_OF_SCOPE, write_examples

GATE_DIR = "gate"
GATE_JSON = "gate.json"
GATE_REPORT = "gate.md"
HELD_OUT = "heldout.csv"
CONFUSIONS_SHOWN = 20


@dataclass(frozen=True)
class Tolerances:
    accuracy: float = 0.005
    oos_recall: float = 0.01
    max_intent_drop: float = 0.1
    min_intent_support: int = 5
    significance: float = 0.05


def sign_test(broken: int, fixed: int) -> float:
    """P(at least ``broken`` of the ``broken + fixed`` changed rows went the wrong way) if
    each change were a coin flip."""
    n = broken + fixed
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(broken, n + 1)) / 2**n


def canonical(label: str) -> str:
    """A rejection and every out-of-scope name read as one label."""
    return OUT_OF_SCOPE if label in OOS_LABELS or label == FALLBACK_INTENT else label


def read_out_of_scope(paths: Iterable[Path]) -> list[Example]:
    """Off-topic texts (a ``text`` column; any label column is ignored) as out of scope."""
    rows: list[Example] = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if "text" not in (reader.fieldnames or []):
                raise ValueError(f"out_of_scope_holdout: {path} needs a 'text' column")
            for line, row in enumerate(reader, start=2):
                text = (row.get("text") or "").strip()
                if text:
                    rows.append(Example(text, OUT_OF_SCOPE, str(path), line))
    return rows


def held_out_set(
    holdout: Sequence[Path], out_of_scope: Sequence[Path], corrections: Path | None
) -> tuple[list[Example], int]:
    """The pinned rows, the off-topic rows and the held-out corrections; and how many of
    them are corrections (they come last)."""
    rows: list[Example] = []
    for path in holdout:
        rows += [Example(e.text, canonical(e.label), e.source, e.line) for e in load_examples(path)]
    rows += read_out_of_scope(out_of_scope)
    reviewed: list[Example] = []
    if corrections is not None and corrections.is_file():
        with corrections.open(encoding="utf-8", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                if row.get("text") and row.get("intent"):
                    reviewed.append(
                        Example(row["text"], canonical(row["intent"]), str(corrections), line)
                    )
    if not rows and not reviewed:
        raise ValueError(
            "holdout: no held-out rows; set [learning] holdout to a text,intent file the "
            "models never trained on"
        )
    return rows + reviewed, len(reviewed)


def predictions(model: Path, texts: Sequence[str]) -> list[str]:
    from retrieval.models.classifier import TextClassifier

    classifier = TextClassifier.load(model)
    labels: list[str] = []
    for start in range(0, len(texts), 64):
        labels += [canonical(p.label) for p in classifier.predict(texts[start : start + 64])]
    return labels


def _recall(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per gold label: (right, support)."""
    support = Counter(gold)
    right = Counter(g for g, p in zip(gold, predicted, strict=True) if g == p)
    return {label: (right[label], n) for label, n in support.items()}


def compare(
    gold: Sequence[str],
    serving: Sequence[str],
    candidate: Sequence[str],
    serving_metrics: dict[str, Any],
    candidate_metrics: dict[str, Any],
    tolerances: Tolerances,
) -> dict[str, Any]:
    """The per-intent differences, the confusion changes and the decision."""
    before, after = _recall(gold, serving), _recall(gold, candidate)
    fixed = Counter(g for g, s, c in zip(gold, serving, candidate, strict=True) if s != g == c)
    broken = Counter(g for g, s, c in zip(gold, serving, candidate, strict=True) if s == g != c)
    intents: list[dict[str, Any]] = []
    for label in sorted(before):
        right_before, support = before[label]
        right_after = after[label][0]
        intents.append(
            {
                "intent": label,
                "support": support,
                "recall_serving": right_before / support,
                "recall_candidate": right_after / support,
                "change": (right_after - right_before) / support,
                "fixed": fixed[label],
                "broken": broken[label],
            }
        )
    confusions_before = Counter((g, p) for g, p in zip(gold, serving, strict=True) if g != p)
    confusions_after = Counter((g, p) for g, p in zip(gold, candidate, strict=True) if g != p)
    changes: list[dict[str, Any]] = [
        {"gold": g, "predicted": p, "serving": confusions_before[g, p], "candidate": n}
        for (g, p) in confusions_before.keys() | confusions_after.keys()
        if (n := confusions_after[g, p]) != confusions_before[g, p]
    ]
    changes.sort(key=lambda c: (-abs(c["candidate"] - c["serving"]), c["gold"], c["predicted"]))

    reasons = []
    accuracy = (serving_metrics["accuracy"], candidate_metrics["accuracy"])
    if accuracy[1] < accuracy[0] - tolerances.accuracy:
        reasons.append(
            f"accuracy fell from {accuracy[0]:.4f} to {accuracy[1]:.4f} "
            f"(tolerance {tolerances.accuracy})"
        )
    if "oos_recall" in serving_metrics and "oos_recall" in candidate_metrics:
        oos = (serving_metrics["oos_recall"], candidate_metrics["oos_recall"])
        if oos[1] < oos[0] - tolerances.oos_recall:
            reasons.append(
                f"out-of-scope recall fell from {oos[0]:.4f} to {oos[1]:.4f} "
                f"(tolerance {tolerances.oos_recall})"
            )
    tested = [row for row in intents if row["support"] >= tolerances.min_intent_support]
    level = tolerances.significance / max(1, len(tested))
    for row in tested:
        chance = sign_test(row["broken"], row["fixed"])
        row["p_value"] = chance
        if -row["change"] > tolerances.max_intent_drop and chance < level:
            reasons.append(
                f"intent {row['intent']}: recall fell from {row['recall_serving']:.3f} to "
                f"{row['recall_candidate']:.3f} ({row['broken']} rows broken, {row['fixed']} "
                f"fixed; p={chance:.2g} below {level:.2g}; at most "
                f"{tolerances.max_intent_drop} allowed)"
            )
    return {
        "passed": not reasons,
        "reasons": reasons,
        "intents": intents,
        "confusion_changes": changes[:CONFUSIONS_SHOWN],
        "fixed": sum(fixed.values()),
        "broken": sum(broken.values()),
    }


def figures(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro F1 over the labels the set asks for, and the out-of-scope
    precision, recall and F1 where the set has out-of-scope rows."""
    from sklearn.metrics import f1_score

    n = len(gold)
    result: dict[str, Any] = {
        "accuracy": sum(g == p for g, p in zip(gold, predicted, strict=True)) / n,
        "macro_f1": float(
            f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0)
        ),
        "n": n,
    }
    asked = sum(g == OUT_OF_SCOPE for g in gold)
    if asked:
        answered = sum(p == OUT_OF_SCOPE for p in predicted)
        right = sum(g == p == OUT_OF_SCOPE for g, p in zip(gold, predicted, strict=True))
        precision = right / answered if answered else 0.0
        recall = right / asked
        result["oos_precision"] = precision
        result["oos_recall"] = recall
        result["oos_f1"] = 2 * precision * recall / (precision + recall) if right else 0.0
    return result


def gate(
    *,
    serving: Path,
    candidate: Path,
    holdout: Sequence[Path],
    out_of_scope: Sequence[Path] = (),
    tolerances: Tolerances | None = None,
    out: Path | None = None,
) -> dict[str, Any]:
    """Evaluate both models on the same held-out set; write and return the report."""
    tolerances = tolerances or Tolerances()
    for name, path in (("serving", serving), ("candidate", candidate)):
        if not (path / modeldir.CARD_NAME).is_file():
            raise ValueError(f"{name}: {path} is not a model directory (no {modeldir.CARD_NAME})")
    out = out or candidate / GATE_DIR
    out.mkdir(parents=True, exist_ok=True)
    rows, reviewed = held_out_set(holdout, out_of_scope, candidate / CORRECTIONS_HOLDOUT)
    data = out / HELD_OUT
    write_examples(data, rows)
    gold = [e.label for e in rows]
    texts = [e.text for e in rows]
    models = {"serving": serving, "candidate": candidate}
    predicted = {name: predictions(path, texts) for name, path in models.items()}
    metrics = {name: figures(gold, predicted[name]) for name in models}
    result = compare(
        gold,
        predicted["serving"],
        predicted["candidate"],
        metrics["serving"],
        metrics["candidate"],
        tolerances,
    )
    corrections: dict[str, Any] = {"n": reviewed}
    if reviewed:
        tail = slice(len(rows) - reviewed, len(rows))
        for name in ("serving", "candidate"):
            right = sum(g == p for g, p in zip(gold[tail], predicted[name][tail], strict=True))
            corrections[f"accuracy_{name}"] = right / reviewed
    report = {
        "passed": result["passed"],
        "reasons": result["reasons"],
        "serving": {"model": str(serving), **metrics["serving"]},
        "candidate": {"model": str(candidate), **metrics["candidate"]},
        "held_out": {
            "rows": len(rows),
            "pinned": [str(p) for p in holdout],
            "out_of_scope": [str(p) for p in out_of_scope],
            "corrections": corrections,
        },
        "tolerances": asdict(tolerances),
        "fixed": result["fixed"],
        "broken": result["broken"],
        "intents": result["intents"],
        "confusion_changes": result["confusion_changes"],
        "candidate_created_at": modeldir.read(candidate).created_at,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    modeldir.write_json(out / GATE_JSON, report)
    (out / GATE_REPORT).write_text(render(report), encoding="utf-8")
    return report


def render(report: dict[str, Any]) -> str:
    serving, candidate = report["serving"], report["candidate"]
    verdict = "passed" if report["passed"] else "refused"
    lines = [
        f"# Regression gate: {verdict}",
        "",
        *[f"- {reason}" for reason in report["reasons"]],
        "",
        "| | serving | candidate |",
        "|---|---|---|",
    ]
    for key in ("accuracy", "macro_f1", "oos_recall", "oos_precision", "n"):
        if key in serving or key in candidate:
            lines.append(f"| {key} | {serving.get(key, '–')} | {candidate.get(key, '–')} |")
    corrections = report["held_out"]["corrections"]
    if corrections.get("n"):
        lines.append(
            f"| held-out corrections ({corrections['n']}) | "
            f"{corrections['accuracy_serving']:.4f} | {corrections['accuracy_candidate']:.4f} |"
        )
    lines += [
        "",
        f"Fixed {report['fixed']} held-out rows, broke {report['broken']}.",
        "",
        "## Per intent",
        "",
        "| intent | support | recall serving | recall candidate | fixed | broken |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(report["intents"], key=lambda r: r["change"]):
        lines.append(
            f"| {row['intent']} | {row['support']} | {row['recall_serving']:.3f} | "
            f"{row['recall_candidate']:.3f} | {row['fixed']} | {row['broken']} |"
        )
    lines += ["", "## Confusions that changed", "", "| gold | predicted | serving | candidate |"]
    lines.append("|---|---|---|---|")
    for change in report["confusion_changes"]:
        lines.append(
            f"| {change['gold']} | {change['predicted']} | {change['serving']} | "
            f"{change['candidate']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.gate", description=__doc__)
    parser.add_argument("--serving", type=Path, required=True)
    parser.add_argument("--candidate", type=Path, required=True)
    parser.add_argument("--holdout", type=Path, action="append", default=[])
    parser.add_argument("--out-of-scope", type=Path, action="append", default=[])
    parser.add_argument("--accuracy-tolerance", type=float, default=Tolerances.accuracy)
    parser.add_argument("--oos-recall-tolerance", type=float, default=Tolerances.oos_recall)
    parser.add_argument("--max-intent-drop", type=float, default=Tolerances.max_intent_drop)
    parser.add_argument("--min-intent-support", type=int, default=Tolerances.min_intent_support)
    parser.add_argument("--intent-significance", type=float, default=Tolerances.significance)
    args = parser.parse_args(argv)
    import torch

    # One thread: the gate runs beside a serving bot (nightly, on the same cores), and on a
    # busy machine OpenMP threads that spin while preempted made it 50 times slower.
    torch.set_num_threads(1)
    tolerances = Tolerances(
        args.accuracy_tolerance,
        args.oos_recall_tolerance,
        args.max_intent_drop,
        args.min_intent_support,
        args.intent_significance,
    )
    try:
        report = gate(
            serving=args.serving,
            candidate=args.candidate,
            holdout=args.holdout,
            out_of_scope=args.out_of_scope,
            tolerances=tolerances,
        )
    except ValueError as exc:
        print(f"frontdesk gate: error: {exc}", file=sys.stderr)
        return 2
    summary = {k: report[k] for k in ("passed", "reasons", "serving", "candidate", "fixed")}
    summary["broken"] = report["broken"]
    summary["report"] = str(args.candidate / GATE_DIR / GATE_REPORT)
    print(json.dumps(summary))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
