"""A message the bot (or a person) sends, and its Rasa wire shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class BotMessage:
    text: str = ""
    buttons: tuple[Mapping[str, str], ...] = ()
    image: str | None = None
    custom: Mapping[str, Any] | None = None

    def payload(self) -> dict[str, Any] | None:
        """Everything but the text, as stored with the turn (None when there is nothing)."""
        extra: dict[str, Any] = {}
        if self.buttons:
            extra["buttons"] = [dict(b) for b in self.buttons]
        if self.image:
            extra["image"] = self.image
        if self.custom:
            extra["custom"] = dict(self.custom)
        return extra or None

    @classmethod
    def from_stored(cls, text: str, payload: Mapping[str, Any] | None) -> BotMessage:
        payload = payload or {}
        return cls(
            text=text,
            buttons=tuple(payload.get("buttons") or ()),
            image=payload.get("image"),
            custom=payload.get("custom"),
        )

    @classmethod
    def from_rasa(cls, response: Mapping[str, Any]) -> BotMessage:
        """A rasa_sdk dispatcher message (``utter_message``) as a BotMessage."""
        custom = response.get("custom") or response.get("json_message") or None
        return cls(
            text=str(response.get("text") or ""),
            buttons=tuple(response.get("buttons") or ()),
            image=response.get("image") or None,
            custom=custom,
        )

    def to_rasa(self, recipient_id: str) -> dict[str, Any]:
        """Rasa's REST channel item: absent fields are dropped, not sent as null."""
        item: dict[str, Any] = {"recipient_id": recipient_id}
        if self.text:
            item["text"] = self.text
        item.update(self.payload() or {})
        return item


@dataclass(frozen=True, slots=True)
class Reply:
    """What a conversation turn produced, and why."""

    messages: tuple[BotMessage, ...]
    route: str
    answer_source: str | None = None
    retrieval_score: float | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    escalation_reason: str | None = None
