"""The model directory: what training writes and serving reads, named and parsed here only.

A model directory holds the Hugging Face ``save_pretrained`` files (``config.json``, the
weights, the tokenizer) and Frontdesk's own files:

``frontdesk.json`` (:data:`CARD_NAME`)
    The card (:class:`ModelCard`): how to use the weights (task, max_length, rejection
    rule, fused n-gram model, logit bias) and how they were made (training record, data
    fingerprint, creation time)::

        {"format_version": 1, "task": "intent"|"sentiment", "base_model": str,
         "max_length": int, "rejection": {"method": str, "threshold": float},
         "oos_labels": [str], "training": {...}, "data_fingerprint": str,
         "created_at": str, "sparse"?: {"file", "weight", "scale", "blocks"},
         "logit_bias"?: [float]}

``labels.json`` (:data:`LABELS_NAME`)
    The label names, in the order of the classifier's output units.
``sparse.npz`` (:data:`SPARSE_NAME`), only with a fused n-gram model
    The TF-IDF linear model (retrieval.models.ngrams).
``entities.crfsuite``, ``entities.json`` (:data:`ENTITIES_MODEL_NAME`, :data:`ENTITIES_NAME`)
    Only when the training data annotates entities: the CRF learned from the annotations,
    and the synonyms, lookup tables and regexes that go with it (retrieval.models.entities,
    which alone parses and writes them).
``metrics.json``, ``report.md``, ``confusion.png``
    The validation figures and the report a person reads (training.report).

:func:`read` and :func:`write` are the only code that parses or formats the card, so that
training and serving cannot drift apart; a card that :func:`read` would refuse is never
written. The format keeps :data:`FORMAT_VERSION` until a change needs a new reader.

Everything is written into a hidden staging directory next to ``out`` (same file system,
so the final rename is cheap) and moved into place only when complete. Checkpoints live in
another hidden sibling, ``.{out.name}.checkpoints``, so that ``out`` itself only ever holds
what serving reads; they are deleted after a successful run and kept after a failed or
interrupted one, for ``--resume``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.base.labels import OOS_LABELS

CARD_NAME = "frontdesk.json"
LABELS_NAME = "labels.json"
METRICS_NAME = "metrics.json"
REPORT_NAME = "report.md"
CONFUSION_NAME = "confusion.png"
SPARSE_NAME = "sparse.npz"
ENTITIES_MODEL_NAME = "entities.crfsuite"
ENTITIES_NAME = "entities.json"
"""Its presence marks a model that learned entities (retrieval.models.entities)."""
HF_CONFIG_NAME = "config.json"
"""Written by Hugging Face's ``save_pretrained``; its presence marks a complete checkpoint."""
RUN_NAME = "run.json"
"""In the checkpoints directory: what the checkpoints were trained on, checked on resume."""

FORMAT_VERSION = 1
MAX_SOFTMAX = "max_softmax"
"""Reject when the top probability is below the threshold."""
ENCODER_REJECTION = "encoder_max_softmax"
"""The rejection rule of models with a fused n-gram model: the encoder's own confidence."""
REJECTION_METHODS = (MAX_SOFTMAX, ENCODER_REJECTION)
DEFAULT_MAX_LENGTH = 64
RETRAIN = "retrain the model with this version of Frontdesk"


