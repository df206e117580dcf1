"""The on-disk form of an answer index: one directory of three files.

``index.faiss``
    The FAISS ``IndexIDMap2`` (see :mod:`retrieval.index.faiss_index` for its layouts).
``entries.jsonl``
    One ``{"key", "id", "question", "answer", "intent"}`` object per entry; ``key`` is the
    FAISS id of the entry's vector.
``manifest.json``
    ``{"format_version", "encoder": {"name", "fingerprint", "dimension"}, "dimension",
    "count", "index_type", "metric", "settings", "build", "answering", "data_fingerprint",
    "created_at", "updated_at", "revision"}``. ``revision`` and ``updated_at`` change with
    every add/remove, so a server can notice (via :func:`read_stamp`) that the directory
    was rewritten and reload it. ``answering`` says how the index answers (``method``:
    plain, vote or head) and how that was chosen (see :mod:`retrieval.index.methods`); an
    index without it answers ``plain``, as every index did before there was a choice.
``head.npz`` (optional)
    The intent head fitted on the current contents (labels, weights, bias, examples and
    the revision it was fitted at), so a server loading an index that answers ``head``
    does not fit it again. A head of another revision is ignored and fitted afresh.

A directory is written whole and swapped in atomically, manifest last, so a reader never
sees half of one. Every way loading can fail raises :class:`IndexLoadError` with the
command that rebuilds the index, because the person reading it has to act.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.base.atomic import DirectoryReplaceError, replace_directory, write_file
from retrieval.base.qa import QAPair
from retrieval.index.examples import EXAMPLES_FILE, IntentExamples
from retrieval.index.faiss_index import INDEX_TYPES, IndexSettings
from retrieval.index.intents import ANSWER_METHODS, IntentHead
from retrieval.models.encoder import TextEncoder

FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
ENTRIES_FILE = "entries.jsonl"
MANIFEST_FILE = "manifest.json"
HEAD_FILE = "head.npz"
PLAIN_ANSWERING: dict[str, Any] = {"method": "plain", "chosen_by": "default"}
"""What an index built without a choice (or before there was one) answers with."""


class AnswerIndexError(RuntimeError):
    """Base class for index problems a person has to act on."""


class IndexLoadError(AnswerIndexError):
    """An index directory that is missing, corrupt, or built with another encoder."""


class IndexSaveError(AnswerIndexError):
    """An index that cannot be written where it was asked to go."""


@dataclass(frozen=True, slots=True)
class StoredIndex:
    """What an index directory holds, checked against itself and the encoder."""

    index: Any
    entries: dict[int, QAPair]
    index_type: str
    settings: IndexSettings
    build: dict[str, Any]
    created_at: str
    updated_at: str
    revision: int
    masked: set[int]
    """FAISS ids with a vector but no entry: removed from an HNSW graph or IVF lists, which
    cannot delete in place, and masked at search time until the next compaction."""
    answering: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(PLAIN_ANSWERING))
    head: IntentHead | None = None
    """The stored intent head, when it was fitted at the stored revision."""
    examples: IntentExamples | None = None
    """The intent examples embedded beside the answers (:mod:`.examples`), if any."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An index's contents taken under its lock, so the slow write can happen outside it."""

    blob: bytes
    entries: list[dict[str, Any]]
    manifest: dict[str, Any]
    head: bytes | None = None
    # Immutable, so it is serialised by write_index, outside the index's lock.
    examples: IntentExamples | None = None


