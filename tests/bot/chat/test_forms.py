"""bot.chat.forms: Rasa 3's slot mappings (``action_extract_slots``) and the form runner.

The reference is Rasa 3's ``slot_mappings.py`` and ``forms.py``: ``from_entity`` with
``intent``/``not_intent``/``role``/``group``, ``from_text``, ``from_intent``,
``from_trigger_intent``; ``conditions`` on the active loop and the requested slot (any one
condition suffices); the first mapping that gives a value wins; a form's ``ignored_intents``
fill nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.chat.forms import FormRunner, extract_slots
from bot.chat.tracker import (
    REQUESTED_SLOT,
    Tracker,
    action_executed,
    active_loop,
    slot_set,
    user_uttered,
)
from retrieval.base.domain import Domain

DOMAIN = """
intents: [request_restaurant, inform, affirm, deny, chitchat, book_flight, search, order]
entities: [cuisine, number, seating, feedback, city, size, topping]
slots:
  cuisine:
    type: text
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: cuisine
  num_people:
    type: float
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: number
      intent: [inform, request_restaurant]
  outdoor_seating:
    type: text
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: seating
    - type: from_intent
      intent: affirm
      value: true
      conditions:
      - active_loop: restaurant_form
        requested_slot: outdoor_seating
    - type: from_intent
      intent: deny
      value: false
      conditions:
      - active_loop: restaurant_form
        requested_slot: outdoor_seating
  preferences:
    type: text
    influence_conversation: false
    mappings:
    - type: from_intent
      intent: deny
      value: no additional preferences
      conditions:
      - active_loop: restaurant_form
        requested_slot: preferences
    - type: from_text
      not_intent: deny
      conditions:
      - active_loop: restaurant_form
        requested_slot: preferences
  feedback:
    type: text
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: feedback
      not_intent: chitchat
    - type: from_text
      conditions:
      - active_loop: restaurant_form
        requested_slot: feedback
      - active_loop: survey_form
  departure:
    type: text
    mappings:
    - type: from_entity
      entity: city
      role: from
  destination:
    type: text
    mappings:
    - type: from_entity
      entity: city
      role: to
  first_size:
    type: text
    mappings:
    - type: from_entity
      entity: size
      group: "1"
  toppings:
    type: list
    mappings:
    - type: from_entity
      entity: topping
  confirmed:
    type: text
    mappings:
    - type: from_intent
      intent: affirm
      value: yes
      conditions:
      - active_loop: search_form
        requested_slot: confirmed
  search_type:
    type: text
    mappings:
    - type: from_trigger_intent
      intent: search
      value: spend
    - type: from_trigger_intent
      intent: order
      value: deposit
forms:
  restaurant_form:
    ignored_intents: [chitchat]
    required_slots: [cuisine, num_people, outdoor_seating, preferences, feedback]
  search_form:
    required_slots: [search_type, confirmed]
  survey_form:
    required_slots: [feedback]
