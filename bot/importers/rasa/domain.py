"""The Rasa domain, merged from ``domain.yml`` or the files of ``domain/`` (and from the
``responses:`` of training data files, where Rasa keeps those of retrieval intents), kept the
way Rasa wrote it.

Frontdesk's dialogue engine reads Rasa's domain keys as Rasa does (slots with their mappings
and conditions, forms, responses, actions, session_config), so nothing is converted: the
files are merged as Rasa merges them (the first definition of a name wins) and every entry
remembers where it came from, so that a problem Frontdesk's domain reader finds in the
written file is reported at the project's own file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.importers.rasa.project import Source, type_name
from bot.importers.rasa.report import Kind, Report
from retrieval.base.datafiles import DataFileError
from retrieval.base.domain import SLOT_TYPES

# The version of Rasa's data format the files are written in (Rasa 3.x reads it).
FORMAT_VERSION = "3.1"
# Sections that list names, each alone or with its options (``- greet: {use_entities: []}``).
LIST_SECTIONS = ("intents", "entities", "actions")
# Sections that map names to definitions.
MAP_SECTIONS = ("slots", "forms", "responses")
SINGULAR = {
    "intents": "intent",
    "entities": "entity",
    "actions": "action",
    "slots": "slot",
    "forms": "form",
    "responses": "response",
}
# Sections that are one mapping; Frontdesk's own keys are kept if a project has them.
SINGLE_SECTIONS = ("session_config", "config", "categories", "intent_actions", "required_slots")
# The order the written domain.yml lists its sections in (Rasa's own order).
SECTION_ORDER = (
    "version",
    "intents",
    "entities",
    "slots",
    "forms",
    "responses",
    "actions",
    "session_config",
    "config",
    "e2e_actions",
    "intent_actions",
    "required_slots",
)
DOMAIN_SECTIONS = frozenset(
    {"version", "e2e_actions", *LIST_SECTIONS, *MAP_SECTIONS, *SINGLE_SECTIONS}
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One definition as written, and where: ``keys`` leads to it in ``source``."""

    value: Any
    source: Source
    keys: tuple[str | int, ...]

    @property
    def where(self) -> str:
        return self.source.at(*self.keys)


@dataclass(slots=True)
class RasaDomain:
    version: Any = None
    # section -> name -> its definition (a list item for LIST_SECTIONS)
    sections: dict[str, dict[str, Entry]] = field(
        default_factory=lambda: {name: {} for name in (*LIST_SECTIONS, *MAP_SECTIONS)}
    )
    single: dict[str, Entry] = field(default_factory=dict)
    e2e_actions: list[Any] = field(default_factory=list)

    def names(self, section: str) -> list[str]:
        return list(self.sections[section])

    @property
    def responses(self) -> dict[str, Entry]:
        return self.sections["responses"]

    def as_data(self, extra_intents: Iterable[str] = ()) -> dict[str, Any]:
        """The merged domain as Rasa's domain.yml mapping; ``extra_intents`` are listed
        after the domain's own (for a project without a domain)."""
        data: dict[str, Any] = {"version": FORMAT_VERSION if self.version is None else self.version}
        intents = [entry.value for entry in self.sections["intents"].values()]
        intents += [name for name in extra_intents if name not in self.sections["intents"]]
        for section in SECTION_ORDER[1:]:
            if section == "intents":
                value: Any = intents
            elif section in LIST_SECTIONS:
                value = [entry.value for entry in self.sections[section].values()]
            elif section in MAP_SECTIONS:
                value = {name: entry.value for name, entry in self.sections[section].items()}
            elif section == "e2e_actions":
                value = self.e2e_actions
            else:
                value = self.single[section].value if section in self.single else None
            if value:
                data[section] = value
        return data

    def locate(self, field_path: str | None) -> tuple[Source, int | None] | None:
        """The project file and line of a domain field as Frontdesk's reader names it
        (``slots.cuisine.mappings[0]``, ``forms.f.required_slots``, ``session_config.x``)."""
        keys = _field_keys(field_path or "")
        if not keys:
            return None
        section = str(keys[0])
        entry: Entry | None = None
        rest: list[str | int] = []
        if section in self.sections and len(keys) > 1:
            entry = self.sections[section].get(str(keys[1]))
            rest = keys[2:]
        elif section in self.single:
            entry = self.single[section]
            rest = keys[1:]
        if entry is None:
            return None
        for length in range(len(rest), -1, -1):
            line = entry.source.line(*entry.keys, *rest[:length])
            if line is not None:
                return entry.source, line
        return entry.source, None


