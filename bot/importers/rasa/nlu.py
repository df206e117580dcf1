"""Rasa NLU data (``nlu:`` items of every data file) merged into one ``nlu.yml``.

Everything Rasa trains on is kept as Rasa reads it: intents with their examples (entity
annotations such as ``[Percy](PERSON)`` or ``[x]{"entity": "city", "role": "from"}`` included:
they train the entity extractor, and the intent trainer strips them), synonyms, regexes and
lookup tables. An item split over several files (an intent with examples in two places) is
merged into one, and an example repeated within it is written once. What Rasa itself would
skip (a line without ``- ``) is skipped with a warning, and so is an example the intent
trainer would refuse (one that is nothing but markup, examples labelled ``nlu_fallback``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.importers.rasa.project import Source, type_name
from bot.importers.rasa.report import Kind, Report
from retrieval.base.labels import FALLBACK_INTENT

ITEM_KINDS = ("intent", "synonym", "regex", "lookup")
ITEM_KEYS = ("examples", "metadata")
# Entity markup as the intent trainer (retrieval/base/datasets.py) strips it, to find the
# examples it would read as empty.
_ANNOTATION = re.compile(r"\[(?P<text>[^\]\n]*)\](?:\([^)\n]*\)|\{[^}\n]*\})")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    metadata: Any = None


@dataclass(slots=True)
class Item:
    """One intent, synonym, regex or lookup table, merged over the files that hold it."""

    kind: str
    name: Any  # as written: a synonym's value may be a number
    where: str
    metadata: Any = None
    examples: list[Example] = field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {self.kind: self.name}
        if self.metadata is not None:
            data["metadata"] = self.metadata
        if any(e.metadata is not None or "\n" in e.text for e in self.examples):
            # Rasa's list form is the one that can carry an example's metadata.
            data["examples"] = [
                {"text": e.text} if e.metadata is None else {"text": e.text, "metadata": e.metadata}
                for e in self.examples
            ]
        else:
            data["examples"] = "".join(f"- {e.text}\n" for e in self.examples)
        return data


@dataclass(slots=True)
class NluData:
    items: dict[tuple[str, str], Item] = field(default_factory=dict)

    def intents(self) -> dict[str, list[str]]:
        """Intent -> the texts of its examples, in the order first seen."""
        return {
            str(item.name): [e.text for e in item.examples]
            for item in self.items.values()
            if item.kind == "intent"
        }

    def as_data(self, version: str) -> dict[str, Any]:
        """Rasa's NLU file: intents first, then synonyms, regexes and lookup tables."""
        ordered = sorted(self.items.values(), key=lambda item: ITEM_KINDS.index(item.kind))
        return {"version": version, "nlu": [item.as_data() for item in ordered]}


def read_nlu(sources: list[Source], report: Report) -> NluData:
    nlu = NluData()
    repeated = 0
    for source in sources:
        items = source.section("nlu", list, "a list of '- intent:' items") or []
        for index, raw in enumerate(items):
            found = _item(source, index, raw, report)
            if found is None:
                continue
            kind, name = found
            keys = ("nlu", index, "examples")
            examples = _examples(raw.get("examples"), source, keys, f"{kind} {name}", report)
            if kind == "intent":
                examples = _trainable(examples, source.at(*keys), str(name), report)
            if not examples:
                report.warn(
                    Kind.ITEM_WITHOUT_EXAMPLES,
                    source.at("nlu", index),
                    f"skipped: {kind} {name} has no examples",
                    f"{kind} {name}",
                )
                continue
            item = nlu.items.setdefault(
                (kind, str(name)),
                Item(kind, name, source.at("nlu", index), raw.get("metadata")),
            )
            known = {e.text for e in item.examples}
            for example in examples:
                if example.text in known:
                    repeated += 1
                    continue
                known.add(example.text)
                item.examples.append(example)
    if repeated:
        report.warn(
            Kind.REPEATED_EXAMPLES,
            "",
            f"dropped {repeated} repeated example{'s' if repeated > 1 else ''} (same text, "
            "same intent, synonym, regex or lookup)",
        )
    _report_retrieval_intents(nlu, report)
    return nlu


