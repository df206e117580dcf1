"""bot.chat.policies.rules: Rasa's RulePolicy over the rules of ``rules.yml``.

The reference is Rasa 3's ``rule_policy.py``: a rule names only the features that matter and
is aligned with the most recent states; ``conversation_start`` rules apply only from the first
message; a rule ends by listening unless ``wait_for_user_input: false``; a rule that opens
with an action uses it as context only; conditions on slots and the active loop, ``null``
meaning "not set"; the rule that matched more wins; contradicting rules are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.chat.policies.rules import RulePolicy
from bot.chat.policies.states import StateReader
from bot.chat.tracker import (
    ACTION_LISTEN,
    active_loop,
    simple,
    slot_set,
)
from retrieval.base.domain import Domain
from retrieval.base.stories import read_story_file
from tests.bot.chat.policies.helpers import Conversation

DOMAIN = """
intents: [greet, goodbye, affirm, deny, request, chitchat, inform, bot_challenge]
slots:
  logged_in: {type: bool, mappings: [{type: custom}]}
  name: {type: text, mappings: [{type: custom}]}
  cuisine: {type: text, influence_conversation: false, mappings: [{type: custom}]}
forms:
  order_form: {required_slots: [cuisine]}
"""


@pytest.fixture
def reader(tmp_path: Path) -> StateReader:
    path = tmp_path / "domain.yml"
    path.write_text(DOMAIN, encoding="utf-8")
    return StateReader(Domain.load(path))


def policy(tmp_path: Path, reader: StateReader, rules_yaml: str) -> RulePolicy:
    path = tmp_path / "rules.yml"
    path.write_text(rules_yaml.lstrip("\n"), encoding="utf-8")
    return RulePolicy(read_story_file(path).rules, reader)


def next_action(rules: RulePolicy, chat: Conversation, **kwargs: Any) -> str | None:
    found = rules.predict(chat.states(), user_turns=chat.user_turns, **kwargs)
    return found.action if found else None


def run(rules: RulePolicy, chat: Conversation, limit: int = 5) -> list[str]:
    """The actions the rules choose until they listen (or have nothing to say)."""
    chosen: list[str] = []
    for _ in range(limit):
        action = next_action(rules, chat)
        if action is None:
            break
        chosen.append(action)
        chat.bot(action)
        if action == ACTION_LISTEN:
            break
    return chosen


GREET_AND_BYE = """
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
  - action: utter_help
- rule: bye
  steps:
  - intent: goodbye
  - action: utter_goodbye
"""


def test_a_rule_answers_its_intent_anywhere_and_then_listens(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(tmp_path, reader, GREET_AND_BYE)
    chat = Conversation(reader).user("greet")

    assert run(rules, chat) == ["utter_greet", "utter_help", ACTION_LISTEN]
    chat.user("inform").bot("utter_ok", ACTION_LISTEN).user("goodbye")
    assert run(rules, chat) == ["utter_goodbye", ACTION_LISTEN]


def test_no_rule_applies_to_an_intent_no_rule_names(tmp_path: Path, reader: StateReader) -> None:
    rules = policy(tmp_path, reader, GREET_AND_BYE)

    assert next_action(rules, Conversation(reader).user("affirm")) is None


def test_a_rule_says_which_rule_it_was(tmp_path: Path, reader: StateReader) -> None:
    rules = policy(tmp_path, reader, GREET_AND_BYE)

    found = rules.predict(Conversation(reader).user("goodbye").states(), user_turns=1)

    assert found is not None
    assert (found.action, found.rule, found.general) == ("utter_goodbye", "bye", True)


def test_a_conversation_start_rule_applies_only_to_the_first_message(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: welcome
  conversation_start: true
  steps:
  - intent: greet
  - action: utter_welcome
""",
    )
    chat = Conversation(reader).user("greet")
    assert run(rules, chat) == ["utter_welcome", ACTION_LISTEN]

    chat.user("greet")
    assert next_action(rules, chat) is None
    later = Conversation(reader).user("inform").bot("utter_ok", ACTION_LISTEN).user("greet")
    assert next_action(rules, later) is None


