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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from retrieval.templates.interpolation import Gap, interpolate

log = logging.getLogger(__name__)


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
class Variant:
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


def candidates(
    variants: Sequence[Variant], slots: Mapping[str, Any], channel: str | None
) -> list[Variant]:
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
class Attempt:
    rendered: RenderedResponse
    gaps: tuple[Gap, ...]