def _item(source: Source, index: int, raw: Any, report: Report) -> tuple[str, Any] | None:
    """The kind and name of an nlu item; None (and a warning) for one Rasa cannot read."""
    where = source.at("nlu", index)
    if not isinstance(raw, dict):
        report.warn(Kind.NLU_ITEM, where, f"skipped: an nlu item that is {type_name(raw)}")
        return None
    kind = next((k for k in ITEM_KINDS if k in raw), None)
    if kind is None:
        keys = ", ".join(map(str, raw))
        report.warn(Kind.NLU_ITEM, where, f"skipped: nlu item with keys {keys}", keys)
        return None
    name = raw[kind]
    if isinstance(name, str):
        name = name.strip()
    if not isinstance(name, str | int | float) or isinstance(name, bool) or name == "":
        report.warn(Kind.NLU_ITEM, where, f"skipped: a {kind} without a name")
        return None
    if kind == "intent" and name == FALLBACK_INTENT:
        report.warn(
            Kind.FALLBACK_EXAMPLES,
            where,
            f"not imported: examples for {FALLBACK_INTENT} (the classifier predicts it when "
            "no intent is confident, and training refuses it as a label; label such "
            "examples 'out_of_scope')",
        )
        return None
    for key in raw:
        if key != kind and key not in ITEM_KEYS:
            report.warn(
                Kind.ITEM_KEY,
                source.at("nlu", index, key),
                f"{kind} {name}: not imported: key '{key}'",
                f"{name}: {key}",
            )
    return kind, str(name) if kind == "intent" else name


def _examples(
    raw: Any, source: Source, keys: tuple[str | int, ...], what: str, report: Report
) -> list[Example]:
    """The examples of an item: an ``examples: |`` block of ``- text`` lines, or Rasa's list
    of ``- text: ...`` mappings (which may carry metadata)."""
    examples: list[Example] = []
    if isinstance(raw, str):
        for offset, line in enumerate(raw.split("\n")):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not line.startswith("-"):
                number = source.block_line(keys, offset)
                at = source.rel if number is None else f"{source.rel}:{number}"
                report.warn(
                    Kind.EXAMPLE,
                    at,
                    f"{what}: skipped: example line without '- ': {line[:40]!r}",
                    what,
                )
                continue
            text = line[1:].strip()
            if text:
                examples.append(Example(text))
    elif isinstance(raw, list):
        for number, entry in enumerate(raw):
            value = entry.get("text") if isinstance(entry, dict) else entry
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                metadata = entry.get("metadata") if isinstance(entry, dict) else None
                if str(value).strip():
                    examples.append(Example(str(value).strip(), metadata))
            else:
                report.warn(
                    Kind.EXAMPLE, source.at(*keys, number), f"{what}: skipped: {entry!r}", what
                )
    return examples


def _trainable(examples: list[Example], where: str, intent: str, report: Report) -> list[Example]:
    """The examples the intent trainer can read: not nothing but entity markup."""
    kept = []
    for example in examples:
        if _ANNOTATION.sub(r"\g<text>", example.text).strip():
            kept.append(example)
        else:
            report.warn(
                Kind.EXAMPLE,
                where,
                f"intent {intent}: skipped: example {example.text!r} has no words outside "
                "its entity markup",
                intent,
            )
    return kept


def _report_retrieval_intents(nlu: NluData, report: Report) -> None:
    for item in nlu.items.values():
        name = str(item.name)
        if item.kind == "intent" and "/" in name:
            base = name.split("/", 1)[0]
            report.warn(
                Kind.RETRIEVAL_INTENT,
                item.where,
                f"intent {name}: a retrieval intent; rules and stories name '{base}', which "
                f"the classifier never predicts (it predicts '{name}')",
                base,
            )