def test_a_conversation_start_rule_wins_over_a_general_rule_at_the_start_only(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: greet any time
  steps:
  - intent: greet
  - action: utter_greet
- rule: welcome
  conversation_start: true
  steps:
  - intent: greet
  - action: utter_welcome
""",
    )
    chat = Conversation(reader).user("greet")

    assert run(rules, chat) == ["utter_welcome", ACTION_LISTEN]
    chat.user("greet")
    assert run(rules, chat) == ["utter_greet", ACTION_LISTEN]


def test_a_slot_condition_limits_the_rule_to_conversations_with_that_value(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: greet a known customer
  condition:
  - slot_was_set:
    - logged_in: true
  steps:
  - intent: greet
  - action: utter_welcome_back
- rule: greet a stranger
  condition:
  - slot_was_set:
    - logged_in: false
  steps:
  - intent: greet
  - action: utter_please_log_in
""",
    )

    known = Conversation(reader).add(slot_set("logged_in", True)).user("greet")
    stranger = Conversation(reader).add(slot_set("logged_in", False)).user("greet")
    unknown = Conversation(reader).user("greet")

    assert next_action(rules, known) == "utter_welcome_back"
    assert next_action(rules, stranger) == "utter_please_log_in"
    assert next_action(rules, unknown) is None


def test_a_null_slot_condition_means_the_slot_is_not_set(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: ask the name once
  condition:
  - slot_was_set:
    - name: null
  steps:
  - intent: greet
  - action: utter_ask_name
""",
    )

    assert next_action(rules, Conversation(reader).user("greet")) == "utter_ask_name"
    named = Conversation(reader).add(slot_set("name", "Ann")).user("greet")
    assert next_action(rules, named) is None


def test_a_slot_named_without_a_value_means_set_to_anything(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: greet by name
  condition:
  - slot_was_set:
    - name
  steps:
  - intent: greet
  - action: utter_greet_by_name
""",
    )

    named = Conversation(reader).add(slot_set("name", "Ann")).user("greet")
    assert next_action(rules, named) == "utter_greet_by_name"
    assert next_action(rules, Conversation(reader).user("greet")) is None


def test_an_active_loop_condition_and_a_null_one(tmp_path: Path, reader: StateReader) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: activate the form
  condition:
  - active_loop: null
  steps:
  - intent: request
  - action: order_form
  - active_loop: order_form
- rule: chitchat inside the form
  condition:
  - active_loop: order_form
  steps:
  - intent: chitchat
  - action: utter_chitchat_in_form
""",
    )
    idle = Conversation(reader).user("request")
    assert next_action(rules, idle) == "order_form"
    assert next_action(rules, idle.bot("order_form").add(active_loop("order_form"))) == (
        ACTION_LISTEN
    )

    def in_form() -> Conversation:
        return Conversation(reader).user("request").add(active_loop("order_form")).bot("order_form")

    assert next_action(rules, in_form().user("request")) is None
    assert next_action(rules, in_form().user("chitchat")) == "utter_chitchat_in_form"
    assert next_action(rules, Conversation(reader).user("chitchat")) is None


def test_the_submit_rule_fires_once_the_form_has_ended(tmp_path: Path, reader: StateReader) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: submit form
  condition:
  - active_loop: order_form
  steps:
  - action: order_form
  - active_loop: null
  - action: utter_submit
  - action: utter_slots_values
""",
    )
    chat = (
        Conversation(reader)
        .user("request")
        .bot("order_form")
        .add(active_loop("order_form"))
        .bot(ACTION_LISTEN)
        .user("inform")
        .bot("order_form")
        .add(active_loop(None), slot_set("requested_slot", None))
    )

    assert run(rules, chat) == ["utter_submit", "utter_slots_values", ACTION_LISTEN]
    # The form only asked: nothing to submit yet.
    asking = Conversation(reader).user("request").add(active_loop("order_form")).bot("order_form")
    assert next_action(rules, asking) is None