"""


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Domain:
    path = tmp_path_factory.mktemp("forms") / "domain.yml"
    path.write_text(DOMAIN, encoding="utf-8")
    return Domain.load(path)


def said(
    intent: str,
    *entities: dict[str, Any],
    text: str = "some text",
    loop: str | None = None,
    requested: str | None = None,
    slots: dict[str, Any] | None = None,
) -> Tracker:
    """A tracker whose latest message is this one, with that form active and asking."""
    tracker = Tracker("u", [action_executed("action_listen")])
    for name, value in (slots or {}).items():
        tracker.add(slot_set(name, value))
    if loop:
        tracker.extend([active_loop(loop), action_executed(loop)])
    if requested:
        tracker.add(slot_set(REQUESTED_SLOT, requested))
    tracker.add(action_executed("action_listen"))
    parse = {"intent": {"name": intent, "confidence": 1.0}, "entities": list(entities)}
    tracker.add(user_uttered(text, parse, message_id=None, channel="test"))
    return tracker


def entity(name: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"entity": name, "value": value, **extra}


# from_entity -------------------------------------------------------------------------------


def test_an_entity_mapping_without_conditions_fills_on_any_turn(domain: Domain) -> None:
    assert extract_slots(domain, said("chitchat", entity("cuisine", "thai"))) == {"cuisine": "thai"}
    assert extract_slots(domain, said("inform", entity("cuisine", "thai"))) == {"cuisine": "thai"}


def test_the_last_of_several_entities_fills_a_text_slot_and_all_fill_a_list(
    domain: Domain,
) -> None:
    tracker = said(
        "inform",
        entity("cuisine", "thai"),
        entity("cuisine", "greek"),
        entity("topping", "olives"),
        entity("topping", "basil"),
    )

    assert extract_slots(domain, tracker) == {"cuisine": "greek", "toppings": ["olives", "basil"]}


def test_an_entity_mapping_with_intents_fills_only_for_those_intents(domain: Domain) -> None:
    two = entity("number", 2)

    assert extract_slots(domain, said("inform", two)) == {"num_people": 2}
    assert extract_slots(domain, said("request_restaurant", two)) == {"num_people": 2}
    assert extract_slots(domain, said("affirm", two)) == {}


def test_not_intent_keeps_a_mapping_from_filling(domain: Domain) -> None:
    great = entity("feedback", "great")

    assert extract_slots(domain, said("inform", great)) == {"feedback": "great"}
    assert extract_slots(domain, said("affirm", great)) == {"feedback": "great"}
    assert extract_slots(domain, said("chitchat", great)) == {}


def test_an_entity_with_a_role_fills_the_slot_mapped_to_that_role(domain: Domain) -> None:
    tracker = said(
        "book_flight", entity("city", "Berlin", role="from"), entity("city", "Paris", role="to")
    )

    assert extract_slots(domain, tracker) == {"departure": "Berlin", "destination": "Paris"}


def test_an_entity_with_a_group_fills_the_slot_mapped_to_that_group(domain: Domain) -> None:
    assert extract_slots(domain, said("order", entity("size", "large", group="1"))) == {
        "first_size": "large"
    }
    assert extract_slots(domain, said("order", entity("size", "small", group="2"))) == {}


def test_a_mapping_without_a_role_ignores_entities_that_have_one(domain: Domain) -> None:
    tracker = said("inform", entity("cuisine", "thai", role="second_choice"))

    assert extract_slots(domain, tracker) == {}


def test_an_ignored_intent_of_the_active_form_fills_nothing(domain: Domain) -> None:
    tracker = said(
        "chitchat", entity("cuisine", "thai"), loop="restaurant_form", requested="cuisine"
    )

    assert extract_slots(domain, tracker) == {}


# from_text and from_intent with conditions -------------------------------------------------


def test_from_text_fills_only_while_its_form_asks_for_that_slot(domain: Domain) -> None:
    asked = said("inform", text="a window seat", loop="restaurant_form", requested="preferences")
    other_question = said(
        "inform", text="a window seat", loop="restaurant_form", requested="feedback"
    )
    no_form = said("inform", text="a window seat")

    assert extract_slots(domain, asked) == {"preferences": "a window seat"}
    assert extract_slots(domain, other_question) == {"feedback": "a window seat"}
    assert extract_slots(domain, no_form) == {}


def test_the_first_mapping_that_gives_a_value_wins(domain: Domain) -> None:
    denied = said("deny", text="no thanks", loop="restaurant_form", requested="preferences")

    assert extract_slots(domain, denied) == {"preferences": "no additional preferences"}


def test_from_intent_answers_the_requested_yes_no_question_only(domain: Domain) -> None:
    def seating(intent: str, requested: str, *entities: dict[str, Any]) -> Any:
        tracker = said(intent, *entities, loop="restaurant_form", requested=requested)
        return extract_slots(domain, tracker).get("outdoor_seating")

    assert seating("affirm", "outdoor_seating") is True
    assert seating("deny", "outdoor_seating") is False
    assert seating("affirm", "num_people") is None
    # An entity mapping listed first wins over the intent.
    assert seating("affirm", "outdoor_seating", entity("seating", "inside")) == "inside"
    assert extract_slots(domain, said("affirm")).get("outdoor_seating") is None


def test_a_from_intent_value_is_read_as_yaml_1_2(domain: Domain) -> None:
    tracker = said("affirm", loop="search_form", requested="confirmed")

    assert extract_slots(domain, tracker) == {"confirmed": "yes"}


def test_any_one_condition_of_a_mapping_suffices(domain: Domain) -> None:
    survey = said("inform", text="all good", loop="survey_form", requested="feedback")
    survey_other = said("inform", text="all good", loop="survey_form", requested="anything")
    restaurant_other = said("inform", text="all good", loop="restaurant_form", requested="cuisine")

    assert extract_slots(domain, survey) == {"feedback": "all good"}
    # The survey condition names no requested slot: any question of that form will do.
    assert extract_slots(domain, survey_other) == {"feedback": "all good"}
    assert extract_slots(domain, restaurant_other) == {}


# from_trigger_intent -----------------------------------------------------------------------


def test_a_trigger_intent_fills_its_slot_when_its_message_activates_the_form(
    domain: Domain,
) -> None:
    assert extract_slots(domain, said("search"), trigger_of="search_form") == {
        "search_type": "spend"
    }
    assert extract_slots(domain, said("order"), trigger_of="search_form") == {
        "search_type": "deposit"
    }


def test_a_trigger_intent_fills_nothing_once_the_form_is_active(domain: Domain) -> None:
    assert extract_slots(domain, said("search")) == {}
    assert extract_slots(domain, said("search", loop="search_form", requested="confirmed")) == {}


# Two slots of one form filled by the same entity -------------------------------------------


def test_an_entity_shared_by_two_form_slots_fills_only_the_requested_one(tmp_path: Path) -> None:
    path = tmp_path / "domain.yml"
    path.write_text(
        """
