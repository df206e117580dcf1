"""bot.chat.tracker: a conversation as Rasa's events, and the state they add up to.

The reference is Rasa 3's ``DialogueStateTracker``: ``applied_events`` with restarts, new
sessions, rewinds and undos, and each event's ``apply_to`` (slots, the active loop and its
rejection, the latest message, the follow-up action, pausing). ``as_rasa`` must be a
``TrackerState`` that rasa_sdk's own ``Tracker.from_dict`` reads as Rasa's.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker as SdkTracker
from rasa_sdk.types import TrackerState

from bot.chat.tracker import (
    ACTION_LISTEN,
    Event,
    Tracker,
    action_executed,
    active_loop,
    bot_uttered,
    simple,
    slot_set,
    user_uttered,
)


def user(intent: str, text: str = "", entities: list[dict[str, Any]] | None = None) -> Event:
    parse = {
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "intent_ranking": [{"name": intent, "confidence": 0.9}],
    }
    return user_uttered(text or intent, parse, message_id=f"id-{intent}", channel="rest")


def listen() -> Event:
    return action_executed(ACTION_LISTEN)


def labels(events: list[Event]) -> list[str]:
    out = []
    for event in events:
        kind = event["event"]
        if kind == "user":
            out.append(f"user:{event['parse_data']['intent']['name']}")
        elif kind in ("action", "slot", "active_loop"):
            out.append(f"{kind}:{event.get('name')}")
        else:
            out.append(kind)
    return out


# Rasa's event JSON -------------------------------------------------------------------------


def test_events_have_rasas_json_shape() -> None:
    said = user_uttered(
        "hi", {"intent": {"name": "greet"}, "metadata": {"a": 1}}, message_id="m1", channel="rest"
    )
    assert {k: said[k] for k in ("event", "text", "input_channel", "message_id")} == {
        "event": "user",
        "text": "hi",
        "input_channel": "rest",
        "message_id": "m1",
    }
    assert said["parse_data"]["intent"] == {"name": "greet"}
    assert said["metadata"] == {"a": 1}
    assert isinstance(said["timestamp"], float)

    ran = action_executed("utter_greet", "rule", 1.0)
    assert {k: ran[k] for k in ("event", "name", "policy", "confidence")} == {
        "event": "action",
        "name": "utter_greet",
        "policy": "rule",
        "confidence": 1.0,
    }
    assert slot_set("cuisine", "thai") | {"timestamp": 0} == {
        "event": "slot",
        "name": "cuisine",
        "value": "thai",
        "timestamp": 0,
    }
    assert active_loop(None)["name"] is None
    spoken = bot_uttered("Hey!", {"buttons": [{"title": "a", "payload": "/a"}]}, "utter_greet")
    assert spoken["metadata"] == {"utter_action": "utter_greet"}
    assert spoken["data"]["buttons"] == [{"title": "a", "payload": "/a"}]
    assert bot_uttered("free text", {}, None)["metadata"] == {}
    assert simple("followup", name_of="restaurant_form")["name"] == "restaurant_form"


# applied_events ----------------------------------------------------------------------------


def test_a_restart_forgets_everything_before_it() -> None:
    tracker = Tracker(
        "u",
        [listen(), user("greet"), slot_set("name", "Ann"), simple("restart"), listen()],
        initial_slots={"currency": "$"},
    )

    assert labels(tracker.applied_events()) == ["action:action_listen"]
    assert tracker.slots == {"currency": "$"}
    assert tracker.state.latest_message == {}


def test_a_new_session_starts_from_the_slots_carried_after_it() -> None:
    tracker = Tracker(
        "u",
        [
            listen(),
            user("greet"),
            slot_set("name", "Ann"),
            slot_set("mood", "sad"),
            simple("session_started"),
            slot_set("name", "Ann"),
            action_executed("action_session_start"),
            listen(),
        ],
    )

    assert labels(tracker.applied_events()) == [
        "slot:name",
        "action:action_session_start",
        "action:action_listen",
    ]
    assert tracker.slots == {"name": "Ann"}
    assert tracker.user_turns() == 0


def test_undo_reverts_the_last_action_and_what_it_did() -> None:
    tracker = Tracker(
        "u",
        [
            listen(),
            user("greet"),
            action_executed("utter_greet"),
            action_executed("action_set_name"),
            slot_set("name", "Ann"),
            simple("undo"),
        ],
    )

    assert labels(tracker.applied_events()) == [
        "action:action_listen",
        "user:greet",
        "action:utter_greet",
    ]
    assert tracker.slots.get("name") is None
    assert tracker.state.latest_action_name == "utter_greet"


def test_rewind_reverts_the_user_turn_and_the_latest_message_returns_to_the_one_before() -> None:
    tracker = Tracker(
        "u",
        [
            listen(),
            user("greet", "hi"),
            action_executed("utter_greet"),
            listen(),
            user("nlu_fallback", "asdf"),
            slot_set("guess", "x"),
            action_executed("action_default_fallback"),
            simple("rewind"),
        ],
    )

    applied = labels(tracker.applied_events())
    assert "user:nlu_fallback" not in applied
    assert "action:action_default_fallback" not in applied
    assert applied[:3] == ["action:action_listen", "user:greet", "action:utter_greet"]
    assert tracker.slots.get("guess") is None
    assert tracker.latest_intent == "greet"
    assert tracker.state.latest_message["text"] == "hi"
    assert tracker.user_turns() == 1


def test_rewind_also_reverts_the_listen_before_the_reverted_message() -> None:
    tracker = Tracker(
        "u",
        [
            listen(),
            user("greet"),
            action_executed("utter_greet"),
            listen(),
            user("nlu_fallback"),
            action_executed("action_default_fallback"),
            simple("rewind"),
        ],
    )

    assert labels(tracker.applied_events()) == [
        "action:action_listen",
        "user:greet",
        "action:utter_greet",
    ]


def test_the_cached_state_after_each_added_event_equals_a_fresh_rebuild() -> None:
    events = [
        listen(),
        user("greet"),
        slot_set("name", "Ann"),
        active_loop("form"),
        simple("action_execution_rejected", name_of="form"),
        action_executed("utter_x"),
        simple("followup", name_of="form"),
        simple("pause"),
        simple("undo"),
        simple("resume"),
        simple("rewind"),
        user("inform"),
        simple("reset_slots"),
        simple("restart"),
        listen(),
        user("bye"),
    ]
    incremental = Tracker("u", initial_slots={"lang": "en"})
    for i, event in enumerate(events):
        incremental.add(event)
        fresh = Tracker("u", events[: i + 1], initial_slots={"lang": "en"})
        assert incremental.state == fresh.state, (i, event["event"])


# State: slots, the active loop, the latest message, follow-ups, pausing --------------------


def test_slots_start_at_their_initial_values_and_reset_slots_returns_to_them() -> None:
    tracker = Tracker("u", initial_slots={"currency": "$"})
    assert tracker.slots == {"currency": "$"}

    tracker.extend([slot_set("currency", "EUR"), slot_set("amount", 3)])
    assert tracker.slots == {"currency": "EUR", "amount": 3}

    tracker.add(simple("reset_slots"))
    assert tracker.slots == {"currency": "$"}


def test_an_active_loop_remembers_the_message_that_started_it() -> None:
    tracker = Tracker(
        "u",
        [listen(), user("request_restaurant", "a table please"), active_loop("restaurant_form")],
    )

    loop = tracker.state.active_loop
    assert loop is not None
    assert tracker.active_loop_name == "restaurant_form"
    assert (loop["rejected"], loop["is_interrupted"]) == (False, False)
    assert loop["trigger_message"]["intent"]["name"] == "request_restaurant"

    tracker.add(active_loop(None))
    assert tracker.active_loop_name is None
    assert tracker.state.active_loop is None


def test_a_rejected_loop_stays_rejected_until_it_runs_again() -> None:
    tracker = Tracker("u", [listen(), user("request"), active_loop("form")])
    tracker.add(simple("action_execution_rejected", name_of="other_action"))
    assert tracker.state.active_loop is not None
    assert tracker.state.active_loop["rejected"] is False

    tracker.add(simple("action_execution_rejected", name_of="form"))
    assert tracker.state.active_loop["rejected"] is True
    tracker.extend([action_executed("utter_chitchat"), listen()])
    assert tracker.state.active_loop["rejected"] is True

    tracker.add(action_executed("form"))
    assert tracker.state.active_loop["rejected"] is False


def test_an_interrupted_loop_is_no_longer_interrupted_once_it_runs() -> None:
    tracker = Tracker("u", [listen(), user("request"), active_loop("form")])
    tracker.add({"event": "loop_interrupted", "is_interrupted": True, "timestamp": None})
    assert tracker.state.active_loop is not None
    assert tracker.state.active_loop["is_interrupted"] is True

    tracker.add(action_executed("form"))
    assert tracker.state.active_loop["is_interrupted"] is False


def test_the_latest_message_is_the_last_user_event_with_its_text_and_id() -> None:
    tracker = Tracker("u", [listen(), user("greet", "hi"), action_executed("utter_greet")])
    tracker.extend([listen(), user("inform", "thai please", [{"entity": "cuisine"}])])

    message = tracker.state.latest_message
    assert message["intent"]["name"] == "inform"
    assert message["text"] == "thai please"
    assert message["message_id"] == "id-inform"
    assert message["entities"] == [{"entity": "cuisine"}]
    assert tracker.latest_intent == "inform"
    assert tracker.state.latest_action_name == ACTION_LISTEN


def test_a_followup_action_is_pending_until_that_action_runs() -> None:
    tracker = Tracker("u", [listen(), user("greet"), simple("followup", name_of="action_x")])
    assert tracker.state.followup_action == "action_x"

    tracker.add(action_executed("action_x"))
    assert tracker.state.followup_action is None


def test_any_executed_action_clears_a_pending_followup() -> None:
    tracker = Tracker("u", [simple("followup", name_of="action_x"), action_executed("action_y")])

    assert tracker.state.followup_action is None


def test_a_user_message_clears_a_pending_followup() -> None:
    tracker = Tracker("u", [simple("followup", name_of="action_x"), user("greet")])

    assert tracker.state.followup_action is None


def test_pause_and_resume_switch_the_bot_off_and_on() -> None:
    tracker = Tracker("u", [listen(), user("human_handoff"), simple("pause")])
    assert tracker.state.paused is True

    tracker.add(simple("resume"))
    assert tracker.state.paused is False


def test_events_since_the_last_user_message_and_the_user_turns() -> None:
    tracker = Tracker(
        "u",
        [
            listen(),
            user("greet"),
            action_executed("utter_greet"),
            listen(),
            user("inform"),
            slot_set("cuisine", "thai"),
            action_executed("restaurant_form"),
        ],
    )

    assert labels(list(tracker.since_last_user())) == [
        "slot:cuisine",
        "action:restaurant_form",
    ]
    assert tracker.user_turns() == 2
    assert labels(list(Tracker("u", [listen()]).since_last_user())) == ["action:action_listen"]


def test_the_latest_event_time_is_the_newest_timestamp() -> None:
    tracker = Tracker("u", [{"event": "action", "name": ACTION_LISTEN, "timestamp": 100.0}])
    tracker.add({"event": "slot", "name": "a", "value": 1, "timestamp": 250.5})
    tracker.add({"event": "slot", "name": "b", "value": 2, "timestamp": None})

    assert tracker.state.latest_event_time == 250.5


# The tracker rasa_sdk actions receive ------------------------------------------------------


def sample_tracker() -> Tracker:
    return Tracker(
        "u1",
        [
            listen(),
            user("greet"),
            slot_set("name", "Ann"),
            simple("restart"),
            listen(),
            user("request_restaurant", "a table for 2 please", [{"entity": "number", "value": 2}]),
            active_loop("restaurant_form"),
            action_executed("restaurant_form"),
            slot_set("requested_slot", "cuisine"),
            slot_set("num_people", 2),
        ],
        initial_slots={"currency": "$"},
    )


def test_as_rasa_is_a_tracker_state_with_every_domain_slot() -> None:
    state = sample_tracker().as_rasa(domain_slots=["cuisine", "num_people", "currency"])

    assert set(state) == set(TrackerState.__annotations__)
    assert state["sender_id"] == "u1"
    assert state["slots"] == {
        "cuisine": None,
        "num_people": 2,
        "currency": "$",
        "requested_slot": "cuisine",
    }
    assert state["latest_action_name"] == "restaurant_form"
    assert state["active_loop"]["name"] == "restaurant_form"
    assert state["active_form"] == state["active_loop"]
    assert state["followup_action"] is None
    assert state["paused"] is False
    # Rasa sends every event, those before the restart too.
    assert len(state["events"]) == 10
    assert state["events"][0]["name"] == ACTION_LISTEN


def test_as_rasa_has_no_active_loop_as_an_empty_mapping() -> None:
    state = Tracker("u", [listen(), user("greet")]).as_rasa()

    assert state["active_loop"] == {}
    assert state["latest_message"]["intent"]["name"] == "greet"


def test_rasa_sdk_reads_as_rasa_as_it_reads_rasas_tracker() -> None:
    sdk = SdkTracker.from_dict(sample_tracker().as_rasa(domain_slots=["cuisine", "num_people"]))

    assert sdk.sender_id == "u1"
    assert sdk.get_slot("num_people") == 2
    assert sdk.get_slot("cuisine") is None
    assert sdk.active_loop_name == "restaurant_form"
    assert sdk.get_intent_of_latest_message() == "request_restaurant"
    assert list(sdk.get_latest_entity_values("number")) == [2]
    assert sdk.latest_message is not None
    assert sdk.latest_message["text"] == "a table for 2 please"
    assert sdk.latest_action_name == "restaurant_form"
    assert sdk.slots_to_validate() == {"requested_slot": "cuisine", "num_people": 2}
    assert sdk.is_paused() is False


def test_changing_as_rasas_copy_leaves_the_tracker_as_it_was() -> None:
    tracker = sample_tracker()
    state = tracker.as_rasa(domain_slots=["cuisine"])
    state["events"].append(slot_set("cuisine", "thai"))
    state["events"][0]["name"] = "changed"
    state["slots"]["cuisine"] = "thai"
    assert state["latest_message"] is not None
    state["latest_message"]["text"] = "changed"

    assert len(tracker.events) == 10
    assert tracker.events[0]["name"] == ACTION_LISTEN
    assert tracker.slots.get("cuisine") is None
    assert tracker.state.latest_message["text"] == "a table for 2 please"