def test_without_waiting_for_the_user_the_rule_leaves_the_next_action_open(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: greet then something else decides
  wait_for_user_input: false
  steps:
  - intent: greet
  - action: utter_greet
- rule: waits
  steps:
  - intent: goodbye
  - action: utter_goodbye
""",
    )
    greeted = Conversation(reader).user("greet")
    assert next_action(rules, greeted) == "utter_greet"
    assert next_action(rules, greeted.bot("utter_greet")) is None

    said_bye = Conversation(reader).user("goodbye").bot("utter_goodbye")
    assert next_action(rules, said_bye) == ACTION_LISTEN


SNIPPETS = """
rules:
- rule: affirm in general
  steps:
  - intent: affirm
  - action: utter_ok
- rule: affirm after the handoff offer
  steps:
  - action: utter_offer_handoff
  - intent: affirm
  - action: action_handoff
"""


def test_a_rule_that_opens_with_an_action_does_not_predict_that_action(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(tmp_path, reader, SNIPPETS)
    chat = Conversation(reader).user("greet")

    assert next_action(rules, chat) is None
    # After the action it opens with, the rule listens for the customer's answer.
    assert next_action(rules, chat.bot("utter_offer_handoff")) == ACTION_LISTEN


def test_the_longer_matching_rule_wins(tmp_path: Path, reader: StateReader) -> None:
    rules = policy(tmp_path, reader, SNIPPETS)

    offered = Conversation(reader).user("greet").bot("utter_offer_handoff").user("affirm")
    assert next_action(rules, offered) == "action_handoff"
    plain = Conversation(reader).user("greet").bot("utter_greet").user("affirm")
    assert next_action(rules, plain) == "utter_ok"


def test_a_rule_with_a_condition_wins_over_the_same_rule_without(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: greet a known customer
  condition:
  - slot_was_set:
    - logged_in: true
  steps:
  - intent: greet
  - action: utter_welcome_back
""",
    )

    known = Conversation(reader).add(slot_set("logged_in", True)).user("greet")
    assert next_action(rules, known) == "utter_welcome_back"
    assert next_action(rules, Conversation(reader).user("greet")) == "utter_greet"


def test_or_in_a_rule_makes_it_apply_to_each_alternative(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: bye or thanks
  steps:
  - or:
    - intent: goodbye
    - intent: deny
  - action: utter_goodbye
""",
    )

    for intent in ("goodbye", "deny"):
        assert next_action(rules, Conversation(reader).user(intent)) == "utter_goodbye"
    assert next_action(rules, Conversation(reader).user("affirm")) is None


def test_an_excluded_action_is_not_predicted(tmp_path: Path, reader: StateReader) -> None:
    rules = policy(tmp_path, reader, GREET_AND_BYE)
    chat = Conversation(reader).user("greet")

    assert next_action(rules, chat, exclude=frozenset({"utter_greet"})) is None


def test_a_rule_about_the_form_is_not_general(tmp_path: Path, reader: StateReader) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: chitchat anywhere
  steps:
  - intent: chitchat
  - action: utter_chitchat
- rule: stop inside the form
  condition:
  - active_loop: order_form
  steps:
  - intent: deny
  - action: utter_ask_continue
""",
    )
    chat = Conversation(reader).user("request").add(active_loop("order_form")).bot("order_form")

    found = rules.predict(
        chat.bot(ACTION_LISTEN).user("chitchat").bot("utter_chitchat").states(), user_turns=2
    )
    assert found is not None
    assert (found.action, found.general) == (ACTION_LISTEN, True)
    chat.bot(ACTION_LISTEN).user("deny").bot("utter_ask_continue")
    found = rules.predict(chat.states(), user_turns=3)
    assert found is not None
    assert (found.action, found.general) == (ACTION_LISTEN, False)


