"""bot.chat.responses: the engine's responses said as Rasa says them, from a real tracker."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from bot.chat.responses import Responder, message_of
from bot.chat.tracker import Event, Tracker, slot_set, user_uttered
from bot.core.messages import BotMessage
from retrieval.templates import ResponseTemplates

RESPONSES: dict[str, Any] = {
    "utter_greet": [
        {
            "text": "Welcome back, {name}!",
            "condition": [{"type": "slot", "name": "logged_in", "value": True}],
        },
        {"text": "Hello!"},
    ],
    "utter_bye": [
        {"text": "Bye from the widget", "channel": "widget"},
        {"text": "Bye over REST", "channel": "rest"},
        {"text": "Bye"},
    ],
    "utter_transfer": [
        {
            "text": "Send {currency}{amount-of-money} to {PERSON}?",
            "buttons": [{"title": "Yes", "payload": "/affirm"}],
            "id": "transfer-1",
        }
    ],
    "utter_hi": [{"text": "Hi {name}"}],
    "utter_cheer_up": [{"text": "Here is something", "image": "https://example.com/cat.jpg"}],
    "utter_pick": [
        {"text": "Pick one", "quick_replies": [{"title": "A", "payload": "/a"}]},
    ],
    # Kept under its name without utter_, as an imported project's responses are.
    "thanks": [{"text": "You're welcome!"}],
}


def responder(**kwargs: Any) -> Responder:
    templates = ResponseTemplates.from_mapping(RESPONSES, rng=random.Random(0))
    return Responder(templates, **kwargs)


def tracker(*events: Event, channel: str | None = None) -> Tracker:
    said = [user_uttered("hi", {"text": "hi"}, message_id=None, channel=channel)] if channel else []
    return Tracker("s", [*said, *events])


def slot(name: str, value: Any) -> Event:
    return {"event": "slot", "name": name, "value": value}


def test_render_fills_slots_and_records_a_rasa_shaped_bot_event() -> None:
    said = tracker(slot("currency", "$"), slot("amount-of-money", 50), slot("PERSON", "Ada"))
    message, event = responder().render("utter_transfer", said, {})

    assert message == BotMessage(
        "Send $50 to Ada?", buttons=({"title": "Yes", "payload": "/affirm"},)
    )
    assert event is not None
    assert event["event"] == "bot"
    assert event["text"] == "Send $50 to Ada?"
    assert event["data"] == {
        "elements": None,
        "quick_replies": None,
        "buttons": [{"title": "Yes", "payload": "/affirm"}],
        "attachment": None,
        "image": None,
        "custom": None,
    }
    assert event["metadata"] == {"utter_action": "utter_transfer", "id": "transfer-1"}


def test_values_fill_placeholders_ahead_of_slots() -> None:
    said = tracker(slot("currency", "$"), slot("amount-of-money", 50), slot("PERSON", "Ada"))
    message, _ = responder().render("utter_transfer", said, {"amount-of-money": "€20"})
    assert message is not None and message.text == "Send $€20 to Ada?"


def test_conditional_variation_follows_the_trackers_slots() -> None:
    said = tracker(slot("logged_in", True), slot("name", "Ada"))
    message, _ = responder().render("utter_greet", said, {})
    assert message is not None and message.text == "Welcome back, Ada!"

    message, _ = responder().render("utter_greet", tracker(slot("logged_in", False)), {})
    assert message is not None and message.text == "Hello!"


def test_a_declared_slot_without_a_value_is_said_as_none_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        message, _ = responder(slot_names=["name"]).render("utter_hi", tracker(), {})
    assert message is not None and message.text == "Hi None"
    assert any("utter_hi" in r.message and "name" in r.message for r in caplog.records)
    # A name the domain does not declare is no slot: Rasa leaves the text as written.
    message, _ = responder().render("utter_hi", tracker(), {})
    assert message is not None and message.text == "Hi {name}"


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (None, "Bye"),
        ("rest", "Bye"),  # Rasa answers REST as channel "collector", not "rest"
        ("widget", "Bye from the widget"),
    ],
)
def test_channel_variants_follow_the_conversations_latest_input_channel(
    channel: str | None, expected: str
) -> None:
    message, _ = responder().render("utter_bye", tracker(channel=channel), {})
    assert message is not None and message.text == expected


def test_a_fixed_output_channel_overrides_the_conversations() -> None:
    said = tracker(channel="widget")
    assert responder(channel="collector").output_channel(said) == "collector"
    message, _ = responder(channel="rest").render("utter_bye", said, {})
    assert message is not None and message.text == "Bye over REST"


def test_a_response_kept_without_utter_answers_to_its_utter_name() -> None:
    assert responder().has("utter_thanks")
    message, event = responder().render("utter_thanks", tracker(), {})
    assert message is not None and message.text == "You're welcome!"
    assert event is not None and event["metadata"] == {"utter_action": "utter_thanks"}


def test_an_unknown_response_says_nothing_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert responder().render("utter_nope", tracker(), {}) == (None, None)
        assert responder().from_action({"response": "utter_nope"}, tracker()) == (None, None)
    assert sum("utter_nope" in r.message for r in caplog.records) == 2


def test_an_image_is_its_own_field_and_the_legacy_attachment() -> None:
    message, event = responder().render("utter_cheer_up", tracker(), {})
    assert message == BotMessage("Here is something", image="https://example.com/cat.jpg")
    assert event is not None
    assert event["data"]["image"] == event["data"]["attachment"] == "https://example.com/cat.jpg"


def test_quick_replies_are_sent_as_buttons_like_rasas_rest_channel() -> None:
    message, event = responder().render("utter_pick", tracker(), {})
    assert message is not None and message.buttons == ({"title": "A", "payload": "/a"},)
    assert event is not None and event["data"]["quick_replies"] == [{"title": "A", "payload": "/a"}]
    assert message_of(event) == message


# Custom actions' dispatcher.utter_message ------------------------------------------------------


def dispatched(**kwargs: Any) -> dict[str, Any]:
    """What rasa_sdk's CollectingDispatcher.utter_message appends."""
    response = kwargs.pop("response", None)
    message = {
        "text": kwargs.pop("text", None),
        "buttons": kwargs.pop("buttons", None) or [],
        "elements": [],
        "custom": kwargs.pop("json_message", None) or {},
        "template": response,
        "response": response,
        "image": kwargs.pop("image", None),
        "attachment": None,
    }
    message.update(kwargs)
    return message


