"""bot.chat.policies.states: the dialogue state before each action, from a live tracker and
from a story alike.

The reference is Rasa 3's state featurization (``Domain.get_active_state``, the slots'
``as_feature``) and ``applied_events``' collapse of a form's happy path, which is what lets a
story written as ``action: form`` / ``active_loop: null`` match however many questions the
form asked.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest

from bot.chat.policies.states import (
    SET,
    State,
    StateReader,
    collapse_loop_turns,
    entity_key,
    featurize_slot,
)
from bot.chat.tracker import (
    ACTION_LISTEN,
    Event,
    action_executed,
    active_loop,
    bot_uttered,
    simple,
    slot_set,
    user_uttered,
)
from retrieval.base.domain import Domain, SlotSpec
from retrieval.base.stories import ANY_VALUE, ActionStep, LoopStep, SlotStep, UserStep

DOMAIN = """
intents: [greet, request, inform, chitchat, affirm]
entities: [cuisine, city]
slots:
  vip: {type: bool, mappings: [{type: custom}]}
  name: {type: text, mappings: [{type: custom}]}
  tier: {type: categorical, values: [Gold, silver], mappings: [{type: custom}]}
  tags: {type: list, mappings: [{type: custom}]}
  blob: {type: any, mappings: [{type: custom}]}
  note: {type: text, influence_conversation: false, mappings: [{type: custom}]}
  cuisine:
    type: text
    influence_conversation: false
    mappings: [{type: from_entity, entity: cuisine}]
forms:
  order_form: {required_slots: [cuisine]}
