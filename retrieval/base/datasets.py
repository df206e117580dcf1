"""Reading labelled text examples (CSV/TSV, JSONL, Rasa NLU YAML) and checking them.

Every example keeps the file and line it came from, so that every later complaint (a
duplicate, a conflict, a misclassification in the evaluation report) can point a person at
the exact line to fix.

Sentiment labels are ``negative``, ``neutral`` and ``positive`` (case-insensitive). The
integers 0, 1 and 2 are accepted for them too, in that order, because that is how the common
public sentiment sets (e.g. TweetEval) are published; no other numbering is guessed.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from retrieval.base.datafiles import (
    TABULAR_SUFFIXES,
    DataFileError,
    Row,
    load_yaml,
    pick_column,
    read_rows,
)
from retrieval.base.labels import FALLBACK_INTENT, OOS_LABELS

TASKS = ("intent", "sentiment")
SENTIMENT_LABELS = ("negative", "neutral", "positive")
SENTIMENT_BY_NUMBER = {"0": "negative", "1": "neutral", "2": "positive"}
YAML_SUFFIXES = (".yml", ".yaml")
SUPPORTED_SUFFIXES = (*TABULAR_SUFFIXES, *YAML_SUFFIXES)
TEXT_COLUMNS = ("text",)
LABEL_COLUMNS: dict[str | None, tuple[str, ...]] = {
    "intent": ("intent", "category", "label"),
    "sentiment": ("sentiment", "label", "category"),
    None: ("intent", "category", "label", "sentiment"),
}
RASA_SKIPPED_KEYS = ("synonym", "regex", "lookup")
DEFAULT_MIN_PER_LABEL = 5

# Rasa entity annotations: [text](entity), [text](entity:value), [text]{"entity": ...} and
# [text][{"entity": ...}, ...]; intent training keeps the text, retrieval.base.nlu_entities
# reads the rest.
ENTITY_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]\n]*)\]"
    r"(?:\((?P<entity>[^:)\n]*)(?::(?P<value>[^)\n]*))?\)"
    r"|\{(?P<dict>[^}\n]*)\}|\[(?P<list>[^\]\n]*)\])"
)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text and where it was read from (file and 1-based line)."""

    text: str
    label: str
    source: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def load_examples(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    task: str | None = None,
) -> list[Example]:
    """Read labelled examples from a file, or from every supported file under a directory.

    ``text_column``/``label_column`` name the columns of CSV/TSV/JSONL files when they are
    not the usual ones (``text``; ``intent``, ``category`` or ``label``). With
    ``task="sentiment"`` the labels are checked and normalised to negative/neutral/positive.
    Raises :class:`DataFileError` for anything that cannot be used as it is.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task: got {task!r}, expected one of {', '.join(TASKS)}")
    path = Path(path)
    if path.is_dir():
        files = data_files(path)
        if not files:
            raise DataFileError(
                path,
                "no data files in this directory",
                fix=f"add files ending in {', '.join(SUPPORTED_SUFFIXES)}",
            )
        examples = [
            example
            for file in files
            for example in _read_file(file, text_column, label_column, task, in_directory=True)
        ]
    else:
        examples = _read_file(path, text_column, label_column, task, in_directory=False)
    if not examples:
        raise DataFileError(path, "no examples found", fix="add labelled examples")
    return examples


def data_files(directory: Path) -> list[Path]:
    # Hidden files and folders are editor backups, VCS metadata or our own checkpoints.
    return sorted(
        file
        for file in directory.rglob("*")
        if file.is_file()
        and file.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in file.relative_to(directory).parts)
    )


def _read_file(
    path: Path,
    text_column: str | None,
    label_column: str | None,
    task: str | None,
    *,
    in_directory: bool,
) -> list[Example]:
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        return _read_rasa(path, task, in_directory=in_directory)
    if not path.exists():
        raise DataFileError(path, "file not found", fix="check the path")
    if suffix not in TABULAR_SUFFIXES:
        raise DataFileError(
            path,
            f"unsupported file type {suffix or '(none)'!r}",
            fix=f"use one of {', '.join(SUPPORTED_SUFFIXES)}",
        )
    return _read_tabular(path, text_column, label_column, task)


def _read_tabular(
    path: Path, text_column: str | None, label_column: str | None, task: str | None
) -> list[Example]:
    header, rows = read_rows(path)
    text_key = pick_column(
        path, header, [text_column] if text_column else TEXT_COLUMNS, role="text"
    )
    label_key = pick_column(
        path, header, [label_column] if label_column else LABEL_COLUMNS[task], role="label"
    )
    return [
        Example(
            text=_row_text(path, row, text_key),
            label=_label(path, row.values.get(label_key), row.line, label_key, task),
            source=str(path),
            line=row.line,
        )
        for row in rows
    ]


def _row_text(path: Path, row: Row, column: str) -> str:
    value = row.values.get(column)
    # A number where text belongs is almost always a shifted column, not a message.
    if value is not None and not isinstance(value, str):
        raise DataFileError(
            path,
            f"expected text, got {_type_name(value)}",
            line=row.line,
            field=column,
            fix="write the message as a string",
        )
    if value is None or not value.strip():
        raise DataFileError(
            path,
            "empty text",
            line=row.line,
            field=column,
            fix="fill in the text or delete the row",
        )
    return value.strip()


def _label(path: Path, value: Any, line: int, field: str, task: str | None) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataFileError(
            path, "empty label", line=line, field=field, fix="fill in the label or delete the row"
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataFileError(
            path,
            f"expected a label name, got {_type_name(value)}",
            line=line,
            field=field,
            fix="write the label as a string",
        )
    label = str(value).strip()
    if task == "sentiment":
        normalised = SENTIMENT_BY_NUMBER.get(label, label.lower())
        if normalised not in SENTIMENT_LABELS:
            raise DataFileError(
                path,
                f"unknown sentiment label {label!r}",
                line=line,
                field=field,
                fix="use negative, neutral or positive (or 0, 1, 2 in that order)",
            )
        return normalised
    if label == FALLBACK_INTENT:
        raise DataFileError(
            path,
            f"{FALLBACK_INTENT!r} is what the bot calls a rejected prediction, not a label",
            line=line,
            field=field,
            fix="label out-of-scope examples 'out_of_scope'",
        )
    return label


def _type_name(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", list: "a list"}
    return names.get(type(value), "an object" if isinstance(value, dict) else type(value).__name__)


def _read_rasa(path: Path, task: str | None, *, in_directory: bool) -> list[Example]:
    data = load_yaml(path)
    if not isinstance(data, dict) or "nlu" not in data:
        if in_directory:
            # Rasa projects keep domain, stories and responses next to the NLU files.
            return []
        raise DataFileError(
            path,
            "no 'nlu:' section",
            line=1,
            fix="write the examples as Rasa NLU YAML: 'nlu:' then '- intent: NAME' items",
        )
    items = data["nlu"]
    if not isinstance(items, list):
        raise DataFileError(
            path, "'nlu:' must be a list", field="nlu", fix="start each item with '- intent:'"
        )
    # safe_load forgets where things were; the composed node tree remembers the lines.
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    nodes = mapping_value(root, "nlu")
    item_nodes = nodes.value if isinstance(nodes, yaml.SequenceNode) else []
    examples: list[Example] = []
    for index, item in enumerate(items):
        node = item_nodes[index] if index < len(item_nodes) else None
        line = node.start_mark.line + 1 if node is not None else 1
        examples.extend(_rasa_item(path, item, node, line, task))
    return examples


def _rasa_item(
    path: Path, item: Any, node: yaml.Node | None, line: int, task: str | None
) -> list[Example]:
    if not isinstance(item, dict):
        raise DataFileError(
            path, "expected an '- intent: NAME' item", line=line, fix="see the Rasa NLU format"
        )
    if "intent" not in item:
        if any(key in item for key in RASA_SKIPPED_KEYS):
            return []  # synonyms, regexes and lookups feed Rasa's entity extractors only
        raise DataFileError(
            path,
            f"unknown item with keys {', '.join(map(str, item))}",
            line=line,
            fix="each nlu item needs 'intent:' (synonym, regex and lookup items are skipped)",
        )
    intent = item["intent"]
    if intent is None or (isinstance(intent, str) and not intent.strip()):
        raise DataFileError(
            path, "missing intent name", line=line, field="intent", fix="write '- intent: NAME'"
        )
    label = _label(path, intent, line, "intent", task)
    raw = item.get("examples")
    value_node = mapping_value(node, "examples")
    if isinstance(raw, str):
        pairs = block_lines(raw, value_node, line)
    elif isinstance(raw, list):
        pairs = listed_examples(path, raw, value_node, line)
    else:
        raise DataFileError(
            path,
            f"intent {intent!r} has no examples",
            line=line,
            field="examples",
            fix="add an 'examples: |' block with one '- text' line per example",
        )
    examples = []
    for text_line, number in pairs:
        stripped = text_line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not stripped.startswith("-"):
            raise DataFileError(
                path,
                f"example line does not start with '-': {stripped[:40]!r}",
                line=number,
                field="examples",
                fix="start each example with '- '",
            )
        text = ENTITY_ANNOTATION.sub(r"\g<text>", stripped[1:]).strip()
        if not text:
            raise DataFileError(
                path,
                "empty example",
                line=number,
                field="examples",
                fix="write the example after '- ' or delete the line",
            )
        examples.append(Example(text=text, label=label, source=str(path), line=number))
    return examples


def block_lines(raw: str, node: yaml.Node | None, item_line: int) -> list[tuple[str, int]]:
    if isinstance(node, yaml.ScalarNode) and node.style == "|":
        # A literal block starts on the line after its '|'; its lines map one to one.
        first = node.start_mark.line + 2
        return [(text, first + offset) for offset, text in enumerate(raw.split("\n"))]
    line = node.start_mark.line + 1 if node is not None else item_line
    return [(text, line) for text in raw.split("\n")]


def listed_examples(
    path: Path, raw: list[Any], node: yaml.Node | None, item_line: int
) -> list[tuple[str, int]]:
    # Rasa also allows 'examples:' as a list of '- text: ...' mappings (to attach metadata).
    children = node.value if isinstance(node, yaml.SequenceNode) else []
    pairs = []
    for index, entry in enumerate(raw):
        line = children[index].start_mark.line + 1 if index < len(children) else item_line
        text = entry.get("text") if isinstance(entry, dict) else entry
        if not isinstance(text, str):
            raise DataFileError(
                path,
                f"expected example text, got {_type_name(text)}",
                line=line,
                field="examples",
                fix="write '- text: ...' or use an 'examples: |' block",
            )
        pairs.append((f"- {text}", line))
    return pairs


def mapping_value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


# --- checks -------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """The form two examples must share to count as the same message to the model.

    The bundled tokenizer is uncased, and a trailing '?' or '!' rarely changes an intent,
    so case, repeated whitespace and surrounding punctuation are ignored.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _WHITESPACE.sub(" ", folded).strip().strip(string.punctuation + " ")


