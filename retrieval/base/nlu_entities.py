"""Reading the entity side of Rasa NLU data: annotated spans, synonyms, lookups, regexes.

:func:`retrieval.base.datasets.load_examples` reads the same files for intent training and
throws the annotations away; here they are kept, so that a Rasa project's entities can be
learned (training.entities) and measured (training.evaluate) without the project changing
a line. Only Rasa YAML carries annotations: CSV and JSONL files are skipped.

An annotated example keeps its plain text exactly as ``load_examples`` makes it, with every
span as character offsets into that text, and the file and line it came from, so that a
malformed annotation is reported where a person can fix it, and so that training can put
each annotated example on the same side of the train/validation split as its intent row.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from retrieval.base.datafiles import DataFileError, load_yaml
from retrieval.base.datasets import (
    ENTITY_ANNOTATION,
    YAML_SUFFIXES,
    block_lines,
    data_files,
    listed_examples,
    mapping_value,
)

RESOURCE_KINDS = ("synonym", "lookup", "regex")
ANNOTATION_FIX = (
    'write [text](entity), [text](entity:value) or [text]{"entity": "name", "role": ..., '
    '"group": ..., "value": ...}'
)
# What is left of an annotation the annotation pattern could not read: "[Berlin](city" or
# "[Berlin]{"entity": "city"" with the closing bracket missing.
_UNFINISHED = re.compile(r"\[[^\]\n]*\][({\[]")


@dataclass(frozen=True, slots=True)
class EntitySpan:
    """One annotated entity: ``text[start:end]`` of its example, and what Rasa makes of it.

    ``value`` is the annotated value, the span's own text when none was given; ``role`` and
    ``group`` are None when not annotated.
    """

    start: int
    end: int
    entity: str
    value: str
    role: str | None = None
    group: str | None = None

    def key(self) -> tuple[int, int, str, str | None, str | None]:
        """What must agree for a predicted entity to count as this one (evaluation)."""
        return self.start, self.end, self.entity, self.role, self.group


@dataclass(frozen=True, slots=True)
class AnnotatedExample:
    """One intent example's plain text (as ``load_examples`` reads it) and its entities."""

    text: str
    intent: str
    entities: tuple[EntitySpan, ...]
    source: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def key(self) -> tuple[str, int, str]:
        """The same for this example and its intent row (``Example``): file, line, text."""
        return self.source, self.line, self.text


@dataclass(frozen=True, slots=True)
class EntityData:
    """Everything the entity extractors learn from.

    ``synonyms`` is the table Rasa's EntitySynonymMapper builds: lower-cased text to the
    value it stands for, from ``synonym:`` items and from annotations whose value differs
    from their text. ``warnings`` are problems worth a person's attention that do not stop
    training (a text mapped to two different values: the later mapping wins, as in Rasa).
    """

    examples: tuple[AnnotatedExample, ...] = ()
    synonyms: Mapping[str, str] = field(default_factory=dict)
    lookups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    regexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def entity_names(self) -> tuple[str, ...]:
        """The entity names that occur in annotations, sorted."""
        return tuple(sorted({span.entity for e in self.examples for span in e.entities}))

    @property
    def has_entities(self) -> bool:
        return any(e.entities for e in self.examples)

    def entity_counts(self) -> dict[str, int]:
        counts = Counter(span.entity for e in self.examples for span in e.entities)
        return dict(sorted(counts.items()))


def load_entity_data(path: str | Path) -> EntityData:
    """The annotated examples, synonyms, lookups and regexes of a file or directory.

    Reads the Rasa YAML files among those :func:`~retrieval.base.datasets.load_examples`
    reads (a directory's data files; any other file yields nothing). Structural problems
    of the intent items are ``load_examples``' to report; here a malformed annotation or
    resource item raises :class:`DataFileError` with its file and line.
    """
    path = Path(path)
    files = data_files(path) if path.is_dir() else [path]
    reader = _Reader()
    for file in files:
        if file.suffix.lower() in YAML_SUFFIXES:
            reader.read(file)
    return reader.result()