def read_stamp(directory: str | Path) -> str | None:
    """The stored index's :attr:`AnswerIndex.stamp`, or None when there is none readable.

    Cheap (one small JSON file), for a server polling whether to reload.
    """
    try:
        manifest = json.loads((Path(directory) / MANIFEST_FILE).read_text(encoding="utf-8"))
        return make_stamp(int(manifest["revision"]), str(manifest["updated_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def make_stamp(revision: int, updated_at: str) -> str:
    """What :func:`read_stamp` and ``AnswerIndex.stamp`` compare."""
    return f"{revision}@{updated_at}"


def timestamp() -> str:
    """Now, as the manifest records times."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def build_manifest(
    *,
    encoder: TextEncoder,
    entries: Mapping[int, QAPair],
    index_type: str,
    settings: IndexSettings,
    build: Mapping[str, Any],
    created_at: str,
    updated_at: str,
    revision: int,
    answering: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "encoder": {
            "name": encoder.name,
            "fingerprint": encoder.fingerprint,
            "dimension": encoder.dimension,
        },
        "dimension": encoder.dimension,
        "count": len(entries),
        "index_type": index_type,
        "metric": "inner_product",
        "embedded_field": "question",
        "settings": dataclasses.asdict(settings),
        "build": build,
        "answering": dict(answering or PLAIN_ANSWERING),
        "data_fingerprint": data_fingerprint(entries.values()),
        "created_at": created_at,
        "updated_at": updated_at,
        "revision": revision,
    }


def snapshot(
    index: Any,
    entries: Mapping[int, QAPair],
    manifest: Mapping[str, Any],
    head: IntentHead | None = None,
    examples: IntentExamples | None = None,
) -> Snapshot:
    """Copy everything :func:`write_index` needs, so later changes cannot reach it.

    ``head`` is the intent head fitted at the manifest's revision, or None to store none;
    ``examples`` the intent examples the index carries, or None.
    """
    import faiss

    return Snapshot(
        blob=faiss.serialize_index(index).tobytes(),
        entries=[{"key": key, **dataclasses.asdict(entries[key])} for key in sorted(entries)],
        manifest=json.loads(json.dumps(manifest)),
        head=None if head is None else head_bytes(head, int(manifest["revision"])),
        examples=examples,
    )


def head_bytes(head: IntentHead, revision: int) -> bytes:
    """``head`` as the contents of :data:`HEAD_FILE` (plain arrays: no pickles to load)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        labels=np.array(head.labels, dtype=str),
        weights=head.weights,
        bias=head.bias,
        examples=np.array(head.examples, dtype=np.int64),
        revision=np.array(revision, dtype=np.int64),
    )
    return buffer.getvalue()


def write_index(directory: str | Path, contents: Snapshot) -> None:
    """Write the index directory, replacing an existing one atomically."""

    def write(staging: Path) -> None:
        write_file(staging / INDEX_FILE, contents.blob)
        if contents.head is not None:
            write_file(staging / HEAD_FILE, contents.head)
        if contents.examples is not None:
            write_file(staging / EXAMPLES_FILE, contents.examples.to_bytes())
        write_file(
            staging / ENTRIES_FILE,
            (json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in contents.entries),
        )
        # The manifest goes last: a directory with a manifest is a complete one.
        write_file(
            staging / MANIFEST_FILE,
            json.dumps(contents.manifest, indent=2, ensure_ascii=False).encode() + b"\n",
        )

    try:
        replace_directory(Path(directory), write, replaceable=_is_index_directory)
    except DirectoryReplaceError as exc:
        raise IndexSaveError(str(exc)) from exc


def read_index(directory: str | Path, encoder: TextEncoder) -> StoredIndex:
    """Read an index directory, refusing one built with a different encoder."""
    directory = Path(directory)
    manifest = _read_manifest(directory)
    _check_encoder(directory, manifest, encoder)
    index = _read_faiss(directory, encoder.dimension)
    entries = _read_entries(directory)
    stored = {int(k) for k in _faiss_ids(index)}
    index_type = manifest.get("index_type")
    if index_type not in INDEX_TYPES:
        raise _corrupt(directory, f"{MANIFEST_FILE} has unknown index_type {index_type!r}")
    missing = set(entries) - stored
    masked = stored - set(entries)
    if missing or (masked and index_type == "flat") or manifest.get("count") != len(entries):
        raise _corrupt(
            directory,
            f"{ENTRIES_FILE} ({len(entries)} entries), {INDEX_FILE} ({len(stored)} "
            f"vectors) and {MANIFEST_FILE} (count {manifest.get('count')}) disagree",
        )
    revision = int(manifest.get("revision", 0))
    return StoredIndex(
        index=index,
        entries=entries,
        index_type=index_type,
        settings=IndexSettings.from_mapping(manifest.get("settings") or {}),
        build=dict(manifest.get("build") or {}),
        created_at=str(manifest.get("created_at", "")),
        updated_at=str(manifest.get("updated_at", "")),
        revision=revision,
        masked=masked,
        answering=_read_answering(directory, manifest),
        head=_read_head(directory, revision, encoder.dimension),
        examples=_read_examples(directory, encoder.dimension),
    )


def _read_examples(directory: Path, dimension: int) -> IntentExamples | None:
    path = directory / EXAMPLES_FILE
    if not path.is_file():
        return None
    try:
        return IntentExamples.read(path, dimension)
    except (OSError, KeyError, ValueError) as exc:
        raise _corrupt(directory, f"{EXAMPLES_FILE} cannot be read ({exc})") from exc


def data_fingerprint(pairs: Iterable[QAPair]) -> str:
    """A digest of the contents, independent of their order, to tell two indexes apart."""
    digest = hashlib.sha256()
    for pair in sorted(pairs, key=lambda p: p.id):
        digest.update(json.dumps(dataclasses.astuple(pair), ensure_ascii=False).encode())
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()[:32]


def _rebuild_hint(directory: Path) -> str:
    return f"rebuild it with 'frontdesk index build --data PATH --out {directory}'"


def _corrupt(directory: Path, problem: str) -> IndexLoadError:
    return IndexLoadError(f"index {directory} is unusable: {problem}; {_rebuild_hint(directory)}")


def _is_index_directory(path: Path) -> bool:
    return (path / MANIFEST_FILE).is_file() or not any(path.iterdir())


def _read_manifest(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise IndexLoadError(
            f"index directory {directory} does not exist; build one with "
            f"'frontdesk index build --data PATH --out {directory}'"
        )
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise _corrupt(directory, f"{MANIFEST_FILE} is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _corrupt(directory, f"{MANIFEST_FILE} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise _corrupt(directory, f"{MANIFEST_FILE} is not a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexLoadError(
            f"index {directory} has format_version {version!r}, this Frontdesk reads "
            f"{FORMAT_VERSION}; {_rebuild_hint(directory)}"
        )
    return manifest


def _check_encoder(directory: Path, manifest: Mapping[str, Any], encoder: TextEncoder) -> None:
    built_with = manifest.get("encoder")
    if not isinstance(built_with, dict):
        raise _corrupt(directory, f"{MANIFEST_FILE} does not say which encoder built it")
    name = built_with.get("name")
    if built_with.get("dimension") != encoder.dimension:
        raise IndexLoadError(
            f"index {directory} holds {built_with.get('dimension')}-dimensional vectors from "
            f"encoder {name!r}, but the configured encoder {encoder.name!r} produces "
            f"{encoder.dimension}; configure the encoder it was built with, or "
            f"{_rebuild_hint(directory)}"
        )
    # The fingerprint decides, not the name: the same model in another directory is the
    # same encoder, while retrained weights in the same directory are not.
    if built_with.get("fingerprint") != encoder.fingerprint:
        raise IndexLoadError(
            f"index {directory} was built with encoder {name!r} "
            f"({built_with.get('fingerprint')}), not the configured {encoder.name!r} "
            f"({encoder.fingerprint}); scores would be meaningless. Configure the encoder it "
            f"was built with, or {_rebuild_hint(directory)}"
        )


def _read_faiss(directory: Path, dimension: int) -> Any:
    import faiss

    path = directory / INDEX_FILE
    if not path.is_file():
        raise _corrupt(directory, f"{INDEX_FILE} is missing")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        raise _corrupt(directory, f"{INDEX_FILE} cannot be read ({first_line})") from exc
    if not isinstance(index, faiss.IndexIDMap2):
        raise _corrupt(directory, f"{INDEX_FILE} is a {type(index).__name__}, not IndexIDMap2")
    if index.d != dimension:
        raise _corrupt(
            directory, f"{INDEX_FILE} has dimension {index.d}, the manifest says {dimension}"
        )
    return index


def _faiss_ids(index: Any) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(index.id_map)


def _read_answering(directory: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    answering = manifest.get("answering")
    if answering is None:
        return dict(PLAIN_ANSWERING)
    if not isinstance(answering, dict) or answering.get("method") not in ANSWER_METHODS:
        raise _corrupt(
            directory,
            f"{MANIFEST_FILE} has answering {answering!r}; expected an object whose method is "
            f"one of {', '.join(ANSWER_METHODS)}",
        )
    return dict(answering)


def _read_head(directory: Path, revision: int, dimension: int) -> IntentHead | None:
    path = directory / HEAD_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            fitted_at = int(stored["revision"])
            head = IntentHead(
                [str(label) for label in stored["labels"]],
                stored["weights"],
                stored["bias"],
                [int(n) for n in stored["examples"]],
            )
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise _corrupt(directory, f"{HEAD_FILE} cannot be read ({exc})") from exc
    if head.dimension != dimension:
        raise _corrupt(
            directory, f"{HEAD_FILE} has dimension {head.dimension}, the index {dimension}"
        )
    # Written with the manifest, so only a hand-edited directory disagrees; refit then.
    return head if fitted_at == revision else None


def _read_entries(directory: Path) -> dict[int, QAPair]:
    path = directory / ENTRIES_FILE
    if not path.is_file():
        raise _corrupt(directory, f"{ENTRIES_FILE} is missing")
    entries: dict[int, QAPair] = {}
    seen_ids: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise _corrupt(directory, f"{ENTRIES_FILE} is not UTF-8 text") from exc
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            key = record["key"]
            pair = QAPair(
                id=record["id"],
                question=record["question"],
                answer=record["answer"],
                intent=record.get("intent"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise _corrupt(
                directory, f"{ENTRIES_FILE} line {number} is not a valid entry ({exc!r})"
            ) from exc
        if not isinstance(key, int) or key in entries or pair.id in seen_ids:
            raise _corrupt(directory, f"{ENTRIES_FILE} line {number} repeats a key or an id")
        entries[key] = pair
        seen_ids.add(pair.id)
    return entries
