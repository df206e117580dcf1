from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.base import atomic
from retrieval.base.atomic import DirectoryReplaceError, replace_directory


def _writer(text: str) -> Callable[[Path], None]:
    def write(staging: Path) -> None:
        (staging / "data.txt").write_text(text)

    return write


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_replace_directory_swaps_contents_and_cleans_up(
    exchange: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda first, second: False)
    target = tmp_path / "out"
    replace_directory(target, _writer("one"), replaceable=lambda path: True)
    replace_directory(target, _writer("two"), replaceable=lambda path: True)
    assert (target / "data.txt").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failed_write_leaves_the_old_directory_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out"
    replace_directory(target, _writer("one"), replaceable=lambda path: True)

    def broken(staging: Path) -> None:
        (staging / "data.txt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_directory(target, broken, replaceable=lambda path: True)
    assert (target / "data.txt").read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_replace_directory_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    with pytest.raises(DirectoryReplaceError, match="is not a directory"):
        replace_directory(tmp_path / "out", _writer("one"), replaceable=lambda path: True)
