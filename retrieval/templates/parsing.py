"""Reading response variants: Rasa's keys, validated with errors that name the file, the
line, the response and the fix."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from retrieval.base.datafiles import DataFileError, yaml_line_index
from retrieval.templates.interpolation import (
    CONDITION_FIX,
    METADATA_KEYS,
    VARIANT_KEYS,
    format_problem,
)
from retrieval.templates.variants import Button, Condition, Variant

log = logging.getLogger(__name__)


def _line(source: str, key: str) -> int | None:
    try:
        return next((n for _, n in yaml_line_index(source, [f"{key}:"])), None)
    except (OSError, UnicodeDecodeError):
        return None  # not a file (from_mapping) or unreadable: no line to point at


Fail = Callable[[str, str], DataFileError]


def parse_variants(source: str, key: str, variants: Any) -> tuple[Variant, ...]:
    def fail(problem: str, fix: str) -> DataFileError:
        return DataFileError(source, problem, line=_line(source, key), field=key, fix=fix)

    if not isinstance(variants, list) or not variants:
        raise fail(
            "expected a non-empty list of variants",
            "write each variant on its own '- ' line under the key",
        )
    return tuple(_parse_variant(raw, f"variant {n}", fail) for n, raw in enumerate(variants, 1))


def _parse_variant(raw: Any, where: str, fail: Fail) -> Variant:
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, Mapping):
        raise fail(
            f"{where} is a {type(raw).__name__}",
            "use a string or a mapping with text/buttons/image/custom",
        )
    unknown = sorted(str(k) for k in raw if k not in VARIANT_KEYS)
    if unknown:
        raise fail(
            f"{where} has unsupported key(s) {', '.join(unknown)}",
            f"use only {', '.join(VARIANT_KEYS)}",
        )
    text = _scalar_text(raw.get("text"))
    if text is None:
        raise fail(f"{where}: text is a {type(raw['text']).__name__}", "quote the text")
    image = raw.get("image")
    if image is not None and not isinstance(image, str):
        raise fail(f"{where}: image is not a URL string", "give the image as a URL")
    custom = raw.get("custom")
    if custom is not None and not isinstance(custom, Mapping):
        raise fail(f"{where}: custom is not a mapping", "write custom as key: value pairs")
    attachment = raw.get("attachment")
    if attachment is not None and not isinstance(attachment, str | Mapping):
        raise fail(f"{where}: attachment is not a URL or a mapping", "give it as a URL")
    quick_replies = _parse_list(raw, "quick_replies", where, fail)
    if any(not isinstance(q, Mapping) for q in quick_replies):
        raise fail(
            f"{where}: quick_replies holds something that is not a mapping",
            "write quick replies like buttons: '- title: ...' and 'payload: ...'",
        )
    elements = _parse_list(raw, "elements", where, fail)
    buttons = _parse_buttons(raw.get("buttons"), where, fail)
    channel = raw.get("channel")
    if channel is not None and (not isinstance(channel, str) or not channel.strip()):
        raise fail(f"{where}: channel is not a channel name", "write e.g. channel: socketio")
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise fail(f"{where}: metadata is not a mapping", "write metadata as key: value pairs")
    if not (text.strip() or image or custom or attachment or buttons or quick_replies or elements):
        raise fail(f"{where} is empty", "give it a text (or an image, buttons or custom payload)")
    for shown in (text, *(b.title for b in buttons)):
        problem = format_problem(shown)
        if problem:
            raise fail(
                f"{where}: {shown!r} is not a valid template: {problem}",
                "write slots as {slot_name}; double a brace ({{ or }}) to show it as text",
            )
    return Variant(
        text=text,
        buttons=buttons,
        image=image,
        custom=dict(custom) if custom else None,
        attachment=attachment,
        quick_replies=tuple(quick_replies),
        elements=tuple(elements),
        conditions=_parse_conditions(raw.get("condition"), where, fail),
        channel=channel,
        extra={k: raw[k] for k in METADATA_KEYS if raw.get(k) is not None},
    )


def _scalar_text(value: Any) -> str | None:
    """Text as Rasa accepts it: a string, or a number YAML read as one (``text: 42``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _parse_list(raw: Mapping[str, Any], name: str, where: str, fail: Fail) -> list[Any]:
    value = raw.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"{where}: {name} is not a list", f"write {name} as a list of '- ' items")
    return value


def _parse_buttons(raw: Any, where: str, fail: Fail) -> tuple[Button, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail(f"{where}: buttons is not a list", "write buttons as a list of title/payload")
    buttons: list[Button] = []
    for number, button in enumerate(raw, start=1):
        title = _scalar_text(button.get("title")) if isinstance(button, Mapping) else None
        payload = _scalar_text(button.get("payload")) if isinstance(button, Mapping) else None
        if not title or payload is None or "payload" not in button:
            raise fail(
                f"{where}: button {number} needs a text title and payload",
                "write '- title: ...' and 'payload: ...' (quote payloads like /intent)",
            )
        buttons.append(Button(title, payload))
    return tuple(buttons)


def _parse_conditions(raw: Any, where: str, fail: Fail) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail(f"{where}: condition is not a list", CONDITION_FIX)
    if not raw:
        # Rasa counts such a variant neither as conditional nor as a default: never used.
        raise fail(f"{where}: condition is an empty list", "list conditions or drop the key")
    conditions: list[Condition] = []
    for number, item in enumerate(raw, start=1):
        at = f"{where}, condition {number}"
        if not isinstance(item, Mapping):
            raise fail(f"{at} is a {type(item).__name__}, not a mapping", CONDITION_FIX)
        unknown = sorted(str(k) for k in item if k not in ("type", "name", "value"))
        if unknown:
            raise fail(f"{at} has unsupported key(s) {', '.join(unknown)}", CONDITION_FIX)
        if item.get("type", "slot") != "slot":
            raise fail(
                f"{at}: type {item.get('type')!r} is not supported (Rasa has slot conditions)",
                CONDITION_FIX,
            )
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"{at} names no slot", CONDITION_FIX)
        if "value" not in item:
            raise fail(
                f"{at} has no value for slot {name}",
                "add 'value: ...' (value: null matches a slot that is not set)",
            )
        conditions.append(Condition(name, item["value"]))
    return tuple(conditions)