class ModelDirError(RuntimeError):
    """A model directory that is missing, incomplete or of another format."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """When a prediction becomes ``nlu_fallback``: see ``TextClassifier.decide``."""

    method: str = MAX_SOFTMAX
    threshold: float = 0.0


@dataclass(frozen=True, slots=True)
class SparseModel:
    """A TF-IDF linear model fused into the logits as ``(1 - weight) * encoder + weight *
    scale * sparse``; ``blocks`` are its (analyzer, ngram_range) feature blocks, in order."""

    weight: float
    scale: float
    blocks: tuple[tuple[str, tuple[int, int]], ...]
    file: str = SPARSE_NAME


@dataclass(frozen=True, slots=True)
class ModelCard:
    """The parsed card and labels of a model directory.

    ``training`` is the record of how the model was made (settings, hyperparameters,
    device, what calibration chose): written for people, never read by serving. ``path``
    is the directory the card was read from, None for a card not read from disk; it takes
    no part in comparisons, so a card read back equals the one written.
    """

    task: str
    labels: tuple[str, ...]
    base_model: str
    max_length: int
    rejection: Rejection = Rejection()
    oos_labels: tuple[str, ...] = ()
    training: Mapping[str, Any] = field(default_factory=dict, hash=False)
    data_fingerprint: str = ""
    created_at: str = ""
    sparse: SparseModel | None = None
    logit_bias: tuple[float, ...] | None = None
    path: Path | None = field(default=None, compare=False)


def read(path: str | Path) -> ModelCard:
    """The card and labels of the model directory ``path``; ModelDirError says what is wrong
    and how to fix it."""
    path = Path(path)
    if not path.is_dir():
        raise ModelDirError(
            f"model directory {path} does not exist; train one with "
            f"'frontdesk train intent --data data/nlu.yml --out {path}'"
        )
    require(path, CARD_NAME, LABELS_NAME)
    card_file, labels_file = path / CARD_NAME, path / LABELS_NAME
    raw = _load_json(card_file)
    if not isinstance(raw, dict):
        raise ModelDirError(f"{card_file}: expected a JSON object, got {_kind(raw)}; {RETRAIN}")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelDirError(
            f"{card_file}: format_version {version!r}, expected {FORMAT_VERSION}; {RETRAIN}"
        )
    labels = _load_json(labels_file)
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ModelDirError(
            f"{labels_file}: expected a non-empty JSON list of label names, "
            f"got {_short(labels)}; {RETRAIN}"
        )
    fields = _Fields(raw, card_file)
    rejection = _Fields(fields.get("rejection", dict, {}, "an object"), card_file, "rejection.")
    card = ModelCard(
        task=fields.text("task", "intent"),
        labels=tuple(labels),
        base_model=fields.text("base_model", ""),
        max_length=fields.integer("max_length", DEFAULT_MAX_LENGTH),
        rejection=Rejection(
            method=rejection.text("method", MAX_SOFTMAX),
            threshold=rejection.number("threshold", 0.0),
        ),
        oos_labels=fields.texts("oos_labels", tuple(sorted(OOS_LABELS))),
        training=fields.get("training", dict, {}, "an object"),
        data_fingerprint=fields.text("data_fingerprint", ""),
        created_at=fields.text("created_at", ""),
        sparse=_read_sparse(fields.get("sparse", dict, None, "an object"), card_file),
        logit_bias=_read_logit_bias(raw.get("logit_bias"), card_file),
        path=path,
    )
    check(card, card_file)
    return card


def write(path: str | Path, card: ModelCard, *, metrics: Mapping[str, Any] | None = None) -> None:
    """Write the card and its labels (and ``metrics``, when given) into the directory
    ``path``; the model's weights and the n-gram model's file are their savers' job."""
    path = Path(path)
    check(card, path / CARD_NAME)
    write_json(path / LABELS_NAME, list(card.labels))
    write_json(path / CARD_NAME, card_json(card))
    if metrics is not None:
        write_json(path / METRICS_NAME, dict(metrics))


def card_json(card: ModelCard) -> dict[str, Any]:
    """The card as ``frontdesk.json`` holds it, keys in the order earlier versions wrote."""
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "task": card.task,
        "base_model": card.base_model,
        "max_length": card.max_length,
        "rejection": {"method": card.rejection.method, "threshold": card.rejection.threshold},
        "oos_labels": list(card.oos_labels),
        "training": dict(card.training),
        "data_fingerprint": card.data_fingerprint,
        "created_at": card.created_at,
    }
    if card.sparse is not None:
        data["sparse"] = {
            "file": card.sparse.file,
            "weight": card.sparse.weight,
            "scale": card.sparse.scale,
            "blocks": [
                {"analyzer": kind, "ngram_range": list(ngrams)}
                for kind, ngrams in card.sparse.blocks
            ],
        }
    if card.logit_bias is not None:
        data["logit_bias"] = list(card.logit_bias)
    return data


def check(card: ModelCard, where: Path) -> None:
    """Refuse a card whose parts disagree with each other (``where`` names it in errors)."""
    if not card.labels:
        raise ModelDirError(f"{where}: the card lists no labels; {RETRAIN}")
    if card.rejection.method not in REJECTION_METHODS:
        raise ModelDirError(
            f"{where}: rejection.method {card.rejection.method!r}, expected one of "
            f"{', '.join(REJECTION_METHODS)}; {RETRAIN}"
        )
    if card.logit_bias is not None and len(card.logit_bias) != len(card.labels):
        raise ModelDirError(
            f"{where}: logit_bias must list one number per label ({len(card.labels)}), "
            f"got {len(card.logit_bias)}; {RETRAIN}"
        )


