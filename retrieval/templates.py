"""Answer templates: the responses file, and filling slots into it safely.

The responses file maps a key (an intent or a Rasa ``utter_`` name) to a list of
variants. A variant is a plain string or ``{text, buttons?: [{title, payload}], image?,
custom?}``. A Rasa domain with a top-level ``responses:`` section is read as well.

Placeholders are ``{slot}`` (Rasa style) or ``{{Slot Name}}`` (Bitext style, as in
``{{Order Number}}``); both are looked up by normalised name, so ``{{Order Number}}`` is
filled by the slot ``order_number`` or its alias ``order_id``. Rendering never returns a
response with a placeholder left in it: the customer would see ``{{Order Number}}``
verbatim, which is worse than the policy asking for the order number.

Choosing a variant is deterministic: among the variants whose placeholders can all be
filled, those using the most slots win, and ``turn`` (e.g. the conversation's turn number)
rotates among them. No state is kept between calls, so every server process picks the same
variant for the same turn and tests see a fixed answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.base.datafiles import DataFileError, load_yaml, yaml_line_index

SLOT_ALIASES: tuple[frozenset[str], ...] = (
    frozenset({"order_number", "order_id"}),
    frozenset({"invoice_number", "invoice_id"}),
    frozenset({"tracking_number", "tracking_id"}),
    frozenset({"account_number", "account_id"}),
    frozenset({"client_first_name", "first_name"}),
    frozenset({"client_last_name", "last_name"}),
    frozenset({"person_name", "customer_name"}),
)
"""Names that mean the same slot: Bitext's placeholder wording and the slot names the bot
uses (``order_id``) differ, and the answer should not depend on which one a writer chose."""

_ALIASES: dict[str, frozenset[str]] = {name: group for group in SLOT_ALIASES for name in group}

_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
# What is left of a template after its placeholders are taken out must not look like one.
_STRAY = re.compile(r"\{\{|\}\}|\{[^{}]*\}")
_SEPARATORS = re.compile(r"[\s\-]+")

VARIANT_KEYS = ("text", "buttons", "image", "custom")


def normalise_slot_name(name: str) -> str:
    """``Order Number`` → ``order_number``: how placeholders and slots are matched."""
    return _SEPARATORS.sub("_", name.strip().lower())


def placeholders(text: str) -> set[str]:
    """The normalised slot names ``text`` refers to."""
    return {normalise_slot_name(m.group(1) or m.group(2)) for m in _PLACEHOLDER.finditer(text)}


def fill_text(text: str, slots: Mapping[str, Any]) -> str | None:
    """``text`` with every placeholder filled, or None if any slot is missing or empty."""
    values = _normalised(slots)
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        value = _lookup(values, normalise_slot_name(match.group(1) or match.group(2)))
        if value is None:
            missing = True
            return ""
        return value

    filled = _PLACEHOLDER.sub(substitute, text)
    return None if missing else filled


def _normalised(slots: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, raw in slots.items():
        value = _slot_text(raw)
        if value is not None:
            values[normalise_slot_name(str(name))] = value
    return values


def _slot_text(value: Any) -> str | None:
    """A slot's value as text; None for unset, blank or empty values (a blank order number
    is as useless to a customer as a missing one)."""
    if value is None:
        return None
    if isinstance(value, list | tuple | set | frozenset):
        parts = [t for t in (_slot_text(v) for v in value) if t is not None]
        return ", ".join(parts) or None
    text = str(value)
    return text if text.strip() else None


def _lookup(values: Mapping[str, str], name: str) -> str | None:
    if name in values:
        return values[name]
    for alias in sorted(_ALIASES.get(name, ())):
        if alias in values:
            return values[alias]
    return None


@dataclass(frozen=True, slots=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class RenderedResponse:
    text: str
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: Mapping[str, Any] | None = None

    def to_message(self) -> dict[str, Any]:
        """The Rasa REST message fields (without ``recipient_id``), empty ones left out."""
        message: dict[str, Any] = {}
        if self.text:
            message["text"] = self.text
        if self.buttons:
            message["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        if self.image:
            message["image"] = self.image
        if self.custom:
            message["custom"] = dict(self.custom)
        return message


@dataclass(frozen=True, slots=True)
class _Variant:
    text: str
    buttons: tuple[Button, ...]
    image: str | None
    custom: Mapping[str, Any] | None
    slots: frozenset[str]

    def shown(self) -> Iterator[str]:
        """The strings a customer sees. Payloads and custom data are left out: Rasa
        payloads carry JSON such as ``/inform{"order_id": "1"}`` that is not a slot."""
        yield self.text
        for button in self.buttons:
            yield button.title

    def strings(self) -> Iterator[str]:
        yield self.text
        for button in self.buttons:
            yield button.title
            yield button.payload
        if self.image:
            yield self.image
        if self.custom:
            yield from _nested_strings(self.custom)

    def render(self, slots: Mapping[str, Any]) -> RenderedResponse | None:
        text = fill_text(self.text, slots)
        if text is None:
            return None
        buttons: list[Button] = []
        for button in self.buttons:
            title, payload = fill_text(button.title, slots), fill_text(button.payload, slots)
            if title is None or payload is None:
                return None
            buttons.append(Button(title, payload))
        image = fill_text(self.image, slots) if self.image else None
        if self.image and image is None:
            return None
        custom = _fill_nested(self.custom, slots) if self.custom else None
        if self.custom and custom is None:
            return None
        return RenderedResponse(text, tuple(buttons), image, custom)


def _nested_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _nested_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nested_strings(item)


def _fill_nested(value: Any, slots: Mapping[str, Any]) -> Any:
    """``value`` with placeholders in every string filled; None if one cannot be."""
    if isinstance(value, str):
        return fill_text(value, slots)
    if isinstance(value, Mapping):
        filled_map = {k: _fill_nested(v, slots) for k, v in value.items()}
        unfilled = any(filled_map[k] is None and value[k] is not None for k in value)
        return None if unfilled else filled_map
    if isinstance(value, list):
        filled_list = [_fill_nested(v, slots) for v in value]
        unfilled = any(f is None and v is not None for f, v in zip(filled_list, value, strict=True))
        return None if unfilled else filled_list
    return value


class ResponseTemplates:
    """The parsed responses file."""

    def __init__(self, responses: Mapping[str, tuple[_Variant, ...]], source: str) -> None:
        self._responses = dict(responses)
        self.source = source

    @classmethod
    def load(cls, path: str | Path) -> ResponseTemplates:
        return cls.from_mapping(load_yaml(path), source=str(path))

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<responses>") -> ResponseTemplates:
        """Validate already-parsed YAML; errors name ``source`` like a file."""
        if (
            isinstance(data, Mapping)
            and set(data) >= {"responses"}
            and isinstance(data["responses"], Mapping)
        ):
            # A Rasa domain file: only its responses section is ours.
            data = data["responses"]
        if data is None:
            raise DataFileError(
                source, "the file is empty", fix="add 'intent: [text, ...]' entries"
            )
        if not isinstance(data, Mapping):
            raise DataFileError(
                source,
                f"expected a mapping of keys to variant lists, got {type(data).__name__}",
                line=1,
                fix="write 'intent_name:' followed by a list of '- text' variants",
            )
        responses: dict[str, tuple[_Variant, ...]] = {}
        for key, variants in data.items():
            if not isinstance(key, str) or not key.strip():
                raise DataFileError(
                    source, f"key {key!r} is not a name", fix="use a text key such as greet"
                )
            responses[key] = _parse_variants(source, key, variants)
        return cls(responses, source)

    def __contains__(self, key: object) -> bool:
        return key in self._responses

    def __iter__(self) -> Iterator[str]:
        return iter(self._responses)

    def keys(self) -> list[str]:
        return list(self._responses)

    def render(
        self, key: str, slots: Mapping[str, Any] | None = None, *, turn: int = 0
    ) -> RenderedResponse | None:
        """A filled variant for ``key``, or None when the key is unknown or every variant
        needs a slot that is missing (then see :meth:`missing_slots`)."""
        slots = slots or {}
        variants = self._responses.get(key)
        if not variants:
            return None
        available = set(_normalised(slots))
        usable = [v for v in variants if all(_has(available, s) for s in v.slots)]
        if not usable:
            return None
        most = max(len(v.slots) for v in usable)
        best = [v for v in usable if len(v.slots) == most]
        return best[turn % len(best)].render(slots)

    def missing_slots(self, key: str, slots: Mapping[str, Any] | None = None) -> set[str]:
        """The slots to ask for before ``key`` can be rendered: those of the variant that
        lacks the fewest. Empty when a variant is renderable or the key is unknown."""
        variants = self._responses.get(key)
        if not variants:
            return set()
        available = set(_normalised(slots or {}))
        lacking = [{s for s in v.slots if not _has(available, s)} for v in variants]
        return min(lacking, key=len)


def _has(available: set[str], name: str) -> bool:
    return name in available or bool(_ALIASES.get(name, frozenset()) & available)


def _line(source: str, key: str) -> int | None:
    try:
        return next((n for _, n in yaml_line_index(source, [f"{key}:"])), None)
    except (OSError, UnicodeDecodeError):
        return None  # not a file (from_mapping) or unreadable: no line to point at


def _parse_variants(source: str, key: str, variants: Any) -> tuple[_Variant, ...]:
    def fail(problem: str, fix: str) -> DataFileError:
        return DataFileError(source, problem, line=_line(source, key), field=key, fix=fix)

    if not isinstance(variants, list) or not variants:
        raise fail(
            "expected a non-empty list of variants",
            "write each variant on its own '- ' line under the key",
        )
    parsed: list[_Variant] = []
    for number, raw in enumerate(variants, start=1):
        where = f"variant {number}"
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
        text = raw.get("text", "")
        if not isinstance(text, str):
            raise fail(f"{where}: text is a {type(text).__name__}", "quote the text")
        image = raw.get("image")
        if image is not None and not isinstance(image, str):
            raise fail(f"{where}: image is not a URL string", "give the image as a URL")
        custom = raw.get("custom")
        if custom is not None and not isinstance(custom, Mapping):
            raise fail(f"{where}: custom is not a mapping", "write custom as key: value pairs")
        if not text.strip() and not image and not custom:
            raise fail(f"{where} is empty", "give it a text (or an image or custom payload)")
        buttons = _parse_buttons(raw.get("buttons"), where, fail)
        variant = _Variant(text, buttons, image, dict(custom) if custom else None, frozenset())
        for string in variant.shown():
            stray = _STRAY.search(_PLACEHOLDER.sub("", string))
            if stray:
                raise fail(
                    f"{where}: {stray.group(0)!r} in {string!r} is not a valid placeholder",
                    "write slots as {slot_name} or {{Slot Name}}",
                )
        slots = frozenset(s for string in variant.strings() for s in placeholders(string))
        if "" in slots:
            raise fail(f"{where}: empty placeholder {{{{}}}}", "name the slot inside the braces")
        parsed.append(_Variant(text, buttons, image, variant.custom, slots))
    return tuple(parsed)


def _parse_buttons(
    raw: Any, where: str, fail: Callable[[str, str], DataFileError]
) -> tuple[Button, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail(f"{where}: buttons is not a list", "write buttons as a list of title/payload")
    buttons: list[Button] = []
    for number, button in enumerate(raw, start=1):
        if (
            not isinstance(button, Mapping)
            or not isinstance(button.get("title"), str)
            or not isinstance(button.get("payload"), str)
        ):
            raise fail(
                f"{where}: button {number} needs a text title and payload",
                "write '- title: ...' and 'payload: ...' (quote payloads like /intent)",
            )
        buttons.append(Button(button["title"], button["payload"]))
    return tuple(buttons)