ENTITY_RULE = """
rules:
- rule: a cuisine was named
  steps:
  - intent: inform
    entities:
    - cuisine: thai
  - action: utter_search
"""


def test_a_rule_with_an_entity_applies_only_when_the_message_has_it(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(tmp_path, reader, ENTITY_RULE)

    assert next_action(rules, Conversation(reader).user("inform", "cuisine")) == "utter_search"
    assert next_action(rules, Conversation(reader).user("inform")) is None


def test_a_rule_with_an_entity_does_not_apply_when_the_message_has_more(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(tmp_path, reader, ENTITY_RULE)

    assert next_action(rules, Conversation(reader).user("inform", "cuisine", "city")) is None


def test_a_slot_set_by_an_action_inside_a_rule_guides_its_next_step(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(
        tmp_path,
        reader,
        """
rules:
- rule: check, then greet by name
  steps:
  - intent: greet
  - action: action_check_profile
  - slot_was_set:
    - name: Ann
  - action: utter_greet_by_name
""",
    )
    chat = Conversation(reader).user("greet")
    assert next_action(rules, chat) == "action_check_profile"

    chat.bot("action_check_profile")
    assert next_action(rules, chat) is None  # the profile has no name
    assert next_action(rules, chat.add(slot_set("name", "Ann"))) == "utter_greet_by_name"


# Contradicting rules -----------------------------------------------------------------------


def conflicts(tmp_path: Path, reader: StateReader, rules_yaml: str) -> Sequence[str]:
    return [c.message() for c in policy(tmp_path, reader, rules_yaml).conflicts()]


def test_two_rules_answering_the_same_intent_differently_are_reported_with_file_and_line(
    tmp_path: Path, reader: StateReader
) -> None:
    found = conflicts(
        tmp_path,
        reader,
        """
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: greet differently
  steps:
  - intent: greet
  - action: utter_hello
""",
    )

    assert len(found) == 1
    rules_file = tmp_path / "rules.yml"
    assert f"{rules_file}:2 rule 'greet' predicts 'utter_greet'" in found[0]
    assert f"{rules_file}:6 rule 'greet differently' predicts 'utter_hello'" in found[0]


def test_rules_that_agree_or_differ_in_a_condition_are_not_conflicts(
    tmp_path: Path, reader: StateReader
) -> None:
    assert not conflicts(
        tmp_path,
        reader,
        """
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: greet again
  steps:
  - intent: greet
  - action: utter_greet
- rule: greet a known customer
  condition:
  - slot_was_set:
    - logged_in: true
  steps:
  - intent: greet
  - action: utter_welcome_back
- rule: welcome
  conversation_start: true
  steps:
  - intent: greet
  - action: utter_welcome
""",
    )


def test_rules_that_agree_on_the_first_action_but_not_the_second_conflict(
    tmp_path: Path, reader: StateReader
) -> None:
    found = conflicts(
        tmp_path,
        reader,
        """
rules:
- rule: greet and help
  steps:
  - intent: greet
  - action: utter_greet
  - action: utter_help
- rule: greet only
  steps:
  - intent: greet
  - action: utter_greet
""",
    )

    assert len(found) == 1
    assert "'utter_help'" in found[0] and f"'{ACTION_LISTEN}'" in found[0]


def test_a_rejected_form_leaves_the_answer_to_the_rules(
    tmp_path: Path, reader: StateReader
) -> None:
    rules = policy(tmp_path, reader, GREET_AND_BYE)
    chat = (
        Conversation(reader)
        .user("request")
        .add(active_loop("order_form"))
        .bot("order_form", ACTION_LISTEN)
        .user("greet")
        .add(simple("action_execution_rejected", name_of="order_form"))
    )

    assert next_action(rules, chat, exclude=frozenset({"order_form"})) == "utter_greet"