def _field_keys(path: str) -> list[str | int]:
    keys: list[str | int] = []
    for part in path.split(".") if path else []:
        name, _, indexes = part.partition("[")
        keys.append(name)
        keys.extend(int(i) for i in re.findall(r"(\d+)\]", indexes))
    return keys


def read_domain(sources: list[Source], data_sources: list[Source], report: Report) -> RasaDomain:
    """The domain from its files, then the responses of the training data files."""
    domain = RasaDomain()
    for source in sources:
        if source.data is None:
            continue
        if not isinstance(source.data, dict):
            raise DataFileError(
                source.path,
                f"expected a mapping of sections, got {type_name(source.data)}",
                line=1,
                fix="start with sections such as 'intents:' and 'responses:'",
            )
        report.read.append(source.rel)
        for key in source.data:
            if key not in DOMAIN_SECTIONS:
                report.warn(
                    Kind.UNKNOWN_SECTION,
                    source.at(key),
                    f"not imported: unknown domain section '{key}:'",
                    str(key),
                )
        if domain.version is None and source.data.get("version") is not None:
            domain.version = source.data["version"]
        for section in LIST_SECTIONS:
            _read_list(domain, source, section, report)
        for section in MAP_SECTIONS:
            _read_map(domain, source, section, report)
        for section in SINGLE_SECTIONS:
            value = source.section(section, dict, "a mapping")
            if value is not None:
                entry = Entry(value, source, (section,))
                _keep_first(domain.single, section, entry, "section", report)
        for action in source.section("e2e_actions", list, "a list of texts") or []:
            if action not in domain.e2e_actions:
                domain.e2e_actions.append(action)
    for source in data_sources:
        _read_map(domain, source, "responses", report)
    _report_formats(domain, report)
    return domain


def _read_list(domain: RasaDomain, source: Source, section: str, report: Report) -> None:
    for index, item in enumerate(source.section(section, list, "a list") or []):
        name: Any = item
        if isinstance(item, dict):
            name = next(iter(item)) if len(item) == 1 else None
        if not isinstance(name, str | int) or isinstance(name, bool) or name == "":
            report.warn(
                Kind.DOMAIN_ITEM,
                source.at(section, index),
                f"skipped: {section} item {item!r} (write '- NAME' or '- NAME: {{options}}')",
                section,
            )
            continue
        entry = Entry(item, source, (section, index))
        _keep_first(domain.sections[section], str(name), entry, SINGULAR[section], report)


def _read_map(domain: RasaDomain, source: Source, section: str, report: Report) -> None:
    for name, value in (source.section(section, dict, "a mapping") or {}).items():
        entry = Entry(value, source, (section, name))
        _keep_first(domain.sections[section], str(name), entry, SINGULAR[section], report)


def _keep_first(seen: dict[str, Entry], name: str, entry: Entry, what: str, report: Report) -> None:
    """Rasa merges domain files keeping the first definition of a name; a second one that
    says something else is reported, an identical one is not."""
    first = seen.get(name)
    if first is None:
        seen[name] = entry
    elif first.value != entry.value:
        report.warn(
            Kind.DEFINED_TWICE,
            entry.where,
            f"{what} {name} is defined twice; kept the one at {first.where}",
            f"{what} {name}",
        )


def _report_formats(domain: RasaDomain, report: Report) -> None:
    """What Frontdesk reads differently from Rasa 3: Rasa 2 forms and slots, and custom
    slot classes (a Python class Frontdesk cannot run)."""
    for name, entry in domain.sections["forms"].items():
        spec = entry.value
        if isinstance(spec, dict) and isinstance(spec.get("required_slots"), dict):
            report.warn(
                Kind.RASA2_FORMAT,
                entry.where,
                f"form {name}: required_slots maps slots to mappings (Rasa 2); Frontdesk "
                "reads its slot names only, and their mappings under slots:",
                f"form {name}",
            )
    for name, entry in domain.sections["slots"].items():
        spec = entry.value
        if not isinstance(spec, dict):
            continue
        if "auto_fill" in spec:
            report.warn(
                Kind.RASA2_FORMAT,
                entry.where,
                f"slot {name}: auto_fill (Rasa 2) is ignored; Rasa 3 fills slots from their "
                "mappings only",
                f"slot {name}",
            )
        kind = spec.get("type")
        if isinstance(kind, str) and kind not in SLOT_TYPES and "." in kind:
            report.warn(
                Kind.SLOT_CLASS,
                entry.where,
                f"slot {name}: type {kind} is a slot class; Frontdesk keeps its value as "
                "type any (never featurized)",
                f"{name}: {kind}",
            )