def test_utter_message_with_a_response_fills_it_with_the_keyword_values_first() -> None:
    said = tracker(slot("currency", "$"), slot("amount-of-money", 5), slot("PERSON", "Bo"))
    message, event = responder().from_action(
        dispatched(response="utter_transfer", PERSON="Ada"), said
    )
    assert message is not None and message.text == "Send $5 to Ada?"
    assert event is not None
    # As in Rasa, the keyword values and the deprecated template name stay in the metadata.
    assert event["metadata"] == {
        "utter_action": "utter_transfer",
        "id": "transfer-1",
        "template": "utter_transfer",
        "PERSON": "Ada",
    }


def test_an_explicit_text_replaces_the_responses_and_buttons_are_added_to_its_own() -> None:
    button = {"title": "No", "payload": "/deny"}
    said = tracker(slot("currency", "$"), slot("amount-of-money", 5), slot("PERSON", "Bo"))
    message, event = responder().from_action(
        dispatched(response="utter_transfer", text="Sure?", buttons=[button]), said
    )
    assert message == BotMessage("Sure?", buttons=({"title": "Yes", "payload": "/affirm"}, button))
    assert event is not None and event["metadata"]["utter_action"] == "utter_transfer"


def test_the_deprecated_template_name_still_names_the_response() -> None:
    message, _ = responder().from_action({"template": "utter_thanks"}, tracker())
    assert message is not None and message.text == "You're welcome!"


def test_a_plain_utter_message_is_sent_as_it_is() -> None:
    message, event = responder().from_action(
        dispatched(text="Done", json_message={"kind": "receipt"}, image="https://x/y.png"),
        tracker(),
    )
    assert message == BotMessage("Done", image="https://x/y.png", custom={"kind": "receipt"})
    assert event is not None and event["metadata"] == {}


def test_an_empty_utter_message_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert responder().from_action(dispatched(), tracker()) == (None, None)
    assert any("empty" in r.message for r in caplog.records)


# The engine's own words ------------------------------------------------------------------------


def test_text_is_a_bot_event_with_rasas_fields() -> None:
    message, event = responder().text("One moment.", "utter_wait")
    assert message == BotMessage("One moment.")
    assert event["text"] == "One moment."
    assert event["data"] == dict.fromkeys(
        ("elements", "quick_replies", "buttons", "attachment", "image", "custom")
    )
    assert event["metadata"] == {"utter_action": "utter_wait"}


def test_fill_uses_the_strict_filler_for_answers_from_the_index() -> None:
    said = Tracker("s", [slot_set("order_id", "NW-1")])
    assert responder().fill("Order {{Order Number}} is late.", said) == "Order NW-1 is late."
    assert responder().fill("Sent to {email}.", said) is None