@dataclass(frozen=True, slots=True)
class Conflict:
    """Examples whose texts normalise to the same string but carry different labels."""

    text: str
    examples: tuple[Example, ...]

    def describe(self) -> str:
        listed = "; ".join(f"{e.label!r} at {e.where}" for e in self.examples)
        return (
            f"error: conflicting labels for {self.text!r}: {listed}; "
            "keep the right one and delete or relabel the others"
        )


def find_conflicts(examples: Iterable[Example]) -> list[Conflict]:
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[normalise_text(example.text)].append(example)
    return [
        Conflict(text=group[0].text, examples=tuple(group))
        for group in groups.values()
        if len({e.label for e in group}) > 1
    ]


def find_duplicates(examples: Iterable[Example]) -> list[tuple[Example, Example]]:
    """(first, repeat) pairs of examples with the same text and label."""
    first_seen: dict[tuple[str, str], Example] = {}
    pairs = []
    for example in examples:
        key = (example.text, example.label)
        if key in first_seen:
            pairs.append((first_seen[key], example))
        else:
            first_seen[key] = example
    return pairs


def deduplicate(examples: Iterable[Example]) -> list[Example]:
    """The examples without exact repeats (same text and label), first occurrence kept.

    Training drops repeats so that one copy cannot land in the training split and its twin
    in the validation split, which would make validation scores look better than they are.
    """
    seen: set[tuple[str, str]] = set()
    kept = []
    for example in examples:
        key = (example.text, example.label)
        if key not in seen:
            seen.add(key)
            kept.append(example)
    return kept