def parse_annotated(
    raw: str, *, path: str | Path = "<text>", line: int | None = None
) -> tuple[str, tuple[EntitySpan, ...]]:
    """The plain text of one example line (without its leading '- ') and its entities.

    The text is stripped as ``load_examples`` strips it, and the spans shifted with it.
    """
    parts: list[str] = []
    spans: list[EntitySpan] = []
    length = position = 0
    for match in ENTITY_ANNOTATION.finditer(raw):
        before = raw[position : match.start()]
        parts.append(before)
        length += len(before)
        text = match.group("text")
        annotation = match.group(0)
        if not text.strip():
            raise DataFileError(
                path,
                f"entity annotation {annotation!r} marks no text",
                line=line,
                field="examples",
                fix="put the entity's words between the square brackets",
            )
        for attributes in _attributes(match, path, line):
            spans.append(_span(attributes, text, length, annotation, path, line))
        parts.append(text)
        length += len(text)
        position = match.end()
    parts.append(raw[position:])
    joined = "".join(parts)
    unfinished = _UNFINISHED.search(joined)
    if unfinished is not None:
        raise DataFileError(
            path,
            f"unfinished entity annotation {unfinished.group(0)!r}",
            line=line,
            field="examples",
            fix=f"close the brackets; {ANNOTATION_FIX}",
        )
    lead = len(joined) - len(joined.lstrip())
    text = joined.strip()
    shifted = tuple(
        EntitySpan(s.start - lead, s.end - lead, s.entity, s.value, s.role, s.group) for s in spans
    )
    return text, shifted


def _attributes(match: re.Match[str], path: str | Path, line: int | None) -> list[Any]:
    annotation = match.group(0)
    if match.group("dict") is not None or match.group("list") is not None:
        body = (
            "{" + match.group("dict") + "}"
            if match.group("dict") is not None
            else "[" + match.group("list") + "]"
        )
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError as exc:
            raise DataFileError(
                path,
                f"entity annotation {annotation!r} is not valid JSON ({exc.msg})",
                line=line,
                field="examples",
                fix=ANNOTATION_FIX,
            ) from exc
        listed = parsed if isinstance(parsed, list) else [parsed]
        if not listed:
            raise DataFileError(
                path,
                f"entity annotation {annotation!r} lists no entities",
                line=line,
                field="examples",
                fix=ANNOTATION_FIX,
            )
        return listed
    value = match.group("value")
    return [{"entity": match.group("entity").strip(), **({"value": value} if value else {})}]


def _span(
    attributes: Any,
    text: str,
    start: int,
    annotation: str,
    path: str | Path,
    line: int | None,
) -> EntitySpan:
    def wrong(problem: str) -> DataFileError:
        return DataFileError(
            path,
            f"entity annotation {annotation!r} {problem}",
            line=line,
            field="examples",
            fix=ANNOTATION_FIX,
        )

    if not isinstance(attributes, dict):
        raise wrong("must hold JSON objects")
    entity = attributes.get("entity")
    if not isinstance(entity, str) or not entity.strip():
        raise wrong("names no entity")
    named: dict[str, str | None] = {}
    for key in ("value", "role", "group"):
        value = attributes.get(key)
        # Numbers are common for groups ("group": 1) and harmless as values.
        if isinstance(value, bool) or not isinstance(value, str | int | float | type(None)):
            raise wrong(f"has a {key} that is not text")
        named[key] = None if value is None else str(value)
    return EntitySpan(
        start=start,
        end=start + len(text),
        entity=entity.strip(),
        value=named["value"] if named["value"] is not None else text,
        role=named["role"],
        group=named["group"],
    )