def require(path: Path, *names: str) -> None:
    """ModelDirError unless every file in ``names`` is in the directory ``path``."""
    for name in names:
        if not (path / name).is_file():
            raise ModelDirError(
                f"{path} is not a Frontdesk model directory: {name} is missing; "
                "point the setting at a directory written by 'frontdesk train'"
            )


class _Fields:
    """Typed access to one JSON object of the card, with errors that name the key."""

    def __init__(self, raw: Mapping[str, Any], where: Path, prefix: str = "") -> None:
        self.raw, self.where, self.prefix = raw, where, prefix

    def get(self, key: str, kind: Any, default: Any, expected: str) -> Any:
        # A missing key and null both mean "not set": cards from earlier versions omit some.
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
        raise self.wrong(key, expected, value)

    def wrong(self, key: str, expected: str, value: Any) -> ModelDirError:
        return ModelDirError(
            f"{self.where}: {self.prefix}{key} expected {expected}, got {_short(value)}; {RETRAIN}"
        )

    def text(self, key: str, default: str) -> str:
        value: str = self.get(key, str, default, "a string")
        return value

    def integer(self, key: str, default: int) -> int:
        value: int = self.get(key, int, default, "a whole number")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.get(key, int | float, default, "a number")
        if not math.isfinite(value):
            raise self.wrong(key, "a finite number", value)
        return float(value)

    def texts(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise self.wrong(key, "a list of strings", value)
        return tuple(value)


def _read_sparse(raw: Mapping[str, Any] | None, where: Path) -> SparseModel | None:
    if raw is None:
        return None
    fields = _Fields(raw, where, "sparse.")
    blocks = raw.get("blocks")
    expected = 'a list of {"analyzer": str, "ngram_range": [low, high]}'
    if not isinstance(blocks, list) or not blocks:
        raise fields.wrong("blocks", expected, blocks)
    parsed = []
    for block in blocks:
        ngrams = block.get("ngram_range") if isinstance(block, dict) else None
        if (
            not isinstance(block, dict)
            or not isinstance(block.get("analyzer"), str)
            or not isinstance(ngrams, list)
            or len(ngrams) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in ngrams)
        ):
            raise fields.wrong("blocks", expected, blocks)
        parsed.append((str(block["analyzer"]), (int(ngrams[0]), int(ngrams[1]))))
    for key in ("weight", "scale"):
        if key not in raw:
            raise fields.wrong(key, "a number", None)
    file = fields.text("file", SPARSE_NAME)
    if Path(file).name != file:
        raise fields.wrong("file", "a file name inside the model directory", file)
    return SparseModel(
        weight=fields.number("weight", 0.0),
        scale=fields.number("scale", 1.0),
        blocks=tuple(parsed),
        file=file,
    )


def _read_logit_bias(raw: Any, where: Path) -> tuple[float, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in raw
    ):
        raise ModelDirError(
            f"{where}: logit_bias expected a list of numbers, one per label, "
            f"got {_short(raw)}; {RETRAIN}"
        )
    return tuple(float(x) for x in raw)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(
            f"{path}: expected JSON, got unreadable text ({exc}); {RETRAIN}"
        ) from exc


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "null"}.get(type(value), _short(value))


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def checkpoints_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.checkpoints"


def check_out_dir(out: Path) -> None:
    """Refuse to replace anything at ``out`` that is not an earlier Frontdesk model."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} is a file; expected a directory to write the model into")
    if out.is_dir() and any(out.iterdir()) and not (out / CARD_NAME).is_file():
        raise ValueError(
            f"out: {out} exists and is not a Frontdesk model directory (no {CARD_NAME}); "
            "refusing to replace it. Choose a new directory or empty this one"
        )


def make_staging_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))


def _umask() -> int:
    # Reading the umask without os.umask(), which would briefly change it for every thread.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _open_permissions(directory: Path) -> None:
    """Give the tree the permissions a plain mkdir/open would have.

    mkdtemp creates 0700 and some savers write 0600 files, which would lock out a
    ``frontdesk serve`` running as another user.
    """
    mask = _umask()
    directory.chmod(0o777 & ~mask)
    for path in directory.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def publish(staging: Path, out: Path) -> None:
    """Move the finished ``staging`` directory to ``out``, replacing an older model there.

    Directories cannot be swapped atomically on POSIX, so the old model is first renamed
    aside: at every instant ``out`` is either the complete old model, absent for the time
    of one rename, or the complete new one.
    """
    check_out_dir(out)
    _open_permissions(staging)
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


def discard(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
