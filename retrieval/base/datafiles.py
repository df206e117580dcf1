"""Reading the project's data files (CSV, JSONL, YAML) with errors a person can act on.

Every reader in the project (training data, Q&A, responses, orders) goes through here so
that a bad file is always reported the same way: the file, the line, the field, what was
wrong and how to fix it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class DataFileError(ValueError):
    """A data file that cannot be used as it is.

    The message always names the file and, where known, the line and the field, then says
    what to do about it.
    """

    def __init__(
        self,
        path: str | Path,
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        self.fix = fix
        where = self.path if line is None else f"{self.path}:{line}"
        if field is not None:
            where += f" (field {field!r})"
        message = f"{where}: {problem}"
        if fix:
            message += f". Fix: {fix}"
        super().__init__(message)


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans, as Rasa reads its files: ``value: yes`` and ``title: No`` are text,
    not true/false (a Rasa project's slots and buttons depend on it)."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(frozen=True, slots=True)
class Row:
    """One record of a tabular file, with the 1-based line it started on."""

    line: int
    values: dict[str, Any]


TABULAR_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")


def read_rows(path: str | Path) -> tuple[list[str], list[Row]]:
    """Read a CSV/TSV (with a header) or JSONL file into rows.

    Returns the column names (for JSONL, the keys seen, in first-seen order) and the rows.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "file not found", fix="check the path")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _read_csv(path, delimiter="\t" if suffix == ".tsv" else ",")
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    raise DataFileError(
        path,
        f"unsupported file type {suffix or '(none)'!r}",
        fix="use .csv, .tsv or .jsonl",
    )


def _read_csv(path: Path, delimiter: str) -> tuple[list[str], list[Row]]:
    reader: Any = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            # csv.reader (not DictReader) so that blank lines, which DictReader skips silently,
            # still count: a row starts on the line after the previous row ended.
            reader = csv.reader(handle, delimiter=delimiter)
            header: list[str] = []
            for record in reader:
                if record:
                    header = [name.strip() for name in record]
                    break
            if not header:
                raise DataFileError(path, "the file is empty", line=1, fix="add a header row")
            rows: list[Row] = []
            line = reader.line_num
            for record in reader:
                start, line = line + 1, reader.line_num
                if not record:
                    continue
                if len(record) > len(header):
                    raise DataFileError(
                        path,
                        f"{len(record)} fields but the header has {len(header)}",
                        line=start,
                        fix="quote values that contain the delimiter",
                    )
                values: dict[str, Any] = dict.fromkeys(header)
                values.update(zip(header, record, strict=False))
                rows.append(Row(start, values))
            return header, rows
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text ({exc.reason})", fix="save it as UTF-8") from exc
    except csv.Error as exc:
        line_num = reader.line_num if reader is not None else None
        raise DataFileError(
            path, f"malformed CSV: {exc}", line=line_num, fix="check quoting"
        ) from exc


def _read_jsonl(path: Path) -> tuple[list[str], list[Row]]:
    header: dict[str, None] = {}
    rows: list[Row] = []
    try:
        # split("\n"), not splitlines(): JSON strings may hold U+2028 and friends unescaped.
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text ({exc.reason})", fix="save it as UTF-8") from exc
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFileError(
                path, f"invalid JSON ({exc.msg})", line=number, fix="one JSON object per line"
            ) from exc
        if not isinstance(record, dict):
            raise DataFileError(
                path,
                f"expected a JSON object, got {type(record).__name__}",
                line=number,
                fix="one JSON object per line",
            )
        header.update(dict.fromkeys(record))
        rows.append(Row(number, record))
    return list(header), rows


def pick_column(
    path: str | Path, header: Sequence[str], candidates: Sequence[str], *, role: str
) -> str:
    """Return the first of ``candidates`` present in ``header`` or explain what is missing."""
    for name in candidates:
        if name in header:
            return name
    raise DataFileError(
        path,
        f"no {role} column: expected one of {', '.join(candidates)}; "
        f"found {', '.join(header) or 'no columns'}",
        line=1,
        fix=f"rename the {role} column in the header",
    )


def required_text(path: str | Path, row: Row, column: str) -> str:
    """The stripped string value of ``column`` in ``row``, or a DataFileError if it is blank."""
    value = optional_text(path, row, column)
    if value is None:
        raise DataFileError(
            path, "empty value", line=row.line, field=column, fix="fill it in or delete the row"
        )
    return value


def optional_text(path: str | Path, row: Row, column: str) -> str | None:
    """The stripped string value of ``column`` in ``row``; None when absent or blank."""
    value = row.values.get(column)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DataFileError(
            path,
            f"expected text, got {type(value).__name__}",
            line=row.line,
            field=column,
            fix="use a string",
        )
    return str(value).strip() or None


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file, turning parser errors into DataFileErrors with the line."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "file not found", fix="check the path")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=Yaml12Loader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise DataFileError(
            path, f"invalid YAML: {exc.problem}", line=line, fix="check the indentation"
        ) from exc
    except yaml.YAMLError as exc:
        raise DataFileError(path, f"invalid YAML: {exc}", fix="check the syntax") from exc


def yaml_line_index(path: str | Path, needles: Sequence[str]) -> Iterator[tuple[str, int]]:
    """Best-effort 1-based line numbers of the first occurrence of each needle in a file."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for needle in needles:
        for number, text in enumerate(lines, start=1):
            if needle in text:
                yield needle, number
                break
