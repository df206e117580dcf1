"""Rules and stories of every data file, merged into ``rules.yml`` and ``stories.yml``
unchanged in meaning.

The dialogue engine reads Rasa's rules and stories itself (checkpoints, ``or``, conditions,
``conversation_start``, ``wait_for_user_input``, ``slot_was_set``, ``active_loop``), so each
one is written as it was. Only what Rasa skips too (a step that is plain text or has no step
key) is left out, and each rule and story is tried with Frontdesk's story reader on its own,
so that one it refuses is reported at its place in the project instead of failing the import.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.importers.rasa.output import dump_yaml
from bot.importers.rasa.project import Source, type_name
from bot.importers.rasa.report import Kind, Report
from retrieval.base.datafiles import DataFileError
from retrieval.base.stories import read_story_file

FLOW_KINDS = {"rules": "rule", "stories": "story"}
STEP_KEYS = frozenset(
    {"intent", "user", "or", "action", "bot", "checkpoint", "slot_was_set", "active_loop"}
)


@dataclass(slots=True)
class Flows:
    rules: list[dict[str, Any]] = field(default_factory=list)
    stories: list[dict[str, Any]] = field(default_factory=list)
    intents: dict[str, str] = field(default_factory=dict)  # intent -> where first named
    actions: dict[str, str] = field(default_factory=dict)  # action -> where first run


def read_flows(sources: list[Source], version: str, report: Report) -> Flows:
    """Every rule, then every story, in the order of the files and within them."""
    flows = Flows()
    with tempfile.TemporaryDirectory(prefix="rasa-import-") as scratch:
        for kind, singular in FLOW_KINDS.items():
            for source in sources:
                blocks = source.section(kind, list, f"a list of '- {singular}:' items")
                for index, block in enumerate(blocks or []):
                    found = _item(source, kind, index, block, report)
                    if found is None:
                        continue
                    item, places = found
                    if not _readable(item, kind, version, Path(scratch), source, index, report):
                        continue
                    _collect(item["steps"], places, flows)
                    (flows.rules if kind == "rules" else flows.stories).append(item)
    return flows


def _item(
    source: Source, kind: str, index: int, block: Any, report: Report
) -> tuple[dict[str, Any], list[str]] | None:
    """The rule or story with the steps Rasa skips left out, and where each step kept was
    written; None if Rasa skips it all."""
    singular = FLOW_KINDS[kind]
    where = source.at(kind, index)
    if not isinstance(block, dict) or block.get(singular) in (None, ""):
        what = type_name(block) if not isinstance(block, dict) else f"without a '{singular}:' name"
        report.warn(Kind.FLOW_SHAPE, where, f"skipped: a {singular} {what}", singular)
        return None
    steps = block.get("steps")
    if not isinstance(steps, list):
        report.warn(
            Kind.FLOW_SHAPE, where, f"skipped: a {singular} without a list of steps", singular
        )
        return None
    kept = []
    places = []
    for number, step in enumerate(steps):
        at = source.at(kind, index, "steps", number)
        if not isinstance(step, dict):
            report.warn(Kind.FLOW_SHAPE, at, f"skipped: a step that is {type_name(step)}", "step")
            continue
        if not STEP_KEYS & set(step):
            if set(step) != {"metadata"}:  # a step of metadata alone means nothing to Rasa
                keys = ", ".join(map(str, step))
                report.warn(Kind.FLOW_SHAPE, at, f"skipped: a step with keys {keys}", keys)
            continue
        _report_step(step, at, report)
        kept.append(step)
        places.append(at)
    return {**block, "steps": kept}, places


def _report_step(step: dict[str, Any], at: str, report: Report) -> None:
    if "bot" in step and not {"intent", "user", "action"} & set(step):
        report.warn(Kind.END_TO_END, at, "end-to-end bot text: Frontdesk skips it", "bot")
    elif "user" in step and "intent" not in step:
        report.warn(
            Kind.END_TO_END,
            at,
            "end-to-end user text without an intent: Frontdesk matches it as no intent",
            "user",
        )
    if "checkpoint" in step and "slot_was_set" in step:
        report.warn(
            Kind.CHECKPOINT_CONDITION,
            at,
            f"checkpoint {step['checkpoint']}: its slot_was_set condition is read as a slot event",
            str(step["checkpoint"]),
        )


def _readable(
    item: dict[str, Any],
    kind: str,
    version: str,
    scratch: Path,
    source: Source,
    index: int,
    report: Report,
) -> bool:
    """Whether Frontdesk's story reader reads the item as written (it is stricter than Rasa
    about some shapes); one it refuses is reported with the reader's reason."""
    path = scratch / "item.yml"
    path.write_bytes(dump_yaml({"version": version, kind: [item]}))
    try:
        read_story_file(path)
    except DataFileError as exc:
        fix = f" (fix: {exc.fix})" if exc.fix else ""
        singular = FLOW_KINDS[kind]
        report.warn(
            Kind.FLOW_UNREADABLE,
            source.at(kind, index),
            f"not imported: {singular} {item[singular]!r}: {exc.problem}{fix}",
            str(item[singular]),
        )
        return False
    return True


def _collect(steps: list[dict[str, Any]], places: list[str], flows: Flows) -> None:
    """The intents and actions the steps name, for the checks against the domain."""
    for step, at in zip(steps, places, strict=True):
        alternatives = step.get("or")
        options: list[Any] = alternatives if isinstance(alternatives, list) else [step]
        for option in options:
            intent = option.get("intent") if isinstance(option, dict) else None
            if isinstance(intent, str | int) and not isinstance(intent, bool):
                flows.intents.setdefault(str(intent).lstrip("/"), at)
        action = step.get("action")
        if isinstance(action, str) and action:
            flows.actions.setdefault(action, at)