"""


@pytest.fixture
def domain(tmp_path: Path) -> Domain:
    path = tmp_path / "domain.yml"
    path.write_text(DOMAIN, encoding="utf-8")
    return Domain.load(path)


@pytest.fixture
def reader(domain: Domain) -> StateReader:
    return StateReader(domain)


def user(intent: str, *entities: dict[str, Any]) -> Event:
    parse = {"intent": {"name": intent, "confidence": 1.0}, "entities": list(entities)}
    return user_uttered(intent, parse, message_id=None, channel="test")


def act(name: str) -> Event:
    return action_executed(name)


def listen() -> Event:
    return action_executed(ACTION_LISTEN)


def brief(state: State) -> tuple[str | None, str | None, str | None]:
    return (state.prev_action, state.intent, state.active_loop)


def key(reader: StateReader, state: State) -> Hashable:
    """What a policy compares: every feature, with slots as the policies see them."""
    return (
        state.prev_action,
        state.intent,
        tuple(sorted(state.entities)),
        state.active_loop,
        tuple(sorted(reader.influencing(state.slots).items())),
    )


# One state per action ----------------------------------------------------------------------


def test_there_is_a_state_before_each_action_and_one_for_now(reader: StateReader) -> None:
    events = [
        act("action_session_start"),
        listen(),
        user("greet"),
        act("utter_greet"),
        act("utter_help"),
        listen(),
        user("affirm"),
    ]

    states = reader.from_events(events, {})

    # Nothing before the first customer message counts.
    assert [brief(s) for s in states] == [
        (ACTION_LISTEN, "greet", None),
        ("utter_greet", None, None),
        ("utter_help", None, None),
        (ACTION_LISTEN, "affirm", None),
    ]


def test_intent_and_entities_belong_to_the_state_right_after_the_customer_spoke(
    reader: StateReader,
) -> None:
    events = [
        listen(),
        user("inform", {"entity": "cuisine", "value": "thai"}, {"entity": "city", "role": "to"}),
        act("utter_ok"),
    ]

    first, after = reader.from_events(events, {})

    assert first.intent == "inform"
    assert first.entities == frozenset({"cuisine", "city#to"})
    assert (after.intent, after.entities) == (None, frozenset())


def test_an_entity_with_a_role_is_keyed_by_type_and_role() -> None:
    assert entity_key({"entity": "city", "role": "departure"}) == "city#departure"
    assert entity_key({"entity": "city"}) == "city"


def test_states_carry_the_active_loop_its_rejection_and_the_slots(reader: StateReader) -> None:
    events = [
        listen(),
        user("request"),
        act("order_form"),
        active_loop("order_form"),
        slot_set("name", "Ann"),
        listen(),
        user("chitchat"),
        simple("action_execution_rejected", name_of="order_form"),
        act("utter_chitchat"),
        act("order_form"),
    ]

    states = reader.from_events(events, {"tier": "gold"})

    assert [brief(s) for s in states] == [
        (ACTION_LISTEN, "request", None),
        ("order_form", None, "order_form"),
        (ACTION_LISTEN, "chitchat", "order_form"),
        ("utter_chitchat", None, "order_form"),
        ("order_form", None, "order_form"),
    ]
    assert [s.loop_rejected for s in states] == [False, False, True, True, False]
    assert states[0].slots == {"tier": "gold"}
    assert states[1].slots == {"tier": "gold", "name": "Ann"}


def test_reset_slots_returns_the_states_to_the_initial_values(reader: StateReader) -> None:
    events = [listen(), user("greet"), slot_set("name", "Ann"), simple("reset_slots"), act("x")]

    states = reader.from_events(events, {"tier": "gold"})

    assert states[-1].slots == {"tier": "gold"}


# Slot features -----------------------------------------------------------------------------


def spec(domain: Domain, name: str) -> SlotSpec:
    return domain.slots[name]


def test_a_text_slot_is_only_set_or_unset(domain: Domain) -> None:
    name = spec(domain, "name")

    assert featurize_slot(name, "Ann") == featurize_slot(name, "Bob") == SET
    assert featurize_slot(name, None) is None
    assert featurize_slot(name, ANY_VALUE) == SET


def test_an_empty_string_is_a_set_text_slot(domain: Domain) -> None:
    assert featurize_slot(spec(domain, "name"), "") == SET


def test_a_bool_slot_is_its_truth_and_a_categorical_its_lower_cased_category(
    domain: Domain,
) -> None:
    vip, tier = spec(domain, "vip"), spec(domain, "tier")

    assert featurize_slot(vip, True) is True
    assert featurize_slot(vip, False) is False
    assert featurize_slot(vip, "true") is True
    assert featurize_slot(vip, None) is None
    assert featurize_slot(tier, "GOLD") == "gold"
    assert featurize_slot(tier, "silver") == "silver"
    assert featurize_slot(tier, "bronze") == "__other__"


def test_a_bool_slot_named_without_a_value_in_a_story_means_true(domain: Domain) -> None:
    vip = spec(domain, "vip")

    assert featurize_slot(vip, ANY_VALUE) == featurize_slot(vip, True)


def test_float_slot_values_are_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "domain.yml"
    path.write_text("slots:\n  n: {type: float, mappings: [{type: custom}]}\n", encoding="utf-8")
    n = Domain.load(path).slots["n"]

    assert featurize_slot(n, 0.0) != featurize_slot(n, 1.0)


def test_a_list_slot_is_set_only_when_not_empty(domain: Domain) -> None:
    tags = spec(domain, "tags")

    assert featurize_slot(tags, ["a"]) == SET
    assert featurize_slot(tags, []) is None


def test_only_slots_that_influence_the_conversation_are_features(reader: StateReader) -> None:
    features = reader.influencing(
        {
            "name": "Ann",
            "vip": False,
            "note": "kept out",  # influence_conversation: false
            "blob": {"x": 1},  # type any: never featurized
            "cuisine": "thai",  # influence_conversation: false
            "tier": None,  # unset
            "requested_slot": "cuisine",  # not a domain slot
        }
    )

    assert features == {"name": SET, "vip": False}


# A form's happy path collapses -------------------------------------------------------------


def happy_form_turns() -> list[Event]:
    return [
        listen(),
        user("request"),
        act("order_form"),
        active_loop("order_form"),
        slot_set("requested_slot", "cuisine"),
        bot_uttered("Which cuisine?", {}, "utter_ask_cuisine"),
        listen(),
        user("inform", {"entity": "cuisine", "value": "thai"}),
        slot_set("cuisine", "thai"),
        act("order_form"),
        slot_set("requested_slot", "name"),
        listen(),
        user("inform"),
        slot_set("name", "Ann"),
        act("order_form"),
        active_loop(None),
        slot_set("requested_slot", None),
    ]


def test_a_forms_question_and_answer_turns_collapse_into_its_first_run() -> None:
    collapsed = collapse_loop_turns(happy_form_turns())

    kinds = [(e["event"], e.get("name")) for e in collapsed]
    assert kinds == [
        ("action", ACTION_LISTEN),
        ("user", None),
        ("action", "order_form"),
        ("active_loop", "order_form"),
        ("slot", "requested_slot"),
        ("bot", None),
        ("slot", "cuisine"),
        ("slot", "requested_slot"),
        ("slot", "name"),
        ("active_loop", None),
        ("slot", "requested_slot"),
    ]


def test_a_completed_form_reads_like_the_story_that_activates_and_ends_it(
    reader: StateReader,
) -> None:
    live = reader.from_events(happy_form_turns(), {})
    story = reader.from_steps(
        [
            UserStep("request"),
            ActionStep("order_form"),
            LoopStep("order_form"),
            SlotStep((("name", "Ann"),)),
            LoopStep(None),
        ]
    )

    # The story's last pair is the state after the form ended, with the listen it predicts.
    assert [key(reader, s) for s in live] == [key(reader, s) for s, _ in story]
    assert [a for _, a in story] == ["order_form", ACTION_LISTEN]


def test_an_interruption_keeps_the_forms_runs_apart() -> None:
    events = [
        listen(),
        user("request"),
        act("order_form"),
        active_loop("order_form"),
        listen(),
        user("chitchat"),
        simple("action_execution_rejected", name_of="order_form"),
        act("utter_chitchat"),
        act("order_form"),
        listen(),
    ]

    collapsed = collapse_loop_turns(events)

    assert [e.get("name") for e in collapsed if e["event"] == "action"] == [
        ACTION_LISTEN,
        "order_form",
        ACTION_LISTEN,
        "utter_chitchat",
        "order_form",
        ACTION_LISTEN,
    ]


def test_a_message_answered_by_another_action_before_the_form_is_not_collapsed() -> None:
    events = [
        listen(),
        user("request"),
        act("order_form"),
        active_loop("order_form"),
        listen(),
        user("chitchat"),
        act("utter_chitchat"),
        act("order_form"),
    ]

    collapsed = collapse_loop_turns(events)

    assert [e.get("name") for e in collapsed if e["event"] == "action"][-2:] == [
        "utter_chitchat",
        "order_form",
    ]
    assert sum(e["event"] == "user" for e in collapsed) == 2


def test_events_without_a_loop_are_left_as_they_are() -> None:
    events = [listen(), user("greet"), act("utter_greet"), listen(), user("greet")]

    assert collapse_loop_turns(events) == events


# Stories read into (state, action) pairs ---------------------------------------------------


def test_a_story_teaches_each_action_and_the_listens_it_implies(reader: StateReader) -> None:
    pairs = reader.from_steps(
        [
            UserStep("greet"),
            ActionStep("utter_greet"),
            ActionStep("utter_help"),
            UserStep("affirm"),
            SlotStep((("vip", True),)),
            ActionStep("utter_ok"),
        ]
    )

    assert [(brief(s), a) for s, a in pairs] == [
        ((ACTION_LISTEN, "greet", None), "utter_greet"),
        (("utter_greet", None, None), "utter_help"),
        (("utter_help", None, None), ACTION_LISTEN),
        ((ACTION_LISTEN, "affirm", None), "utter_ok"),
        (("utter_ok", None, None), ACTION_LISTEN),
    ]
    assert pairs[3][0].slots == {"vip": True}


def test_a_story_and_the_same_live_conversation_give_the_same_states(
    reader: StateReader,
) -> None:
    story = reader.from_steps(
        [
            UserStep("inform", entities=()),
            ActionStep("utter_ask_name"),
            UserStep("inform"),
            SlotStep((("name", ANY_VALUE),)),
            ActionStep("utter_thanks"),
        ]
    )
    live = reader.from_events(
        [
            act("action_session_start"),
            listen(),
            user("inform"),
            act("utter_ask_name"),
            listen(),
            user("inform"),
            slot_set("name", "Ann"),
            act("utter_thanks"),
            listen(),
        ],
        {},
    )

    assert [key(reader, s) for s, _ in story] == [key(reader, s) for s in live[:-1]]
