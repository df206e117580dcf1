"""Writing a model directory so that a crash never leaves a half-written one.

Everything is written into a hidden staging directory next to ``out`` (same file system,
so the final rename is cheap) and moved into place only when complete. Checkpoints live in
another hidden sibling, ``.{out.name}.checkpoints``, so that ``out`` itself only ever holds
what serving reads; they are deleted after a successful run and kept after a failed or
interrupted one, for ``--resume``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

CARD_NAME = "frontdesk.json"
LABELS_NAME = "labels.json"
METRICS_NAME = "metrics.json"


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
