"""Answer templates: the responses file, rendered the way Rasa renders its responses.

The responses file maps a key (an intent or a Rasa ``utter_`` name) to a list of variants. A
variant is a plain string or a mapping with Rasa's keys: ``text``, ``buttons`` ([{title,
payload}]), ``image``, ``custom``, ``attachment``, ``quick_replies``, ``elements``,
``condition`` ([{type: slot, name, value}]), ``channel``, ``id`` and ``metadata``. A Rasa
domain with a top-level ``responses:`` section is read as well, so a Rasa project's domain
loads unchanged.

Rendering follows Rasa 3 (``rasa/core/nlg``): conditional variants whose conditions hold win
over unconditional ones, variants for the output channel over channel-less ones, and one of
the remaining candidates is picked at random. Placeholders are filled as Rasa's
``interpolator.py`` fills them (``{amount-of-money}`` included, None shown as ``None``, an
unknown name leaves the string as written). One Frontdesk rule sits on top, and only where
Rasa would show a customer ``None`` or a raw ``{slot}``: among the candidates, the variants
whose placeholders all have a value are preferred. Frontdesk's own responses.yml relies on it
("Order {order_id} ..." next to a variant that asks for the number); a Rasa project only
notices that it no longer says "Order None".

:func:`fill_text` is a different, stricter filler for answers found in the Q&A index: those
come from datasets such as Bitext, whose placeholders read ``{{Order Number}}``, and an answer
with a gap is not sent at all (the dialogue asks or hands over instead).
"""

from __future__ import annotations

import logging
import random
import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from retrieval.base.datafiles import DataFileError, load_yaml, yaml_line_index

log = logging.getLogger(__name__)

SLOT_ALIASES: tuple[frozenset[str], ...] = (
    frozenset({"order_number", "order_id"}),
    frozenset({"invoice_number", "invoice_id"}),
    frozenset({"tracking_number", "tracking_id"}),
    frozenset({"account_number", "account_id"}),
    frozenset({"client_first_name", "first_name"}),
    frozenset({"client_last_name", "last_name"}),
    frozenset({"person_name", "customer_name"}),
)
"""Names that mean the same slot in :func:`fill_text`: Bitext's placeholder wording and the
slot names the bot uses (``order_id``) differ, and the answer should not depend on which one a
writer chose."""

_ALIASES: dict[str, frozenset[str]] = {name: group for group in SLOT_ALIASES for name in group}

_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SEPARATORS = re.compile(r"[\s\-]+")
# Rasa's interpolator: any {name} without a newline or brace in it is a placeholder.
_RASA_PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")

VARIANT_KEYS = (
    "text",
    "buttons",
    "image",
    "custom",
    "attachment",
    "quick_replies",
    "elements",
    "condition",
    "channel",
    "id",
    "metadata",
)
# Keys a Rasa bot event keeps in its metadata rather than in its data.
_METADATA_KEYS = ("condition", "channel", "id", "metadata")
_CONDITION_FIX = "write condition: [{type: slot, name: <slot name>, value: <value>}]"


def normalise_slot_name(name: str) -> str:
    """``Order Number`` → ``order_number``: how :func:`fill_text` matches placeholders."""
    return _SEPARATORS.sub("_", name.strip().lower())


def placeholders(text: str) -> set[str]:
    """The normalised slot names ``text`` refers to, read as :func:`fill_text` reads them."""
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
    if isinstance(value, Mapping):
        return str(value) if value else None
    text = str(value)
    return text if text.strip() else None


def _lookup(values: Mapping[str, str], name: str) -> str | None:
    if name in values:
        return values[name]
    for alias in sorted(_ALIASES.get(name, ())):
        if alias in values:
            return values[alias]
    return None


