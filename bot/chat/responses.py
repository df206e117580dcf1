"""The bot's words: responses rendered from the templates, texts from the dialogue's own
routes, and messages sent by custom actions, each as a message and a ``bot`` event.

Responses are rendered as Rasa's ``ActionBotResponse`` and ``RemoteAction`` render them, so a
Rasa project's variations, conditions, channels and ``utter_message(response=..., **kwargs)``
calls say what they say under Rasa, and the ``bot`` events have Rasa's shape (``data`` with
all six fields, the rest in ``metadata``) for the custom actions that read them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from bot.chat.tracker import Event, Tracker, bot_uttered
from bot.core.messages import BotMessage
from retrieval.templates import RenderedResponse, ResponseTemplates, fill_text

log = logging.getLogger(__name__)

DEFAULT_FALLBACK = "Sorry, I didn't quite get that. Could you rephrase it, or shall I get a person?"
DEFAULT_HANDOFF = "I'm connecting you with a member of our team. They'll reply here shortly."
OUTPUT_CHANNELS: Mapping[str, str] = {"rest": "collector"}
"""Input channel → the output channel name Rasa matches a variant's ``channel:`` against:
Rasa answers its REST webhook through ``CollectingOutputChannel``, named ``collector``, so a
``channel: rest`` variant is not used there. Other channels keep their own name."""
_DATA_FIELDS = ("elements", "quick_replies", "buttons", "attachment", "image", "custom")


def message_of(event: Mapping[str, Any]) -> BotMessage:
    data = event.get("data") or {}
    return BotMessage(
        text=str(event.get("text") or ""),
        # Rasa's REST channel sends quick replies in place of the buttons.
        buttons=tuple(data.get("quick_replies") or data.get("buttons") or ()),
        image=data.get("image") or None,
        custom=data.get("custom") or None,
    )


def _event(message: BotMessage, utter_action: str | None) -> Event:
    data = dict.fromkeys(_DATA_FIELDS)
    data.update(message.payload() or {})
    data["attachment"] = message.image
    return bot_uttered(message.text or None, data, utter_action)


def _utterance(draft: dict[str, Any]) -> tuple[BotMessage | None, Event | None]:
    """A Rasa message draft as (message, event), split as Rasa's ``create_bot_utterance``
    splits it: text, the six data fields, and everything else as metadata."""
    text = draft.pop("text", None)
    data = {name: draft.pop(name, None) for name in _DATA_FIELDS}
    # Rasa's legacy rule: an image doubles as the attachment when there is none.
    data["attachment"] = data["attachment"] or data["image"]
    if not (text or any(data.values())):
        log.warning("an empty message was to be sent; nothing said")
        return None, None
    event = bot_uttered(str(text) if text else None, data, None)
    event["metadata"] = draft
    return message_of(event), event


class Responder:
    def __init__(
        self,
        templates: ResponseTemplates,
        *,
        default_fallback: str = DEFAULT_FALLBACK,
        default_handoff: str = DEFAULT_HANDOFF,
        channel: str | None = None,
        slot_names: Iterable[str] = (),
    ) -> None:
        """``channel``, when given, is the output channel for every conversation; otherwise
        it follows each conversation's latest input channel (see :data:`OUTPUT_CHANNELS`).
        ``slot_names`` are the domain's slots: Rasa fills an unset one as ``None`` where an
        unknown name leaves the placeholder as written."""
        self.templates = templates
        self.default_fallback = default_fallback
        self.default_handoff = default_handoff
        self.channel = channel
        self.slot_names = tuple(slot_names)

    def _key(self, key: str) -> str | None:
        if key in self.templates:
            return key
        # An imported project's responses are also kept under their names without utter_.
        short = key.removeprefix("utter_")
        return short if short != key and short in self.templates else None

    def has(self, key: str) -> bool:
        return self._key(key) is not None

    def output_channel(self, tracker: Tracker) -> str | None:
        if self.channel is not None:
            return self.channel
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                name = event.get("input_channel")
                return OUTPUT_CHANNELS.get(name, name) if isinstance(name, str) else None
        return None

    def _rendered(
        self, key: str, tracker: Tracker, values: Mapping[str, Any]
    ) -> RenderedResponse | None:
        found = self._key(key)
        if found is None:
            log.warning("no response named %s; nothing said", key)
            return None
        slots = {**dict.fromkeys(self.slot_names), **tracker.slots}
        channel = self.output_channel(tracker)
        rendered = self.templates.render(found, slots, values=values, channel=channel)
        if rendered is None:
            log.warning(
                "response %s has no variant for channel %s and these slots; nothing said",
                key,
                channel,
            )
        return rendered

    def render(
        self, key: str, tracker: Tracker, values: Mapping[str, Any]
    ) -> tuple[BotMessage | None, Event | None]:
        """``key`` said as Rasa's ``ActionBotResponse`` says it; ``values`` fill placeholders
        ahead of the slots."""
        rendered = self._rendered(key, tracker, values)
        if rendered is None:
            return None, None
        return _utterance(_draft(rendered, key))

    def from_action(
        self, response: Mapping[str, Any], tracker: Tracker
    ) -> tuple[BotMessage | None, Event | None]:
        """A custom action's ``dispatcher.utter_message(...)``, merged as Rasa's
        ``RemoteAction`` merges it: the named response is rendered with every other field as
        its keyword values, the action's buttons are added to the response's, and the
        action's non-empty fields (an explicit ``text``, say) replace the response's."""
        rest = dict(response)
        key = rest.pop("response", None) or rest.get("template")
        draft: dict[str, Any] = {}
        if key:
            rendered = self._rendered(str(key), tracker, rest)
            if rendered is None:
                return None, None
            draft = _draft(rendered, str(key))
        buttons = rest.pop("buttons", None) or []
        if buttons:
            draft["buttons"] = [*(draft.get("buttons") or []), *buttons]
        json_message = rest.pop("json_message", None)
        if json_message and not rest.get("custom"):
            rest["custom"] = json_message  # a dispatcher older than rasa_sdk 2 names it so
        draft.update({k: v for k, v in rest.items() if v})
        return _utterance(draft)

    def text(self, text: str, utter_action: str | None) -> tuple[BotMessage, Event]:
        message = BotMessage(text)
        return message, _event(message, utter_action)

    def fill(self, text: str, tracker: Tracker) -> str | None:
        return fill_text(text, tracker.slots)


def _draft(rendered: RenderedResponse, utter_action: str) -> dict[str, Any]:
    return {**rendered.event_metadata, **rendered.to_message(), "utter_action": utter_action}
