"""Finding and reading a Rasa project's files: ``data/**``, ``domain.yml`` or ``domain/``,
``tests/``, and the settings files beside them.

Files are read the way Rasa reads them (YAML 1.2 booleans: ``value: yes`` is the text "yes"),
and their node trees are kept so that every warning and error can name the line it is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.importers.rasa.report import Kind, Report
from retrieval.base.datafiles import DataFileError, Yaml12Loader

YAML_SUFFIXES = (".yml", ".yaml")
DATA_SECTIONS = frozenset({"version", "nlu", "rules", "stories", "responses"})


@dataclass(frozen=True, slots=True)
class Source:
    """One parsed YAML file and its node tree (for line numbers)."""

    path: Path
    rel: str
    data: Any
    node: yaml.Node | None

    def _find(self, keys: tuple[str | int, ...]) -> tuple[yaml.Node | None, yaml.Node | None]:
        """The node at ``keys`` (mapping keys, sequence indexes) and the node whose line names
        it (the key, for a mapping entry)."""
        node = self.node
        mark: yaml.Node | None = node
        for key in keys:
            if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                node = node.value[key] if 0 <= key < len(node.value) else None
                mark = node
            elif isinstance(node, yaml.MappingNode):
                pair = next(
                    ((k, v) for k, v in node.value if getattr(k, "value", None) == str(key)),
                    None,
                )
                mark, node = pair if pair else (None, None)
            else:
                node = mark = None
            if node is None:
                return None, None
        return node, mark

    def line(self, *keys: str | int) -> int | None:
        """1-based line of the entry at ``keys``."""
        _, mark = self._find(keys)
        return mark.start_mark.line + 1 if mark is not None else None

    def block_line(self, keys: tuple[str | int, ...], offset: int) -> int | None:
        """1-based line of line ``offset`` of the literal block (``|``) at ``keys``."""
        node, _ = self._find(keys)
        if isinstance(node, yaml.ScalarNode) and node.style == "|":
            return node.start_mark.line + 2 + offset
        return self.line(*keys)

    def at(self, *keys: str | int) -> str:
        line = self.line(*keys)
        return self.rel if line is None else f"{self.rel}:{line}"

    def section(self, key: str, kind: type, shape: str) -> Any:
        """The value of a top-level section, checked to be a ``kind``; None if absent."""
        value = self.data.get(key) if isinstance(self.data, dict) else None
        if value is None:
            return None
        if not isinstance(value, kind):
            raise DataFileError(
                self.path,
                f"'{key}:' must be {shape}, got {type_name(value)}",
                line=self.line(key),
                field=key,
                fix=f"write '{key}:' as {shape}, as in a project made by 'rasa init'",
            )
        return value


def load(path: Path, project: Path) -> Source:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text ({exc.reason})", fix="save it as UTF-8") from exc
    except OSError as exc:
        raise DataFileError(
            path, f"cannot read it ({exc.strerror})", fix="check its permissions"
        ) from exc
    loader = Yaml12Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise DataFileError(
            path,
            f"invalid YAML: {exc.problem or exc.context}",
            line=mark.line + 1 if mark else None,
            fix="check the indentation and the quoting on that line and the one above",
        ) from exc
    except yaml.YAMLError as exc:
        raise DataFileError(path, f"invalid YAML: {exc}", fix="check the syntax") from exc
    finally:
        loader.dispose()
    try:
        rel = path.relative_to(project).as_posix()
    except ValueError:
        rel = str(path)
    return Source(path, rel, data, node)


def type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def yaml_files(directory: Path) -> list[Path]:
    # By path text, so that data/nlu.yml comes before data/nlu/more.yml.
    return sorted(
        (
            file
            for file in directory.rglob("*")
            if file.is_file()
            and file.suffix.lower() in YAML_SUFFIXES
            and not any(part.startswith(".") for part in file.relative_to(directory).parts)
        ),
        key=lambda file: file.as_posix(),
    )


def _is_rasa1_data(file: Path) -> bool:
    """Rasa 1 Markdown/JSON training data (not a README that happens to sit in data/)."""
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(re.search(r"^##\s*(intent|story|rule|synonym|regex|lookup)\b", text, re.M)) or (
        "rasa_nlu_data" in text
    )


def data_sources(project: Path, report: Report) -> list[Source]:
    """The training data files under ``data/`` (NLU, rules, stories, responses)."""
    data_dir = project / "data"
    if not data_dir.is_dir():
        raise DataFileError(
            data_dir,
            "no data/ folder: this does not look like a Rasa project",
            fix="give the folder that holds domain.yml and data/ (what 'rasa init' made)",
        )
    sources = []
    for file in yaml_files(data_dir):
        source = load(file, project)
        if source.data is None:
            continue
        if not isinstance(source.data, dict):
            report.warn(
                Kind.NOT_TRAINING_DATA,
                source.rel,
                "skipped: not a Rasa training data file (no mapping)",
            )
            continue
        if not DATA_SECTIONS & (set(source.data) - {"version"}):
            report.warn(
                Kind.NOT_TRAINING_DATA,
                source.rel,
                "skipped: no nlu:, rules:, stories: or responses: section",
            )
            continue
        for key in source.data:
            if key not in DATA_SECTIONS:
                report.warn(
                    Kind.UNKNOWN_SECTION, source.at(key), f"not imported: section '{key}:'", key
                )
        sources.append(source)
        report.read.append(source.rel)
    for file in sorted(data_dir.rglob("*")):
        if file.suffix.lower() in (".md", ".json") and _is_rasa1_data(file):
            report.warn(
                Kind.RASA1_DATA,
                file.relative_to(project).as_posix(),
                "not imported: Rasa 1 training data; convert it first with "
                "'rasa data convert nlu -f yaml' (or 'rasa data convert core')",
            )
    return sources


def domain_sources(project: Path, report: Report) -> list[Source]:
    """``domain.yml`` (or ``.yaml``), else every YAML file in the ``domain/`` folder."""
    for name in ("domain.yml", "domain.yaml"):
        if (project / name).is_file():
            return [load(project / name, project)]
    folder = project / "domain"
    if folder.is_dir():
        return [load(file, project) for file in yaml_files(folder)]
    report.warn(
        Kind.NO_DOMAIN,
        "domain.yml",
        "not found: the domain.yml written lists only the NLU data's intents (no "
        "responses, slots, forms or actions)",
    )
    return []


def test_story_files(project: Path) -> list[Source]:
    """The YAML files under ``tests/`` with ``stories:`` or ``rules:``, which is what
    ``rasa test`` reads there (fixtures such as tracker JSON files are left alone)."""
    folder = project / "tests"
    if not folder.is_dir():
        return []
    found = []
    for file in yaml_files(folder):
        source = load(file, project)
        if isinstance(source.data, dict) and {"stories", "rules"} & set(source.data):
            found.append(source)
    return found


def settings_file(project: Path, name: str, report: Report) -> Source | None:
    """``config.yml``, ``endpoints.yml`` or ``credentials.yml`` (or ``.yaml``); None when
    absent or not a YAML mapping (then with a warning: these files never stop an import)."""
    for path in (project / name, project / name.replace(".yml", ".yaml")):
        if not path.is_file():
            continue
        try:
            source = load(path, project)
        except DataFileError as exc:
            report.warn(Kind.SETTINGS_UNREADABLE, path.name, f"not read ({exc.problem})", name)
            return None
        if source.data is None:
            return None
        if not isinstance(source.data, dict):
            report.warn(
                Kind.SETTINGS_UNREADABLE,
                source.rel,
                f"not read (expected a mapping, got {type_name(source.data)})",
                name,
            )
            return None
        return source
    return None
