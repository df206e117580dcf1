"""Rasa's conversation files: ``stories:``, ``rules:`` and ``test_stories.yml``.

A story or rule is read into a flat list of steps with the line each came from, so that the
policies, the contradiction check and ``frontdesk test stories`` can all point at the file and
line that a problem comes from. ``or`` steps and checkpoints are kept as they are written;
:func:`expand` turns them into plain step lists.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from retrieval.base.datafiles import DataFileError, Yaml12Loader

# A slot listed without a value in ``slot_was_set`` means "set to anything but null".
ANY_VALUE = object()

_ENTITY = re.compile(
    r"\[(?P<text>[^\]]+)\]"
    r"(?:\((?P<short>[^)]+)\)|(?P<json>\{[^}]*\})|\[(?P<list>\{[^\]]*\})\])",
)


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str
    value: Any = None
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class UserStep:
    intent: str | None
    entities: tuple[Entity, ...] = ()
    text: str | None = None  # test stories: what the customer typed
    line: int = 0


@dataclass(frozen=True, slots=True)
class ActionStep:
    name: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class BotStep:
    """An end-to-end ``bot:`` step: the text the bot should say."""

    text: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class SlotStep:
    slots: tuple[tuple[str, Any], ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class LoopStep:
    name: str | None  # None: the loop ends here
    line: int = 0


@dataclass(frozen=True, slots=True)
class CheckpointStep:
    name: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class OrStep:
    options: tuple[UserStep | SlotStep, ...]
    line: int = 0


Step = UserStep | ActionStep | BotStep | SlotStep | LoopStep | CheckpointStep | OrStep


@dataclass(frozen=True, slots=True)
class Story:
    name: str
    steps: tuple[Step, ...]
    path: str
    line: int
    rule: bool = False
    conversation_start: bool = False
    wait_for_user_input: bool = True
    condition: tuple[SlotStep | LoopStep, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class StoryFiles:
    stories: tuple[Story, ...] = ()
    rules: tuple[Story, ...] = ()
    files: tuple[str, ...] = field(default_factory=tuple)


def read_story_files(paths: Iterable[str | Path]) -> StoryFiles:
    """Read every ``stories:`` and ``rules:`` block of the given YAML files (a folder is
    read recursively); files without either key are skipped."""
    stories: list[Story] = []
    rules: list[Story] = []
    read: list[str] = []
    for path in _yaml_files(paths):
        found = read_story_file(path)
        if found.stories or found.rules:
            read.append(str(path))
        stories.extend(found.stories)
        rules.extend(found.rules)
    return StoryFiles(tuple(stories), tuple(rules), tuple(read))


def _yaml_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml")))
        elif path.is_file():
            files.append(path)
    return files


def read_story_file(path: str | Path) -> StoryFiles:
    path = Path(path)
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=Yaml12Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataFileError(
            path,
            f"not valid YAML ({getattr(exc, 'problem', exc)})",
            line=mark.line + 1 if mark else None,
            fix="check the indentation and quoting around that line",
        ) from exc
    if not isinstance(node, yaml.MappingNode):
        return StoryFiles()
    stories: list[Story] = []
    rules: list[Story] = []
    for key_node, value_node in node.value:
        key = key_node.value
        if key not in ("stories", "rules"):
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            raise DataFileError(
                path,
                f"{key} must be a list",
                line=value_node.start_mark.line + 1,
                field=key,
                fix=f"write '- {key[:-1]}: NAME' items with 'steps:'",
            )
        for item in value_node.value:
            story = _story(path, item, rule=key == "rules")
            (rules if key == "rules" else stories).append(story)
    return StoryFiles(tuple(stories), tuple(rules), (str(path),))


def _plain(node: yaml.Node) -> Any:
    return yaml.load(yaml.serialize(node), Loader=Yaml12Loader)


def _story(path: Path, node: yaml.Node, *, rule: bool) -> Story:
    kind = "rule" if rule else "story"
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise DataFileError(
            path, f"a {kind} must be a mapping", line=line, fix=f"write '- {kind}: NAME'"
        )
    fields = {k.value: v for k, v in node.value}
    name_node = fields.get(kind)
    if name_node is None:
        raise DataFileError(
            path, f"this item has no '{kind}:' name", line=line, field=kind, fix="name it"
        )
    steps_node = fields.get("steps")
    if not isinstance(steps_node, yaml.SequenceNode):
        raise DataFileError(
            path,
            f"{kind} {name_node.value!r} has no list of steps",
            line=line,
            field="steps",
            fix="add 'steps:' with '- intent:' and '- action:' items",
        )
    steps = tuple(s for s in (_step(path, n) for n in steps_node.value) if s is not None)
    condition: tuple[SlotStep | LoopStep, ...] = ()
    if "condition" in fields:
        nodes = getattr(fields["condition"], "value", [])
        parsed = [s for s in (_step(path, n) for n in nodes) if s is not None]
        for step in parsed:
            if not isinstance(step, SlotStep | LoopStep):
                raise DataFileError(
                    path,
                    f"rule {name_node.value!r}: a condition can hold only active_loop and "
                    "slot_was_set",
                    line=step.line,
                    field="condition",
                    fix="move other steps under steps:",
                )
        condition = tuple(s for s in parsed if isinstance(s, SlotStep | LoopStep))
    return Story(
        name=str(name_node.value),
        steps=steps,
        path=str(path),
        line=line,
        rule=rule,
        conversation_start=_flag(fields.get("conversation_start"), False),
        wait_for_user_input=_flag(fields.get("wait_for_user_input"), True),
        condition=condition,
    )


def _flag(node: yaml.Node | None, default: bool) -> bool:
    if node is None:
        return default
    return bool(_plain(node))


def _step(path: Path, node: yaml.Node) -> Step | None:
    line = node.start_mark.line + 1
    data = _plain(node)
    if not isinstance(data, dict):
        raise DataFileError(
            path,
            f"a step must be a mapping, got {data!r}",
            line=line,
            fix="write '- intent: NAME', '- action: NAME', '- slot_was_set:' or '- active_loop:'",
        )
    if "or" in data:
        options: list[UserStep | SlotStep] = []
        for option in getattr(node, "value", [[None, None]])[0][1].value:
            parsed = _step(path, option)
            if parsed is None:
                continue
            if not isinstance(parsed, UserStep | SlotStep):
                raise DataFileError(
                    path,
                    "an 'or' step can list only intents and slot_was_set",
                    line=parsed.line,
                    field="or",
                )
            options.append(parsed)
        return OrStep(tuple(options), line)
    if "intent" in data or "user" in data:
        return _user_step(path, data, line)
    if "action" in data:
        return ActionStep(str(data["action"]), line)
    if "bot" in data:
        return BotStep(str(data["bot"]).strip(), line)
    if "checkpoint" in data:
        # A checkpoint may carry slot conditions; the story joins on its name.
        return CheckpointStep(str(data["checkpoint"]), line)
    if "slot_was_set" in data:
        return SlotStep(_slots(path, data["slot_was_set"], line), line)
    if "active_loop" in data:
        loop = data["active_loop"]
        return LoopStep(None if loop in (None, "null") else str(loop), line)
    if set(data) <= {"metadata"}:
        return None  # Rasa skips a metadata step
    raise DataFileError(
        path,
        f"unknown step {sorted(data)}",
        line=line,
        fix="use intent, user, action, bot, slot_was_set, active_loop, checkpoint or or",
    )


def _user_step(path: Path, data: Mapping[str, Any], line: int) -> UserStep:
    text = data.get("user")
    intent = data.get("intent")
    entities: list[Entity] = []
    if isinstance(text, str):
        text, entities = parse_annotated(text.strip())
    for item in data.get("entities") or ():
        if isinstance(item, str):
            entities.append(Entity(item))
        elif isinstance(item, dict) and "entity" in item:
            entities.append(
                Entity(
                    str(item["entity"]),
                    item.get("value"),
                    item.get("role"),
                    None if item.get("group") is None else str(item["group"]),
                )
            )
        elif isinstance(item, dict) and len(set(item) - {"role", "group"}) == 1:
            # `- city: Berlin` with an optional `role:` / `group:` beside it.
            (name, value), *_ = ((k, v) for k, v in item.items() if k not in ("role", "group"))
            group = item.get("group")
            entities.append(
                Entity(str(name), value, item.get("role"), None if group is None else str(group))
            )
        else:
            raise DataFileError(
                path,
                f"cannot read the entity {item!r}",
                line=line,
                field="entities",
                fix="write '- NAME: VALUE' or '- entity: NAME' with 'value:'",
            )
    if text is not None:
        # A `/intent{...}` payload names its intent and entities itself.
        match = re.match(r"^/([\w.-]+)(\{.*\})?$", text)
        if match:
            intent = intent if intent is not None else match.group(1)
            entities.extend(_payload_entities(match.group(2)))
    if isinstance(intent, str):
        intent = intent.removeprefix("/")
    return UserStep(None if intent is None else str(intent), tuple(entities), text, line)


def _payload_entities(raw: str | None) -> list[Entity]:
    if not raw:
        return []
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        return []
    if not isinstance(values, dict):
        return []
    return [Entity(str(name), value) for name, value in values.items()]


def parse_annotated(text: str) -> tuple[str, list[Entity]]:
    """``I want [Italian](cuisine) food`` -> ("I want Italian food", [cuisine=Italian])."""
    entities: list[Entity] = []

    def replace(match: re.Match[str]) -> str:
        surface = match.group("text")
        if match.group("short"):
            name, _, value = match.group("short").partition(":")
            entities.append(Entity(name.strip(), value.strip() or surface))
        else:
            raw = match.group("json") or f"[{match.group('list')}]"
            try:
                specs = json.loads(raw)
            except json.JSONDecodeError:
                return match.group(0)
            for spec in specs if isinstance(specs, list) else [specs]:
                entities.append(
                    Entity(
                        str(spec.get("entity")),
                        spec.get("value", surface),
                        spec.get("role"),
                        None if spec.get("group") is None else str(spec["group"]),
                    )
                )
        return surface

    return _ENTITY.sub(replace, text), entities


def _slots(path: Path, value: Any, line: int) -> tuple[tuple[str, Any], ...]:
    if isinstance(value, dict):
        value = [{k: v} for k, v in value.items()]
    if not isinstance(value, list):
        raise DataFileError(
            path,
            "slot_was_set must be a list",
            line=line,
            field="slot_was_set",
            fix="write '- SLOT: VALUE' items",
        )
    slots: list[tuple[str, Any]] = []
    for item in value:
        if isinstance(item, str):
            slots.append((item, ANY_VALUE))
        elif isinstance(item, dict):
            slots.extend((str(k), v) for k, v in item.items())
        else:
            raise DataFileError(
                path, f"cannot read the slot {item!r}", line=line, field="slot_was_set"
            )
    return tuple(slots)


# Expanding checkpoints and `or` into plain step lists --------------------------------------

PlainStep = UserStep | ActionStep | BotStep | SlotStep | LoopStep

MAX_EXPANSIONS = 2_000


def expand(stories: Sequence[Story]) -> list[tuple[Story, tuple[PlainStep, ...]]]:
    """Every path a story can take, with checkpoints joined and ``or`` steps multiplied out.

    A story that starts at a checkpoint continues each story that ends at it; a story that
    ends at a checkpoint nobody continues stands on its own, as Rasa treats it.
    """
    starts: dict[str, list[Story]] = {}
    for story in stories:
        first = story.steps[0] if story.steps else None
        if isinstance(first, CheckpointStep):
            starts.setdefault(first.name, []).append(story)
    result: list[tuple[Story, tuple[PlainStep, ...]]] = []
    for story in stories:
        first = story.steps[0] if story.steps else None
        if isinstance(first, CheckpointStep):
            continue  # reached from the stories that end at its checkpoint
        for path in _walk(story, starts, depth=0):
            result.append((story, path))
            if len(result) > MAX_EXPANSIONS:
                return result
    return result


def _walk(
    story: Story, starts: Mapping[str, list[Story]], depth: int
) -> list[tuple[PlainStep, ...]]:
    body: list[list[PlainStep]] = []
    tail_checkpoints: list[str] = []
    for step in story.steps:
        if isinstance(step, CheckpointStep):
            if step is not story.steps[0]:
                tail_checkpoints.append(step.name)
            continue
        if isinstance(step, OrStep):
            body.append(list(step.options))
        else:
            body.append([step])
    paths = [tuple(p) for p in itertools.islice(itertools.product(*body), MAX_EXPANSIONS)]
    continuations = [s for name in tail_checkpoints for s in starts.get(name, ())]
    if not continuations or depth > 8:
        return paths
    joined: list[tuple[PlainStep, ...]] = []
    for head in paths:
        for follower in continuations:
            for tail in _walk(follower, starts, depth + 1):
                joined.append(head + tail)
                if len(joined) > MAX_EXPANSIONS:
                    return joined
    return joined
