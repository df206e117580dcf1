"""The on-disk form of an answer index: one directory of three files.

``index.faiss``
    The FAISS ``IndexIDMap2`` (see :mod:`retrieval.index.faiss_index` for its layouts).
``entries.jsonl``
    One ``{"key", "id", "question", "answer", "intent"}`` object per entry; ``key`` is the
    FAISS id of the entry's vector.
``manifest.json``
    ``{"format_version", "encoder": {"name", "fingerprint", "dimension"}, "dimension",
    "count", "index_type", "metric", "settings", "build", "data_fingerprint",
    "created_at", "updated_at", "revision"}``. ``revision`` and ``updated_at`` change with
    every add/remove, so a server can notice (via :func:`read_stamp`) that the directory
    was rewritten and reload it.

A directory is written whole and swapped in atomically, manifest last, so a reader never
sees half of one. Every way loading can fail raises :class:`IndexLoadError` with the
command that rebuilds the index, because the person reading it has to act.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.base.atomic import DirectoryReplaceError, replace_directory, write_file
from retrieval.base.qa import QAPair
from retrieval.index.faiss_index import INDEX_TYPES, IndexSettings
from retrieval.models.encoder import TextEncoder

FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
ENTRIES_FILE = "entries.jsonl"
MANIFEST_FILE = "manifest.json"


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


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An index's contents taken under its lock, so the slow write can happen outside it."""

    blob: bytes
    entries: list[dict[str, Any]]
    manifest: dict[str, Any]


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
        "data_fingerprint": data_fingerprint(entries.values()),
        "created_at": created_at,
        "updated_at": updated_at,
        "revision": revision,
    }


def snapshot(index: Any, entries: Mapping[int, QAPair], manifest: Mapping[str, Any]) -> Snapshot:
    """Copy everything :func:`write_index` needs, so later changes cannot reach it."""
    import faiss

    return Snapshot(
        blob=faiss.serialize_index(index).tobytes(),
        entries=[{"key": key, **dataclasses.asdict(entries[key])} for key in sorted(entries)],
        manifest=json.loads(json.dumps(manifest)),
    )


def write_index(directory: str | Path, contents: Snapshot) -> None:
    """Write the index directory, replacing an existing one atomically."""

    def write(staging: Path) -> None:
        write_file(staging / INDEX_FILE, contents.blob)
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
    return StoredIndex(
        index=index,
        entries=entries,
        index_type=index_type,
        settings=IndexSettings.from_mapping(manifest.get("settings") or {}),
        build=dict(manifest.get("build") or {}),
        created_at=str(manifest.get("created_at", "")),
        updated_at=str(manifest.get("updated_at", "")),
        revision=int(manifest.get("revision", 0)),
        masked=masked,
    )


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