def check_examples(
    examples: Sequence[Example], min_per_label: int = DEFAULT_MIN_PER_LABEL
) -> list[str]:
    """Problems worth a person's attention, errors first.

    Messages start with ``error:`` (conflicting labels: training refuses such data) or
    ``warning:`` (exact duplicates, labels with fewer than ``min_per_label`` examples).
    """
    messages = [conflict.describe() for conflict in find_conflicts(examples)]
    messages += [
        f"warning: duplicate example {repeat.text!r} ({repeat.label}) at {first.where} and "
        f"{repeat.where}; training uses it once, delete the copy"
        for first, repeat in find_duplicates(examples)
    ]
    counts = Counter(e.label for e in deduplicate(examples))
    messages += [
        f"warning: label {label!r} has only {count} example{'s' if count != 1 else ''} "
        f"(at least {min_per_label} recommended); add more or merge it into another label"
        for label, count in sorted(counts.items())
        if count < min_per_label
    ]
    return messages


def label_order(task: str, examples: Iterable[Example]) -> list[str]:
    """The classifier's output labels: the fixed sentiment order, or sorted intent names."""
    present = {e.label for e in examples}
    if task == "sentiment":
        return [label for label in SENTIMENT_LABELS if label in present]
    return sorted(present)


def is_out_of_scope(label: str) -> bool:
    return label in OOS_LABELS


def fingerprint(examples: Iterable[Example]) -> str:
    """sha256 of the normalised (label, text) set: unchanged by file order or layout."""
    lines = sorted({f"{e.label}\t{normalise_text(e.text)}" for e in examples})
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