class _Reader:
    """Collects what the files hold, in file order, warning about conflicting synonyms."""

    def __init__(self) -> None:
        self.examples: list[AnnotatedExample] = []
        self.synonyms: dict[str, str] = {}
        self.synonym_origin: dict[str, str] = {}
        self.lookups: dict[str, list[str]] = {}
        self.regexes: dict[str, list[str]] = {}
        self.warnings: list[str] = []

    def result(self) -> EntityData:
        return EntityData(
            examples=tuple(self.examples),
            synonyms=dict(self.synonyms),
            lookups={name: tuple(dict.fromkeys(items)) for name, items in self.lookups.items()},
            regexes={name: tuple(dict.fromkeys(items)) for name, items in self.regexes.items()},
            warnings=tuple(self.warnings),
        )

    def read(self, path: Path) -> None:
        data = load_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("nlu"), list):
            return  # domain, stories and rules files; load_examples reports a bad nlu file
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        nodes = mapping_value(root, "nlu")
        item_nodes = nodes.value if isinstance(nodes, yaml.SequenceNode) else []
        for index, item in enumerate(data["nlu"]):
            node = item_nodes[index] if index < len(item_nodes) else None
            line = node.start_mark.line + 1 if node is not None else 1
            if isinstance(item, dict):
                self._item(path, item, node, line)

    def _item(self, path: Path, item: dict[str, Any], node: yaml.Node | None, line: int) -> None:
        if "intent" in item:
            if item["intent"] is None or "examples" not in item:
                return  # load_examples says what is missing
            intent = str(item["intent"]).strip()
            for raw, number in _entries(path, item, node, line, required=False):
                text, spans = parse_annotated(raw, path=path, line=number)
                if text:
                    self.examples.append(AnnotatedExample(text, intent, spans, str(path), number))
                    for span in spans:
                        self._synonym(text[span.start : span.end], span.value, f"{path}:{number}")
            return
        kind = next((k for k in RESOURCE_KINDS if k in item), None)
        if kind is None:
            return
        name = item[kind]
        if not isinstance(name, str | int | float) or isinstance(name, bool) or not str(name):
            raise DataFileError(
                path, f"missing {kind} name", line=line, field=kind, fix=f"write '- {kind}: NAME'"
            )
        name = str(name).strip()
        entries = [
            (raw.strip(), number)
            for raw, number in _entries(path, item, node, line, required=True)
            if raw.strip()
        ]
        if kind == "synonym":
            for variant, number in entries:
                self._synonym(variant, name, f"{path}:{number}")
        elif kind == "lookup":
            self.lookups.setdefault(name, []).extend(element for element, _ in entries)
        else:
            for pattern, number in entries:
                _check_regex(path, name, pattern, number)
            self.regexes.setdefault(name, []).extend(pattern for pattern, _ in entries)

    def _synonym(self, text: str, value: str, where: str) -> None:
        # Rasa's EntitySynonymMapper: only a text that differs from its value is a synonym;
        # the table is keyed by the lower-cased text, the value kept as written.
        if text == value:
            return
        key = text.lower()
        if key in self.synonyms and self.synonyms[key] != value:
            self.warnings.append(
                f"warning: {text!r} is a synonym of {self.synonyms[key]!r} "
                f"({self.synonym_origin[key]}) and of {value!r} ({where}); the latter wins, "
                "keep one"
            )
        self.synonyms[key] = value
        self.synonym_origin[key] = where


def _entries(
    path: Path, item: dict[str, Any], node: yaml.Node | None, line: int, *, required: bool
) -> Iterable[tuple[str, int]]:
    """An item's '- ' lines without the dash, with their line numbers; comments skipped."""
    raw = item.get("examples")
    value_node = mapping_value(node, "examples")
    if isinstance(raw, str):
        pairs = block_lines(raw, value_node, line)
    elif isinstance(raw, list):
        pairs = listed_examples(path, raw, value_node, line)
    elif required:
        raise DataFileError(
            path,
            "no examples",
            line=line,
            field="examples",
            fix="add an 'examples: |' block with one '- item' line per entry",
        )
    else:
        return
    for text, number in pairs:
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not stripped.startswith("-"):
            raise DataFileError(
                path,
                f"line does not start with '-': {stripped[:40]!r}",
                line=number,
                field="examples",
                fix="start each entry with '- '",
            )
        yield stripped[1:], number


def _check_regex(path: Path, name: str, pattern: str, line: int) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise DataFileError(
            path,
            f"regex {name!r}: {pattern!r} is not a valid regular expression ({exc})",
            line=line,
            field="examples",
            fix="escape special characters with a backslash or fix the pattern",
        ) from exc
