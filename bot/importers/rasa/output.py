"""Writing the data directory: YAML that Rasa and Frontdesk read back as it was meant, checked
with Frontdesk's own readers, and put in place only when every file is good, each by a
rename, so that a failed import leaves the output folder as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from retrieval.base.atomic import write_file
from retrieval.base.datafiles import DataFileError, Yaml12Loader

# The files every import writes (test story files are written beside them, under tests/).
OUTPUT_FILES = ("domain.yml", "nlu.yml", "rules.yml", "stories.yml")
# Words some YAML reader takes for true/false: YAML 1.1 (PyYAML) reads all of them so, YAML
# 1.2 (Rasa) only true/false. Quoted, each is text to every reader.
_BOOLEAN_WORDS = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
)
# The items of the training data files: a rule, a story, an intent and its examples, ...
_DATA_ITEM = re.compile(r"- (?:rule|story|intent|synonym|regex|lookup): ")
BUG_FIX = "please report this as a bug in 'frontdesk import rasa', with the Rasa file"


class _Dumper(yaml.SafeDumper):
    """Block style, literal ``|`` blocks for multi-line text, quoted yes/no/on/off, and
    every repeated value written out in full (no ``&anchor``/``*alias`` to puzzle over)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else "'" if _BOOLEAN_WORDS.match(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any, header: str = "") -> bytes:
    """``data`` as YAML after the comment ``header``, checked to read back (as YAML 1.2, the
    way Rasa and Frontdesk read it) as ``data`` itself: a value that came back otherwise
    (``yes`` as true, text as a number) would change what the bot does."""
    stream = io.StringIO()
    yaml.dump(
        data,
        stream,
        Dumper=_Dumper,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        width=10_000,
    )
    text = stream.getvalue()
    if yaml.load(text, Loader=Yaml12Loader) != data:
        raise DataFileError("<output>", "a value does not read back as it was written", fix=BUG_FIX)
    spaced = _spaced(text)
    if yaml.load(spaced, Loader=Yaml12Loader) == data:
        text = spaced
    return (header + text).encode("utf-8")


def _spaced(text: str) -> str:
    """A blank line between the top-level sections and between their items (each rule,
    story, intent with examples), as Rasa's own files are laid out: a person edits these
    files next. The domain's lists of names stay together."""
    lines = text.split("\n")
    out: list[str] = []
    for line in lines:
        section = line[:1] not in ("", " ", "#", "-")
        item = _DATA_ITEM.match(line) is not None and out[-1:] != [] and out[-1].startswith(" ")
        if (section and out) or item:
            out.append("")
        out.append(line)
    return "\n".join(out)


def exists_error(target: Path) -> DataFileError:
    return DataFileError(
        target,
        "already exists",
        fix="pass --force to overwrite it, or choose another --out folder",
    )


def write_outputs(
    out: Path,
    files: Mapping[str, bytes],
    check: Callable[[Path], None],
    *,
    overwrite: bool,
) -> None:
    """Write ``files`` (paths relative to ``out``) into ``out``: all of them into a staging
    folder first, where ``check`` reads them, then each into place by a rename."""
    staging = out / f".rasa-import-{uuid.uuid4().hex[:12]}"
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise DataFileError(
            out, f"cannot write here ({exc.strerror})", fix="choose a folder you can write to"
        ) from exc
    try:
        for name, content in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            write_file(staging / name, content)
        check(staging)
        if not overwrite:
            for name in files:
                if (out / name).exists():
                    raise exists_error(out / name)
        folders = {out}
        for name in files:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, out / name)
            folders.add((out / name).parent)
        for folder in folders:
            _sync(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sync(folder: Path) -> None:
    """Make the renames durable: a crash right after an import must not lose it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