# Rasa's interpolation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    """A placeholder that did not get a usable value: ``unset`` (None, shown as "None"),
    ``empty`` (a blank value), ``unknown`` (no such slot or value: the string stays as
    written) or ``malformed`` (braces Python's formatter rejects; ``name`` is the string)."""

    name: str
    problem: Literal["unset", "empty", "unknown", "malformed"]


class _Lookups(dict[str, Any]):
    """The values, noting each one a placeholder reads that a customer should not see."""

    def __init__(self, values: Mapping[str, Any], gaps: list[Gap]) -> None:
        super().__init__(values)
        self.gaps = gaps

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if value is None:
            self.gaps.append(Gap(str(key), "unset"))
        elif _slot_text(value) is None:
            self.gaps.append(Gap(str(key), "empty"))
        return value


def interpolate(value: Any, values: Mapping[str, Any], gaps: list[Gap] | None = None) -> Any:
    """``value`` (a string, or a mapping or list holding strings) filled as Rasa fills a
    response; what could not be filled is appended to ``gaps``."""
    gaps = [] if gaps is None else gaps
    if isinstance(value, str):
        return _interpolate_text(value, values, gaps)
    if isinstance(value, Mapping):
        return {k: interpolate(v, values, gaps) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [interpolate(v, values, gaps) for v in value]
    return value


def _interpolate_text(template: str, values: Mapping[str, Any], gaps: list[Gap]) -> str:
    # Only the values the template names are passed (as later Rasa 3 releases do), so "{}"
    # can never print every slot of the conversation.
    named = {k: values[k] for k in _RASA_PLACEHOLDER.findall(template) if k in values}
    found: list[Gap] = []
    try:
        text = _RASA_PLACEHOLDER.sub(r"{0[\1]}", template).format(_Lookups(named, found))
        if "0[" in text:
            # A {{slot}}: format unescaped it to "{0[slot]}"; Rasa shows it as "{slot}".
            text = template.format({})
    except KeyError as exc:
        gaps.append(Gap(str(exc.args[0]), "unknown"))
        return template
    except (ValueError, IndexError, AttributeError, TypeError):
        # Rasa raises here; a response sent as written is better than no answer at all.
        gaps.append(Gap(template, "malformed"))
        return template
    gaps.extend(found)
    # Rasa does not interpolate at all when there are no values to interpolate.
    return text if values else template


def _format_problem(text: str) -> str | None:
    """Why Rasa's interpolation of ``text`` would fail whatever the values, if it would."""
    try:
        fields = list(string.Formatter().parse(_RASA_PLACEHOLDER.sub(r"{0[\1]}", text)))
    except ValueError as exc:
        return f"its braces do not pair up ({exc})"
    if any(name == "" for _, name, _, _ in fields):
        return "it has an empty placeholder {}"
    return None


# Responses ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class Condition:
    """``{type: slot, name, value}``: compared as Rasa's ``ResponseVariationFilter`` does."""

    slot: str
    value: Any

    def holds(self, slots: Mapping[str, Any]) -> bool:
        current = slots.get(self.slot)
        if isinstance(current, str) and isinstance(self.value, str):
            return current.casefold() == self.value.casefold()
        return bool(current == self.value)


@dataclass(frozen=True, slots=True)
class RenderedResponse:
    text: str
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: Mapping[str, Any] | None = None
    attachment: Any = None
    quick_replies: tuple[Any, ...] = ()
    elements: tuple[Any, ...] = ()
    event_metadata: Mapping[str, Any] = field(default_factory=dict)
    """The variant's other keys (``id``, ``metadata``, ``condition``, ``channel``), which
    Rasa keeps in the bot event's metadata."""

    def to_message(self) -> dict[str, Any]:
        """The Rasa message fields (without ``recipient_id``), empty ones left out."""
        message: dict[str, Any] = {}
        if self.text:
            message["text"] = self.text
        if self.buttons:
            message["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        if self.image:
            message["image"] = self.image
        if self.custom:
            message["custom"] = dict(self.custom)
        if self.attachment:
            message["attachment"] = self.attachment
        if self.quick_replies:
            message["quick_replies"] = list(self.quick_replies)
        if self.elements:
            message["elements"] = list(self.elements)
        return message


@dataclass(frozen=True, slots=True)
class _Variant:
    text: str
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: Mapping[str, Any] | None = None
    attachment: Any = None
    quick_replies: tuple[Any, ...] = ()
    elements: tuple[Any, ...] = ()
    conditions: tuple[Condition, ...] = ()
    channel: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def render(self, values: Mapping[str, Any], gaps: list[Gap]) -> RenderedResponse:
        def fill(value: Any) -> Any:
            return interpolate(value, values, gaps)

        return RenderedResponse(
            text=fill(self.text),
            buttons=tuple(Button(fill(b.title), fill(b.payload)) for b in self.buttons),
            image=fill(self.image),
            custom=fill(self.custom),
            attachment=fill(self.attachment),
            quick_replies=tuple(fill(list(self.quick_replies))),
            elements=self.elements,  # Rasa does not fill elements either
            event_metadata=self.extra,
        )


def _candidates(
    variants: Sequence[_Variant], slots: Mapping[str, Any], channel: str | None
) -> list[_Variant]:
    """Rasa's choice of eligible variants: conditional ones that hold for the channel, then
    unconditional ones for the channel, then conditional, then unconditional channel-less."""
    conditional = [
        v for v in variants if v.conditions and all(c.holds(slots) for c in v.conditions)
    ]
    default = [v for v in variants if not v.conditions]
    tiers = (
        [v for v in conditional if channel is not None and v.channel == channel],
        [v for v in default if channel is not None and v.channel == channel],
        [v for v in conditional if v.channel is None],
        [v for v in default if v.channel is None],
    )
    return next((tier for tier in tiers if tier), [])


@dataclass(frozen=True, slots=True)
class _Attempt:
    rendered: RenderedResponse
    gaps: tuple[Gap, ...]


class ResponseTemplates:
    """The parsed responses file."""

    def __init__(
        self,
        responses: Mapping[str, tuple[_Variant, ...]],
        source: str,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._responses = dict(responses)
        self.source = source
        self.rng = rng or random.Random()

    @classmethod
    def load(cls, path: str | Path, *, rng: random.Random | None = None) -> ResponseTemplates:
        return cls.from_mapping(load_yaml(path), source=str(path), rng=rng)

    @classmethod
    def from_mapping(
        cls, data: Any, source: str = "<responses>", *, rng: random.Random | None = None
    ) -> ResponseTemplates:
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
        return cls(responses, source, rng=rng)

    def __contains__(self, key: object) -> bool:
        return key in self._responses

    def __iter__(self) -> Iterator[str]:
        return iter(self._responses)

    def keys(self) -> list[str]:
        return list(self._responses)

    def render(
        self,
        key: str,
        slots: Mapping[str, Any] | None = None,
        *,
        values: Mapping[str, Any] | None = None,
        channel: str | None = None,
        turn: int | None = None,
    ) -> RenderedResponse | None:
        """A variant of ``key`` picked and filled as Rasa would; None when the key is unknown
        or no variant suits ``channel`` and the conditions (Rasa then says nothing either).

        ``slots`` decide the conditions; ``values`` (an action's ``utter_message`` keyword
        arguments) fill placeholders ahead of them. ``turn`` picks the candidate
        ``turn % n`` instead of a random one, for callers that must be repeatable.
        """
        attempts = self._attempts(key, slots or {}, values or {}, channel)
        if not attempts:
            return None
        pool = [a for a in attempts if not a.gaps] or attempts
        chosen = pool[turn % len(pool)] if turn is not None else self.rng.choice(pool)
        for gap in chosen.gaps:
            _warn(key, gap)
        return chosen.rendered

    def missing_slots(
        self,
        key: str,
        slots: Mapping[str, Any] | None = None,
        *,
        channel: str | None = None,
    ) -> set[str]:
        """The placeholders to give values to before ``key`` renders without a gap: those of
        the candidate variant that lacks the fewest. Empty when one has none or the key is
        unknown."""
        attempts = self._attempts(key, slots or {}, {}, channel)
        lacking = [{g.name for g in a.gaps if g.problem != "malformed"} for a in attempts]
        return min(lacking, key=len, default=set())

    def _attempts(
        self,
        key: str,
        slots: Mapping[str, Any],
        values: Mapping[str, Any],
        channel: str | None,
    ) -> list[_Attempt]:
        filled = {**slots, **values}
        attempts: list[_Attempt] = []
        for variant in _candidates(self._responses.get(key, ()), slots, channel):
            gaps: list[Gap] = []
            rendered = variant.render(filled, gaps)
            attempts.append(_Attempt(rendered, tuple(dict.fromkeys(gaps))))
        return attempts


def _warn(key: str, gap: Gap) -> None:
    if gap.problem == "unset":
        log.warning("response %s: slot %s has no value; it is shown as 'None'", key, gap.name)
    elif gap.problem == "empty":
        log.warning("response %s: slot %s is empty; its placeholder shows nothing", key, gap.name)
    elif gap.problem == "unknown":
        log.warning(
            "response %s: no slot or value named %s; the text is sent with {%s} in it",
            key,
            gap.name,
            gap.name,
        )
    else:
        log.warning("response %s: %r cannot be filled; it is sent as written", key, gap.name)


# Validation --------------------------------------------------------------------------------


def _line(source: str, key: str) -> int | None:
    try:
        return next((n for _, n in yaml_line_index(source, [f"{key}:"])), None)
    except (OSError, UnicodeDecodeError):
        return None  # not a file (from_mapping) or unreadable: no line to point at


Fail = Callable[[str, str], DataFileError]


def _parse_variants(source: str, key: str, variants: Any) -> tuple[_Variant, ...]:
    def fail(problem: str, fix: str) -> DataFileError:
        return DataFileError(source, problem, line=_line(source, key), field=key, fix=fix)

    if not isinstance(variants, list) or not variants:
        raise fail(
            "expected a non-empty list of variants",
            "write each variant on its own '- ' line under the key",
        )
    return tuple(_parse_variant(raw, f"variant {n}", fail) for n, raw in enumerate(variants, 1))


def _parse_variant(raw: Any, where: str, fail: Fail) -> _Variant:
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
        problem = _format_problem(shown)
        if problem:
            raise fail(
                f"{where}: {shown!r} is not a valid template: {problem}",
                "write slots as {slot_name}; double a brace ({{ or }}) to show it as text",
            )
    return _Variant(
        text=text,
        buttons=buttons,
        image=image,
        custom=dict(custom) if custom else None,
        attachment=attachment,
        quick_replies=tuple(quick_replies),
        elements=tuple(elements),
        conditions=_parse_conditions(raw.get("condition"), where, fail),
        channel=channel,
        extra={k: raw[k] for k in _METADATA_KEYS if raw.get(k) is not None},
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
        raise fail(f"{where}: condition is not a list", _CONDITION_FIX)
    if not raw:
        # Rasa counts such a variant neither as conditional nor as a default: never used.
        raise fail(f"{where}: condition is an empty list", "list conditions or drop the key")
    conditions: list[Condition] = []
    for number, item in enumerate(raw, start=1):
        at = f"{where}, condition {number}"
        if not isinstance(item, Mapping):
            raise fail(f"{at} is a {type(item).__name__}, not a mapping", _CONDITION_FIX)
        unknown = sorted(str(k) for k in item if k not in ("type", "name", "value"))
        if unknown:
            raise fail(f"{at} has unsupported key(s) {', '.join(unknown)}", _CONDITION_FIX)
        if item.get("type", "slot") != "slot":
            raise fail(
                f"{at}: type {item.get('type')!r} is not supported (Rasa has slot conditions)",
                _CONDITION_FIX,
            )
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"{at} names no slot", _CONDITION_FIX)
        if "value" not in item:
            raise fail(
                f"{at} has no value for slot {name}",
                "add 'value: ...' (value: null matches a slot that is not set)",
            )
        conditions.append(Condition(name, item["value"]))
    return tuple(conditions)
