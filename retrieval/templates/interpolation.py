"""Filling placeholders: Rasa's interpolation for responses, and the stricter filler for
answers found in the Q&A index (Bitext's ``{{Order Number}}`` placeholders)."""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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
METADATA_KEYS = ("condition", "channel", "id", "metadata")
CONDITION_FIX = "write condition: [{type: slot, name: <slot name>, value: <value>}]"


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


def format_problem(text: str) -> str | None:
    """Why Rasa's interpolation of ``text`` would fail whatever the values, if it would."""
    try:
        fields = list(string.Formatter().parse(_RASA_PLACEHOLDER.sub(r"{0[\1]}", text)))
    except ValueError as exc:
        return f"its braces do not pair up ({exc})"
    if any(name == "" for _, name, _, _ in fields):
        return "it has an empty placeholder {}"
    return None


# Responses ---------------------------------------------------------------------------------
