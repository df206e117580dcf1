"""bot.core.messages: BotMessage and its Rasa wire shape."""

from __future__ import annotations

from bot.core.messages import BotMessage, Reply


def test_to_rasa_of_a_text_message_has_only_recipient_and_text() -> None:
    assert BotMessage("Hello!").to_rasa("u1") == {"recipient_id": "u1", "text": "Hello!"}


def test_to_rasa_drops_absent_fields_instead_of_sending_null() -> None:
    item = BotMessage(image="https://x/y.png").to_rasa("u1")

    assert item == {"recipient_id": "u1", "image": "https://x/y.png"}
    assert None not in item.values()


def test_to_rasa_carries_buttons_image_and_custom() -> None:
    message = BotMessage(
        "Pick one",
        buttons=({"title": "Yes", "payload": "/affirm"},),
        image="https://x/y.png",
        custom={"kind": "card"},
    )

    assert message.to_rasa("u1") == {
        "recipient_id": "u1",
        "text": "Pick one",
        "buttons": [{"title": "Yes", "payload": "/affirm"}],
        "image": "https://x/y.png",
        "custom": {"kind": "card"},
    }


def test_payload_is_none_for_a_plain_text_message() -> None:
    assert BotMessage("hi").payload() is None


def test_from_rasa_maps_a_dispatcher_utter_message() -> None:
    # What rasa_sdk's CollectingDispatcher.utter_message appends.
    dispatched = {
        "text": "Your order has shipped.",
        "buttons": [{"title": "Track", "payload": "/track_shipment"}],
        "elements": [],
        "custom": {"tracking_url": "https://t/1"},
        "template": None,
        "response": None,
        "image": None,
        "attachment": None,
    }

    message = BotMessage.from_rasa(dispatched)

    assert message == BotMessage(
        text="Your order has shipped.",
        buttons=({"title": "Track", "payload": "/track_shipment"},),
        image=None,
        custom={"tracking_url": "https://t/1"},
    )


def test_from_rasa_treats_empty_values_as_absent() -> None:
    message = BotMessage.from_rasa(
        {"text": None, "buttons": [], "custom": {}, "image": "", "attachment": None}
    )

    assert message == BotMessage()
    assert message.to_rasa("u1") == {"recipient_id": "u1"}


def test_from_rasa_accepts_the_legacy_json_message_key() -> None:
    assert BotMessage.from_rasa({"text": "x", "json_message": {"a": 1}}).custom == {"a": 1}


def test_a_message_survives_the_round_trip_through_storage() -> None:
    message = BotMessage("t", buttons=({"title": "A", "payload": "/a"},), custom={"k": 1})

    assert BotMessage.from_stored(message.text, message.payload()) == message
    assert BotMessage.from_stored("plain", None) == BotMessage("plain")


def test_reply_defaults_to_no_slots_and_no_escalation() -> None:
    reply = Reply(messages=(BotMessage("hi"),), route="template")

    assert reply.slots == {}
    assert reply.escalation_reason is None
    assert reply.answer_source is None