intents: [inform]
entities: [city]
slots:
  origin: {type: text, mappings: [{type: from_entity, entity: city}]}
  target: {type: text, mappings: [{type: from_entity, entity: city}]}
forms:
  trip_form: {required_slots: [origin, target]}
""",
        encoding="utf-8",
    )
    domain = Domain.load(path)
    tracker = said("inform", entity("city", "Berlin"), loop="trip_form", requested="target")

    assert extract_slots(domain, tracker) == {"target": "Berlin"}


# The form runner ---------------------------------------------------------------------------


def test_a_form_asks_for_its_first_required_slot_without_a_value(domain: Domain) -> None:
    runner = FormRunner(domain)
    form = runner.spec("restaurant_form")
    assert form is not None

    assert runner.next_slot(form, {}) == "cuisine"
    assert runner.next_slot(form, {"cuisine": "thai", "num_people": None}) == "num_people"
    filled = {name: "x" for name in form.required_slots}
    assert runner.next_slot(form, filled) is None
    assert runner.next_slot(form, {**filled, "outdoor_seating": False}) is None
    assert runner.spec("no_such_form") is None


def test_candidates_are_the_forms_slots_the_latest_message_filled(domain: Domain) -> None:
    runner = FormRunner(domain)
    form = runner.spec("restaurant_form")
    assert form is not None
    tracker = said("inform", slots={"cuisine": "greek"}, loop="restaurant_form")
    tracker.extend([slot_set("cuisine", "thai"), slot_set("departure", "Berlin")])

    assert runner.candidates(form, tracker, activating=False) == {"cuisine": "thai"}


def test_activating_a_form_adds_its_trigger_intent_values(domain: Domain) -> None:
    runner = FormRunner(domain)
    form = runner.spec("search_form")
    assert form is not None

    assert runner.candidates(form, said("order"), activating=True) == {"search_type": "deposit"}


def test_a_form_already_running_takes_no_trigger_intent_values(domain: Domain) -> None:
    runner = FormRunner(domain)
    form = runner.spec("search_form")
    assert form is not None

    assert runner.candidates(form, said("order"), activating=False) == {}


def test_activation_and_deactivation_events(domain: Domain) -> None:
    runner = FormRunner(domain)

    assert [(e["event"], e["name"]) for e in runner.activate("search_form")] == [
        ("active_loop", "search_form")
    ]
    ended = runner.deactivate()
    assert [(e["event"], e["name"], e.get("value")) for e in ended] == [
        ("active_loop", None, None),
        ("slot", REQUESTED_SLOT, None),
    ]
