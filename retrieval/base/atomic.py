"""Replacing a whole directory so that readers see the old one or the new one, never half.

A server may load the index directory while ``frontdesk index build`` rewrites it. Files
are written into a hidden sibling first; the sibling then takes the target's place in one
``renameat2(RENAME_EXCHANGE)`` where Linux offers it, else by two renames (a window of
microseconds in which the target is absent; loaders report that as "missing", and a
retry succeeds).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class DirectoryReplaceError(RuntimeError):
    """The target exists but must not be replaced (it is a file or someone else's folder)."""


def replace_directory(
    target: Path,
    write: Callable[[Path], None],
    *,
    replaceable: Callable[[Path], bool],
) -> None:
    """Call ``write(tmp_dir)`` and move the result to ``target``, replacing what was there.

    ``replaceable(target)`` guards against deleting something that is not ours: saving an
    index with ``--out .`` must fail, not wipe the working directory.
    """
    target = Path(target)
    if target.is_symlink():
        # Replace what the link points to and keep the link: swapping the link itself
        # would turn a deliberate symlink layout into a plain directory.
        target = target.resolve()
    if target.exists() and not target.is_dir():
        raise DirectoryReplaceError(f"{target} exists and is not a directory")
    if target.is_dir() and not replaceable(target):
        raise DirectoryReplaceError(
            f"{target} already exists and is not an index directory; choose an empty or "
            "new directory"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # A sibling, not /tmp: rename only works within one file system.
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        write(staging)
        _fsync_directory(staging)
        if target.is_dir():
            _swap_into_place(staging, target)
        else:
            os.rename(staging, target)
        _fsync_directory(target.parent)
    finally:
        # After a swap, ``staging`` holds the previous version; after a failure, the
        # partial write. Either way it must not be left behind.
        shutil.rmtree(staging, ignore_errors=True)


def write_file(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write and fsync, so a crash after the rename cannot leave an empty file in place."""
    with path.open("wb") as handle:
        if isinstance(data, bytes):
            handle.write(data)
        else:
            for chunk in data:
                handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())


def _swap_into_place(staging: Path, target: Path) -> None:
    if _exchange(staging, target):
        return
    retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
    os.rename(target, retired)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(retired, target)
        raise
    # Put the old version where the caller's cleanup will delete it.
    os.rename(retired, staging)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths; False where the OS or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False  # glibc before 2.28, or musl without the wrapper
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    status = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if status == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _fsync_directory(path: Path) -> None:
    # Some file systems refuse fsync on directories; durability is best-effort there.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
