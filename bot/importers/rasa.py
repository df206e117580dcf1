"""``frontdesk import rasa PATH --out DIR``: a Rasa 3 project converted into Frontdesk's files.

Reads the project's NLU data (``data/**/*.yml`` files with ``nlu:``), its domain
(``domain.yml`` or the ``domain/`` folder: responses, slots, forms, actions) and its rules and
stories, and writes the three files Frontdesk serves from:

- ``nlu.yml``: every intent's examples, merged into one Rasa NLU YAML file. Entity
  annotations such as ``[NW-12345](order_id)`` stay as they are (the trainer strips them).
- ``responses.yml``: which response answers which intent comes from the rules and stories
  (the first ``- intent: X`` directly followed by ``- action: utter_y``), else from the names
  (``utter_x`` answers intent ``x``); ``utter_please_rephrase`` or ``utter_default`` answers
  ``nlu_fallback``. Every response is also kept under its own name without ``utter_`` (a YAML
  alias when it already answers an intent), so that custom actions calling
  ``utter_message(response="utter_y")`` still find it.
- ``domain.yml``: intents answered by a custom action, slots filled from entities (prompted
  with ``utter_ask_<slot>``) and, for forms, the slots the action after the form needs.

What Frontdesk does not do the way Rasa does (conditional and channel-specific response
variants, entity synonyms, regexes and lookup tables, slots not filled from an entity, story
context) is left out and reported as a warning saying where it was. Odd content never stops
an import; a file that is not YAML, or a section of the wrong shape, raises
:class:`DataFileError` with the file, the line and the fix. The three files are written only
after all of them have been converted and load with Frontdesk's own readers, and then each
by a rename, so a failed import leaves ``DIR`` as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from retrieval.base.atomic import write_file
from retrieval.base.datafiles import DataFileError
from retrieval.models.classifier import FALLBACK_INTENT
from retrieval.templates import VARIANT_KEYS, ResponseTemplates, placeholders

OUTPUT_FILES = ("nlu.yml", "responses.yml", "domain.yml")
NLU_VERSION = "3.1"
YAML_SUFFIXES = (".yml", ".yaml")

# Rasa's built-in actions (rasa/shared/core/constants.py): nothing to import for them.
RASA_DEFAULT_ACTIONS = frozenset(
    {
        "action_listen",
        "action_restart",
        "action_session_start",
        "action_default_fallback",
        "action_deactivate_loop",
        "action_revert_fallback_events",
        "action_default_ask_affirmation",
        "action_default_ask_rephrase",
        "action_two_stage_fallback",
        "action_unlikely_intent",
        "action_back",
        "action_send_text",
        "action_extract_slots",
    }
)
# Frontdesk's own fallback (one "please rephrase", then a person) covers these.
FALLBACK_ACTIONS = frozenset(
    {"action_default_fallback", "action_two_stage_fallback", "action_default_ask_rephrase"}
)
# The Rasa responses that say "I didn't understand", in the order they are preferred.
FALLBACK_RESPONSES = ("utter_please_rephrase", "utter_default")
# The entities bot/chat/entities.py extracts; a slot filled from another entity stays empty
# until an extractor for it is added.
BUILTIN_ENTITIES = frozenset({"order_id", "email", "amount", "date"})
DOMAIN_SECTIONS = frozenset(
    {
        "version",
        "intents",
        "entities",
        "slots",
        "responses",
        "forms",
        "actions",
        "session_config",
        "config",
        "e2e_actions",
    }
)
NLU_SKIPPED = {
    "synonym": "Frontdesk does not map entity synonyms",
    "regex": "Frontdesk's entities come from its built-in rules (bot/chat/entities.py)",
    "lookup": "Frontdesk's entities come from its built-in rules (bot/chat/entities.py)",
}

# Rasa entity annotations, as the trainer strips them: [text](entity), [text]{"entity": ...}.
_ANNOTATION = re.compile(r"\[(?P<text>[^\]\n]*)\](?:\([^)\n]*\)|\{[^}\n]*\})")
_INTENT_PAYLOAD = re.compile(r"^/[\w/-]+")
_ANCHOR_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")
_SINGULAR = {"rules": "rule", "stories": "story"}


# --- reading YAML as Rasa does -------------------------------------------------------------


class _RasaLoader(yaml.SafeLoader):
    """YAML 1.2 booleans, as Rasa's own reader: ``- intent: yes`` and ``title: No`` are text,
    not true/false."""


_RasaLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RasaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(frozen=True, slots=True)
class _Source:
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
                f"'{key}:' must be {shape}, got {_type_name(value)}",
                line=self.line(key),
                field=key,
                fix=f"write '{key}:' as {shape}, as in a project made by 'rasa init'",
            )
        return value


def _load(path: Path, project: Path) -> _Source:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text ({exc.reason})", fix="save it as UTF-8") from exc
    except OSError as exc:
        raise DataFileError(
            path, f"cannot read it ({exc.strerror})", fix="check its permissions"
        ) from exc
    loader = _RasaLoader(text)
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
    return _Source(path, rel, data, node)


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def _is_rasa1_data(file: Path) -> bool:
    """Rasa 1 Markdown/JSON training data (not a README that happens to sit in data/)."""
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(re.search(r"^##\s*(intent|story|rule|synonym|regex|lookup)\b", text, re.M)) or (
        "rasa_nlu_data" in text
    )


def _yaml_files(directory: Path) -> list[Path]:
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


# --- the project ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Response:
    name: str
    variants: list[dict[str, Any]]
    where: str


@dataclass(slots=True)
class _Domain:
    intents: dict[str, str] = field(default_factory=dict)  # name -> where
    entities: set[str] = field(default_factory=set)
    slots: dict[str, tuple[Any, str]] = field(default_factory=dict)
    responses: dict[str, _Response] = field(default_factory=dict)
    forms: dict[str, tuple[Any, str]] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str  # "intent", "action", "loop" (active_loop; name None = deactivated), "bot"
    names: tuple[str, ...]
    where: str

    @property
    def name(self) -> str | None:
        return self.names[0] if self.names else None


class _Import:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.read: list[str] = []

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # Files ---------------------------------------------------------------------------------

    def data_sources(self) -> list[_Source]:
        data_dir = self.project / "data"
        if not data_dir.is_dir():
            raise DataFileError(
                data_dir,
                "no data/ folder: this does not look like a Rasa project",
                fix="give the folder that holds domain.yml and data/ (what 'rasa init' made)",
            )
        sources = []
        for file in _yaml_files(data_dir):
            source = _load(file, self.project)
            if source.data is None:
                continue
            if not isinstance(source.data, dict):
                self.warn(f"{source.rel}: skipped: not a Rasa training data file (no mapping)")
                continue
            known = {"version", "nlu", "rules", "stories", "responses"}
            if not known & (set(source.data) - {"version"}):
                self.warn(f"{source.rel}: skipped: no nlu:, rules:, stories: or responses: section")
                continue
            for key in source.data:
                if key not in known:
                    self.warn(f"{source.at(key)}: not imported: section '{key}:'")
            sources.append(source)
            self.read.append(source.rel)
        for file in sorted(data_dir.rglob("*")):
            if file.suffix.lower() in (".md", ".json") and _is_rasa1_data(file):
                rel = file.relative_to(self.project).as_posix()
                self.warn(
                    f"{rel}: not imported: Rasa 1 training data; convert it first with "
                    "'rasa data convert nlu -f yaml' (or 'rasa data convert core')"
                )
        return sources

    def domain_sources(self) -> list[_Source]:
        for name in ("domain.yml", "domain.yaml"):
            if (self.project / name).is_file():
                return [_load(self.project / name, self.project)]
        folder = self.project / "domain"
        if folder.is_dir():
            return [_load(file, self.project) for file in _yaml_files(folder)]
        self.warn("domain.yml: not found, so no responses, slots, forms or actions were imported")
        return []

    # Domain --------------------------------------------------------------------------------

    def read_domain(self, sources: list[_Source], data_sources: list[_Source]) -> _Domain:
        domain = _Domain()
        for source in sources:
            if source.data is None:
                continue
            if not isinstance(source.data, dict):
                raise DataFileError(
                    source.path,
                    f"expected a mapping of sections, got {_type_name(source.data)}",
                    line=1,
                    fix="start with sections such as 'intents:' and 'responses:'",
                )
            self.read.append(source.rel)
            for key in source.data:
                if key not in DOMAIN_SECTIONS:
                    self.warn(f"{source.at(key)}: not imported: unknown section '{key}:'")
            for index, item in enumerate(source.section("intents", list, "a list") or []):
                name = next(iter(item), None) if isinstance(item, dict) else item
                if isinstance(name, str | int):
                    domain.intents.setdefault(str(name), source.at("intents", index))
            for item in source.section("entities", list, "a list") or []:
                name = next(iter(item), None) if isinstance(item, dict) else item
                if name is not None:
                    domain.entities.add(str(name))
            for name, spec in (source.section("slots", dict, "a mapping") or {}).items():
                self._first(domain.slots, "slot", str(name), (spec, source.at("slots", name)))
            for name, spec in (source.section("forms", dict, "a mapping") or {}).items():
                self._first(domain.forms, "form", str(name), (spec, source.at("forms", name)))
            for index, item in enumerate(source.section("actions", list, "a list") or []):
                name = next(iter(item), None) if isinstance(item, dict) else item
                if name is not None:
                    domain.actions.setdefault(str(name), source.at("actions", index))
            self._read_responses(domain, source)
        # Rasa also reads responses (for retrieval intents) from the training data files.
        for source in data_sources:
            self._read_responses(domain, source)
        return domain

    def _first(self, seen: dict[str, Any], what: str, name: str, value: tuple[Any, str]) -> None:
        if name in seen:
            kept = seen[name][1]
            self.warn(f"{value[1]}: {what} {name} is defined twice; kept the one at {kept}")
        else:
            seen[name] = value

    def _read_responses(self, domain: _Domain, source: _Source) -> None:
        for name, raw in (source.section("responses", dict, "a mapping") or {}).items():
            name = str(name)
            where = source.at("responses", name)
            if name in domain.responses:
                first = domain.responses[name].where
                self.warn(f"{where}: response {name} is defined twice; kept the one at {first}")
                continue
            variants = self._variants(name, raw, where)
            if variants:
                domain.responses[name] = _Response(name, variants, where)

    def _variants(self, name: str, raw: Any, where: str) -> list[dict[str, Any]]:
        if isinstance(raw, dict | str):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            self.warn(f"{where}: not imported: response {name} (expected a list of variants)")
            return []
        kept: list[dict[str, Any]] = []
        conditional = 0
        channels: list[str] = []
        problems: list[str] = []
        for number, item in enumerate(raw, start=1):
            if isinstance(item, str):
                item = {"text": item}
            if not isinstance(item, dict):
                problems.append(f"variant {number} is {_type_name(item)}, not a mapping")
                continue
            if item.get("condition"):
                conditional += 1
                continue
            if item.get("channel"):
                channels.append(str(item["channel"]))
                continue
            variant = self._variant(item, number, problems)
            if variant is None:
                continue
            try:
                ResponseTemplates.from_mapping({name: [variant]}, source="<rasa>")
            except DataFileError as exc:
                problem = exc.problem.replace("variant 1", f"variant {number}", 1)
                problems.append(f"{problem} ({exc.fix})" if exc.fix else problem)
                continue
            kept.append(variant)
        dropped = []
        if conditional:
            dropped.append(
                f"{conditional} conditional variant{'s' if conditional > 1 else ''} "
                "(Frontdesk has no conditional responses)"
            )
        if channels:
            dropped.append(
                f"{len(channels)} variant{'s' if len(channels) > 1 else ''} for channel "
                f"{', '.join(sorted(set(channels)))} (Frontdesk answers every channel alike)"
            )
        if dropped:
            outcome = f"kept {len(kept)}" if kept else "none left, response not imported"
            self.warn(f"{where}: {name}: not imported: {'; '.join(dropped)}; {outcome}")
        for problem in problems:
            self.warn(f"{where}: {name}: not imported: {problem}")
        if not kept and not dropped and problems:
            self.warn(f"{where}: response {name} left out: no variant Frontdesk can use")
        return kept

    def _variant(
        self, item: Mapping[str, Any], number: int, problems: list[str]
    ) -> dict[str, Any] | None:
        variant: dict[str, Any] = {}
        unknown = sorted(str(k) for k in item if k not in (*VARIANT_KEYS, "condition", "channel"))
        if unknown:
            problems.append(f"variant {number}: key(s) {', '.join(unknown)}")
        text = item.get("text")
        if isinstance(text, str | int | float) and not isinstance(text, bool):
            variant["text"] = str(text)
        elif text is not None:
            problems.append(f"variant {number}: text is {_type_name(text)}")
        raw_buttons = item.get("buttons")
        if isinstance(raw_buttons, list):
            buttons = []
            for index, button in enumerate(raw_buttons, start=1):
                title = button.get("title") if isinstance(button, dict) else None
                payload = button.get("payload") if isinstance(button, dict) else None
                if isinstance(title, str | int | float) and isinstance(payload, str | int | float):
                    buttons.append({"title": str(title), "payload": str(payload)})
                else:
                    problems.append(
                        f"variant {number}: button {index} (Frontdesk buttons need a title "
                        "and a payload)"
                    )
            if buttons:
                variant["buttons"] = buttons
        elif raw_buttons is not None:
            problems.append(f"variant {number}: buttons is {_type_name(raw_buttons)}")
        image = item.get("image")
        if isinstance(image, str) and image.strip():
            variant["image"] = image
        elif image is not None:
            problems.append(f"variant {number}: image is not a URL")
        custom = item.get("custom")
        if isinstance(custom, dict):
            variant["custom"] = custom
        elif custom is not None:
            problems.append(f"variant {number}: custom is {_type_name(custom)}, not a mapping")
        if not (variant.get("text", "").strip() or variant.get("image") or variant.get("custom")):
            if not unknown:
                problems.append(f"variant {number} has no text, image or custom payload")
            return None
        return variant

    # NLU -----------------------------------------------------------------------------------

    def read_nlu(self, sources: list[_Source]) -> dict[str, list[str]]:
        intents: dict[str, list[str]] = {}
        seen: dict[str, set[str]] = {}
        duplicates = 0
        for source in sources:
            items = source.section("nlu", list, "a list of '- intent:' items")
            for index, item in enumerate(items or []):
                where = source.at("nlu", index)
                if not isinstance(item, dict):
                    self.warn(f"{where}: not imported: an nlu item that is {_type_name(item)}")
                    continue
                if "intent" not in item:
                    kind = next((k for k in NLU_SKIPPED if k in item), None)
                    if kind is None:
                        keys = ", ".join(map(str, item))
                        self.warn(f"{where}: not imported: nlu item with keys {keys}")
                    else:
                        self.warn(
                            f"{where}: not imported: {kind} {str(item[kind])!r} "
                            f"({NLU_SKIPPED[kind]})"
                        )
                    continue
                name = item["intent"]
                if not isinstance(name, str | int) or not str(name).strip():
                    self.warn(f"{where}: not imported: an intent without a name")
                    continue
                name = str(name).strip()
                if name == FALLBACK_INTENT:
                    self.warn(
                        f"{where}: not imported: examples for {FALLBACK_INTENT} (Frontdesk "
                        "predicts it when no intent is confident; label such examples "
                        "'out_of_scope')"
                    )
                    continue
                for key in item:
                    if key not in ("intent", "examples", "metadata"):
                        self.warn(f"{where}: intent {name}: not imported: key '{key}'")
                examples = self._examples(
                    item.get("examples"), source, ("nlu", index, "examples"), name
                )
                if not examples:
                    self.warn(f"{where}: not imported: intent {name} has no examples")
                    continue
                kept = intents.setdefault(name, [])
                known = seen.setdefault(name, set())
                for text in examples:
                    if text in known:
                        duplicates += 1
                        continue
                    known.add(text)
                    kept.append(text)
        if duplicates:
            self.warn(
                f"dropped {duplicates} repeated example{'s' if duplicates > 1 else ''} "
                "(same text, same intent)"
            )
        return intents

    def _examples(
        self, raw: Any, source: _Source, keys: tuple[str | int, ...], intent: str
    ) -> list[str]:
        where = source.at(*keys)
        if isinstance(raw, str):
            texts = []
            for offset, line in enumerate(raw.split("\n")):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if not line.startswith("-"):
                    line_number = source.block_line(keys, offset)
                    at = source.rel if line_number is None else f"{source.rel}:{line_number}"
                    self.warn(
                        f"{at}: intent {intent}: not imported: example line without "
                        f"'- ': {line[:40]!r}"
                    )
                    continue
                texts.append(line[1:])
        elif isinstance(raw, list):
            texts = []
            for entry in raw:
                text = entry.get("text") if isinstance(entry, dict) else entry
                if isinstance(text, str | int | float):
                    texts.append(str(text))
                else:
                    self.warn(f"{where}: intent {intent}: not imported: example {entry!r}")
        else:
            return []
        cleaned = []
        for text in texts:
            text = " ".join(text.split())
            if _ANNOTATION.sub(r"\g<text>", text).strip():
                cleaned.append(text)
        return cleaned

    # Rules and stories ---------------------------------------------------------------------

    def read_flows(self, sources: list[_Source]) -> list[tuple[list[_Event], str | None]]:
        """Each rule and story as events, with the form a rule's condition says is active.
        Rules come first: they are what the Rasa bot always does."""
        flows: list[tuple[list[_Event], str | None]] = []
        for kind in ("rules", "stories"):
            for source in sources:
                blocks = source.section(kind, list, f"a list of '- {_SINGULAR[kind]}:' items")
                for index, block in enumerate(blocks or []):
                    flow = self._flow(source, kind, index, block)
                    if flow is not None:
                        flows.append(flow)
        return flows

    def _flow(
        self, source: _Source, kind: str, index: int, block: Any
    ) -> tuple[list[_Event], str | None] | None:
        where = source.at(kind, index)
        steps = block.get("steps") if isinstance(block, dict) else None
        if not isinstance(steps, list):
            self.warn(f"{where}: not imported: a {_SINGULAR[kind]} without a list of steps")
            return None
        active: str | None = None
        conditions = block.get("condition")
        for condition in conditions if isinstance(conditions, list) else []:
            if isinstance(condition, dict) and isinstance(condition.get("active_loop"), str):
                active = condition["active_loop"]
        events: list[_Event] = []
        for number, step in enumerate(steps):
            at = source.at(kind, index, "steps", number)
            if not isinstance(step, dict):
                self.warn(f"{at}: not imported: a step that is {_type_name(step)}")
                continue
            if "intent" in step:
                events.append(_Event("intent", (str(step["intent"]),), at))
            elif "or" in step:
                alternatives = step["or"] if isinstance(step["or"], list) else []
                names = tuple(
                    str(a["intent"]) for a in alternatives if isinstance(a, dict) and "intent" in a
                )
                if names:
                    events.append(_Event("intent", names, at))
            elif "action" in step:
                events.append(_Event("action", (str(step["action"]),), at))
            elif "active_loop" in step:
                loop = step["active_loop"]
                events.append(_Event("loop", (str(loop),) if loop else (), at))
            elif "user" in step or "bot" in step:
                self.warn(
                    f"{at}: not imported: end-to-end {'user' if 'user' in step else 'bot'} text"
                )
                events.append(_Event("bot", (), at))
            elif not {"slot_was_set", "checkpoint"} & set(step):
                self.warn(f"{at}: not imported: step with keys {', '.join(map(str, step))}")
        return events, active


# --- deciding what answers what ------------------------------------------------------------


@dataclass(slots=True)
class _Plan:
    answers: dict[str, str] = field(default_factory=dict)  # intent -> response name
    actions: dict[str, str] = field(default_factory=dict)  # intent -> custom action
    required: dict[str, list[str]] = field(default_factory=dict)  # action -> form's slots
    first: dict[str, tuple[str, str]] = field(default_factory=dict)  # intent -> (action, where)


def _is_custom(action: str, domain: _Domain) -> bool:
    return (
        not action.startswith("utter_")
        and action not in RASA_DEFAULT_ACTIONS
        and action not in domain.forms
    )


def _after_forms(flows: Iterable[tuple[list[_Event], str | None]]) -> dict[str, list[_Event]]:
    """Form -> the actions a rule or story runs right after the form is filled."""
    after: dict[str, list[_Event]] = {}
    for events, condition in flows:
        active = condition
        for index, event in enumerate(events):
            if event.kind == "loop" and event.name:
                active = event.name
            elif event.kind == "loop":
                previous = events[index - 1] if index else None
                form = active or (previous.name if previous and previous.kind == "action" else None)
                active = None
                if form is None or form in after:
                    continue
                following = []
                for later in events[index + 1 :]:
                    if later.kind != "action":
                        break
                    following.append(later)
                if following:
                    after[form] = following
    return after


def _plan(
    run: _Import,
    domain: _Domain,
    intents: Mapping[str, list[str]],
    flows: list[tuple[list[_Event], str | None]],
    slots: Mapping[str, Any],
) -> _Plan:
    plan = _Plan()
    after_forms = _after_forms(flows)
    known = set(intents) | {FALLBACK_INTENT}
    for events, _ in flows:
        for index, event in enumerate(events[:-1]):
            following = events[index + 1]
            if event.kind != "intent" or following.kind != "action" or not following.name:
                continue
            rest = []
            for later in events[index + 2 :]:
                if later.kind != "action":
                    break
                rest.append(later.names[0])
            for intent in event.names:
                _choose(run, plan, domain, known, intent, following, rest, after_forms, slots)
    # Frontdesk's "didn't understand" answer.
    if FALLBACK_INTENT not in plan.answers:
        for name in FALLBACK_RESPONSES:
            if name in domain.responses:
                plan.answers[FALLBACK_INTENT] = name
                break
    # Intents no rule or story answers: by name, as Rasa bots are usually written.
    for intent in intents:
        if intent not in plan.answers and f"utter_{intent}" in domain.responses:
            plan.answers[intent] = f"utter_{intent}"
    return plan


def _choose(
    run: _Import,
    plan: _Plan,
    domain: _Domain,
    known: set[str],
    intent: str,
    first: _Event,
    rest: list[str],
    after_forms: Mapping[str, list[_Event]],
    slots: Mapping[str, Any],
) -> None:
    action = str(first.name)
    if intent not in known:
        # A retrieval intent (faq -> utter_faq) is answered by name: faq/ask_name.
        if not any(name.startswith(f"{intent}/") for name in known):
            run.warn(f"{first.where}: intent {intent} has no NLU examples; its {action} is unused")
        return
    if action == "action_listen":
        return
    if intent in plan.first:
        chosen, chosen_at = plan.first[intent]
        if chosen != action:
            run.warn(
                f"{first.where}: intent {intent} is followed by {action} here but by {chosen} at "
                f"{chosen_at}; Frontdesk always answers it with the first (it has no story "
                "context)"
            )
        return
    if action in RASA_DEFAULT_ACTIONS:
        if not (intent == FALLBACK_INTENT and action in FALLBACK_ACTIONS):
            run.warn(f"{first.where}: not imported: intent {intent} -> Rasa's built-in {action}")
        return
    plan.first[intent] = (action, first.where)
    if action in domain.forms:
        _choose_form(run, plan, domain, intent, action, first.where, after_forms, slots)
        return
    if rest:
        run.warn(
            f"{first.where}: intent {intent}: Rasa runs {', '.join([action, *rest])}; Frontdesk "
            f"answers with {action} only (a custom action can send the others)"
        )
    if action.startswith("utter_"):
        if action in domain.responses:
            plan.answers[intent] = action
        else:
            run.warn(f"{first.where}: intent {intent}: {action} is not an imported response")
        return
    plan.actions[intent] = action
    if action not in domain.actions:
        run.warn(f"{first.where}: custom action {action} is not listed under 'actions:'")


def _choose_form(
    run: _Import,
    plan: _Plan,
    domain: _Domain,
    intent: str,
    form: str,
    where: str,
    after_forms: Mapping[str, list[_Event]],
    slots: Mapping[str, Any],
) -> None:
    after = after_forms.get(form, [])
    names = [str(e.name) for e in after]
    custom = next((n for n in names if _is_custom(n, domain)), None)
    required = _form_slots(domain.forms[form][0])
    if custom is not None:
        plan.actions[intent] = custom
        before = names[: names.index(custom)]
        if before:
            run.warn(
                f"{after[0].where}: form {form}: Rasa runs {', '.join(before)} before {custom}; "
                f"Frontdesk runs only {custom} (it can send them with "
                "dispatcher.utter_message(response=...))"
            )
        usable = [s for s in required if s in slots]
        left_out = [s for s in required if s not in slots]
        if usable:
            plan.required[custom] = usable
        if left_out:
            run.warn(
                f"{domain.forms[form][1]}: form {form}: not imported: required slot(s) "
                f"{', '.join(left_out)} (not filled from an entity); {custom} must ask for "
                "them itself"
            )
        return
    utter = next((n for n in names if n.startswith("utter_") and n in domain.responses), None)
    if utter is not None:
        plan.answers[intent] = utter
        run.warn(
            f"{where}: form {form}: not imported: the slot collection before {utter} (Frontdesk "
            "asks for slots only before a custom action); intent "
            f"{intent} is answered with {utter}"
        )
        return
    run.warn(
        f"{where}: form {form}: not imported: no rule or story says what runs after it is "
        f"filled; add 'intent_actions: {{{intent}: ACTION}}' and 'required_slots' by hand"
    )


def _form_slots(spec: Any) -> list[str]:
    required = spec.get("required_slots") if isinstance(spec, dict) else None
    if isinstance(required, list):
        return [str(s) for s in required]
    if isinstance(required, dict):  # Rasa 2: slot -> its mappings
        return [str(s) for s in required]
    return []


def _form_entities(domain: _Domain) -> dict[str, str]:
    """Rasa 2 forms map slots to entities in the form itself."""
    found: dict[str, str] = {}
    for spec, _ in domain.forms.values():
        required = spec.get("required_slots") if isinstance(spec, dict) else None
        if isinstance(required, dict):
            for slot, mappings in required.items():
                entity = _entity_of(mappings if isinstance(mappings, list) else [])
                if entity:
                    found.setdefault(str(slot), entity[0])
    return found


def _entity_of(mappings: list[Any]) -> list[str]:
    return [
        str(m["entity"])
        for m in mappings
        if isinstance(m, dict) and m.get("type") == "from_entity" and m.get("entity")
    ]


def _slots(run: _Import, domain: _Domain) -> dict[str, dict[str, str]]:
    form_entities = _form_entities(domain)
    converted: dict[str, dict[str, str]] = {}
    for name, (spec, where) in domain.slots.items():
        if name == "requested_slot":
            continue
        if not isinstance(spec, dict):
            run.warn(f"{where}: not imported: slot {name} (expected a mapping)")
            continue
        mappings = spec.get("mappings")
        if mappings is None:
            # Rasa 2: a slot named like an entity is filled from it (auto_fill).
            entity = form_entities.get(name) or (name if name in domain.entities else None)
            entities = [entity] if entity else []
            kinds = ["no from_entity mapping"]
        else:
            mappings = mappings if isinstance(mappings, list) else []
            entities = _entity_of(mappings)
            kinds = sorted({str(m.get("type")) for m in mappings if isinstance(m, dict)})
        if not entities:
            run.warn(
                f"{where}: not imported: slot {name} ({', '.join(kinds) or 'no mappings'}); "
                "Frontdesk fills slots from entities only"
            )
            continue
        if len(set(entities)) > 1:
            run.warn(
                f"{where}: slot {name}: filled from entity {entities[0]} only (Rasa also used "
                f"{', '.join(sorted(set(entities[1:])))})"
            )
        constrained = [
            str(k)
            for m in mappings or []
            if isinstance(m, dict) and m.get("type") == "from_entity"
            for k in m
            if k in ("role", "group", "intent", "not_intent", "conditions")
        ]
        if constrained:
            run.warn(
                f"{where}: slot {name}: not imported: mapping condition(s) "
                f"{', '.join(sorted(set(constrained)))}"
            )
        if entities[0] not in BUILTIN_ENTITIES:
            run.warn(
                f"{where}: slot {name}: Frontdesk's entity rules find "
                f"{', '.join(sorted(BUILTIN_ENTITIES))} only, so entity {entities[0]} "
                "leaves it empty until an extractor for it is added"
            )
        converted[name] = {"entity": entities[0], "prompt": _prompt(run, domain, name)}
    return converted


def _prompt(run: _Import, domain: _Domain, slot: str) -> str:
    names = [f"utter_ask_{slot}"] + [f"utter_ask_{form}_{slot}" for form in domain.forms]
    for name in names:
        response = domain.responses.get(name)
        if response is None:
            continue
        for variant in response.variants:
            text = variant.get("text", "").strip()
            if text and not placeholders(text):
                if variant.get("buttons"):
                    run.warn(
                        f"{response.where}: slot {slot}: the prompt from {name} is asked "
                        "without its buttons"
                    )
                return text
        run.warn(
            f"{response.where}: slot {slot}: {name} has no plain text variant (placeholders "
            "are not filled in prompts); using a generic prompt"
        )
        break
    return f"Could you tell me your {slot.replace('_', ' ')}?"


# --- writing -------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, literal ``|`` blocks for multi-line text, and named anchors."""

    anchor_names: dict[int, str]

    def generate_anchor(self, node: yaml.Node) -> Any:
        for key, represented in self.represented_objects.items():
            if represented is node and key in self.anchor_names:
                return self.anchor_names[key]
        return super().generate_anchor(node)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(data: Any, header: str, anchors: Mapping[int, str] | None = None) -> bytes:
    stream = io.StringIO()
    stream.write(header)
    dumper = _Dumper(
        stream, default_flow_style=False, allow_unicode=True, sort_keys=False, width=10_000
    )
    dumper.anchor_names = dict(anchors or {})
    try:
        dumper.open()
        dumper.represent(data)
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue().encode("utf-8")


def _responses_file(
    run: _Import, domain: _Domain, intents: Iterable[str], plan: _Plan
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str], dict[int, str]]:
    written: dict[str, list[dict[str, Any]]] = {}
    sources: dict[str, str] = {}  # our key -> Rasa response
    for intent in [*intents, FALLBACK_INTENT]:
        if intent in plan.answers and intent not in written:
            name = plan.answers[intent]
            written[intent] = domain.responses[name].variants
            sources[intent] = name
    for name, response in domain.responses.items():
        own = name.removeprefix("utter_")
        if sources.get(own) == name:
            continue
        key = own
        if own in written:
            key = name
            run.warn(
                f"{response.where}: {name} is written as '{name}': '{own}' answers intent "
                f"{own} with {sources[own]}"
            )
            if key in written:
                continue
        written[key] = response.variants
        sources[key] = name
    anchors: dict[int, str] = {}
    used: set[str] = set()
    for key, name in sources.items():
        variants = written[key]
        if id(variants) in anchors:
            continue
        anchor = _ANCHOR_UNSAFE.sub("_", name)
        if anchor in used:
            anchor = f"{anchor}_{len(used)}"
        used.add(anchor)
        anchors[id(variants)] = anchor
    return written, sources, anchors


def _write(out: Path, files: Mapping[str, bytes], *, overwrite: bool) -> list[str]:
    """Write ``files`` into ``out`` (all checked first, then each by a rename); return the
    warnings the checks found."""
    staging = out / f".rasa-import-{uuid.uuid4().hex[:12]}"
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise DataFileError(
            out, f"cannot write here ({exc.strerror})", fix="choose a folder you can write to"
        ) from exc
    try:
        for name, content in files.items():
            write_file(staging / name, content)
        warnings = _check_outputs(staging, out)
        if not overwrite:
            for name in files:
                if (out / name).exists():
                    raise _exists(out / name)
        for name in files:
            os.replace(staging / name, out / name)
        with contextlib.suppress(OSError):
            fd = os.open(out, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return warnings


def _check_outputs(staging: Path, out: Path) -> list[str]:
    """The files must load with the readers that will use them (a converter bug otherwise).
    Returns the examples that training would refuse: one text under two intents."""
    from retrieval.base.datasets import find_conflicts, load_examples
    from retrieval.base.domain import Domain

    try:
        examples = load_examples(staging / "nlu.yml")
        ResponseTemplates.load(staging / "responses.yml")
        Domain.load(staging / "domain.yml")
    except DataFileError as exc:
        name = Path(exc.path).name
        raise DataFileError(
            out / name,
            f"the converted file does not load ({exc.problem}); nothing was written",
            line=exc.line,
            field=exc.field,
            fix="please report this as a bug in 'frontdesk import rasa' with the Rasa file",
        ) from exc
    return [
        f"nlu.yml: the example {conflict.text!r} is labelled "
        f"{' and '.join(sorted({e.label for e in conflict.examples}))}; training refuses "
        "conflicting labels, so keep it under one intent"
        for conflict in find_conflicts(examples)
    ]


def _exists(target: Path) -> DataFileError:
    return DataFileError(
        target,
        "already exists",
        fix="pass --force to overwrite it, or choose another --out folder",
    )


# --- the command ---------------------------------------------------------------------------


def import_rasa_project(project: Path, out: Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Convert the Rasa project at ``project`` into ``out``/nlu.yml, responses.yml and
    domain.yml; return a JSON-serialisable summary with the warnings.

    Raises :class:`DataFileError` for a project that cannot be read (not a folder, no NLU
    data, invalid YAML, a section of the wrong shape) and for output files that already exist
    unless ``overwrite`` is true.
    """
    project, out = Path(project), Path(out)
    if not project.is_dir():
        raise DataFileError(
            project,
            "not a folder" if project.exists() else "not found",
            fix="give the Rasa project folder (the one with domain.yml, config.yml and data/)",
        )
    if out.exists() and not out.is_dir():
        raise DataFileError(out, "exists and is not a folder", fix="choose a folder for --out")
    if not overwrite:
        for name in OUTPUT_FILES:
            if (out / name).exists():
                raise _exists(out / name)

    run = _Import(project)
    data_sources = run.data_sources()
    nlu_sources = [s for s in data_sources if "nlu" in s.data]
    if not nlu_sources:
        raise DataFileError(
            project / "data",
            "no Rasa NLU data: no .yml file under data/ has an 'nlu:' section",
            fix="put the intents' examples in data/nlu.yml ('nlu:' then '- intent: NAME')",
        )
    domain_sources = run.domain_sources()
    inputs = {file.resolve() for file in _yaml_files(project / "data")}
    inputs |= {source.path.resolve() for source in domain_sources}
    for name in OUTPUT_FILES:
        if (out / name).resolve() in inputs:
            raise DataFileError(
                out / name,
                "is a file of the Rasa project being imported",
                fix="choose an --out folder outside the Rasa project, e.g. a new one",
            )
    domain = run.read_domain(domain_sources, data_sources)
    intents = run.read_nlu(nlu_sources)
    if not intents:
        raise DataFileError(
            nlu_sources[0].path,
            "no intent with examples",
            fix="add '- intent: NAME' items with an 'examples: |' block",
        )
    for name, where in domain.intents.items():
        retrieval = any(intent.startswith(f"{name}/") for intent in intents)
        if name not in intents and name != FALLBACK_INTENT and not retrieval:
            run.warn(f"{where}: intent {name} has no NLU examples; the classifier cannot learn it")
    flows = run.read_flows([s for s in data_sources if {"rules", "stories"} & set(s.data)])
    slots = _slots(run, domain)
    plan = _plan(run, domain, intents, flows, slots)
    responses, sources, anchors = _responses_file(run, domain, intents, plan)
    _notes(run, domain, plan)

    source = " ".join(str(project.resolve()).split())
    header = f"# Imported by 'frontdesk import rasa' from the Rasa project in\n# {source}\n"
    nlu_data = {
        "version": NLU_VERSION,
        "nlu": [
            {"intent": name, "examples": "".join(f"- {text}\n" for text in texts)}
            for name, texts in intents.items()
        ],
    }
    domain_data = {
        "categories": {},
        "intent_actions": dict(plan.actions),
        "slots": slots,
        "required_slots": {action: names for action, names in plan.required.items()},
    }
    files = {
        "nlu.yml": _dump(nlu_data, header),
        "responses.yml": _dump(
            responses,
            f"{header}# intent -> variants; every response also under its Rasa name without "
            "'utter_'.\n",
            anchors,
        ),
        "domain.yml": _dump(
            domain_data,
            f"{header}# categories (intent -> topic for the sentiment dashboard) are not in "
            "Rasa: add them.\n",
        ),
    }
    for warning in _write(out, files, overwrite=overwrite):
        run.warn(warning)
    return {
        "project": str(project),
        "out": str(out),
        "files": [str(out / name) for name in OUTPUT_FILES],
        "read": run.read,
        "intents": list(intents),
        "examples": sum(len(texts) for texts in intents.values()),
        "responses": sources,
        "actions": dict(plan.actions),
        "slots": {name: spec["entity"] for name, spec in slots.items()},
        "required_slots": {action: list(names) for action, names in plan.required.items()},
        "warnings": run.warnings,
        "notes": run.notes,
    }


def _notes(run: _Import, domain: _Domain, plan: _Plan) -> None:
    project = run.project
    payloads = sorted(
        name
        for name, response in domain.responses.items()
        for variant in response.variants
        for button in variant.get("buttons", ())
        if _INTENT_PAYLOAD.match(button["payload"])
    )
    if payloads:
        run.warn(
            f"buttons with Rasa intent payloads ('/intent') in {', '.join(sorted(set(payloads)))}: "
            "Frontdesk classifies a payload as the customer's words; replace them with a "
            "sentence for that intent"
        )
    validators = sorted(f"validate_{form}" for form in domain.forms)
    for name in validators:
        if name in domain.actions:
            run.warn(
                f"{domain.actions[name]}: not imported: {name} (Frontdesk runs no form "
                "validation; check the slot values in the action that runs after the form)"
            )
    unused = sorted(
        name
        for name in domain.actions
        if _is_custom(name, domain) and name not in plan.actions.values() and name not in validators
    )
    if unused:
        run.notes.append(
            f"custom actions not run for an intent: {', '.join(unused)}; Frontdesk runs them "
            "only as a follow-up (FollowupAction) of another action"
        )
    if (project / "actions").is_dir() or (project / "actions.py").is_file():
        run.notes.append(
            "custom actions: set actions_module in frontdesk.toml [actions] to your actions "
            "module, or action_server_url to your running Rasa action server's /webhook"
        )
    endpoints = project / "endpoints.yml"
    if endpoints.is_file():
        try:
            data = _load(endpoints, project).data
        except DataFileError as exc:
            run.warn(f"endpoints.yml: not read ({exc.problem})")
            data = None
        endpoint = data.get("action_endpoint") if isinstance(data, dict) else None
        url = endpoint.get("url") if isinstance(endpoint, dict) else None
        if url:
            run.notes.append(
                f"endpoints.yml names the action server {url}: set action_server_url = "
                f'"{url}" in frontdesk.toml [actions] to use it'
            )
    if (project / "config.yml").is_file():
        run.notes.append(
            "config.yml (pipeline, policies) is not imported: train Frontdesk's classifier "
            "with 'frontdesk train intent --data OUT/nlu.yml --out models/intent'"
        )
