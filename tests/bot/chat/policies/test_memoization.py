"""bot.chat.policies.memoization: the next action is the one a story took after the same turns.

The reference is Rasa 3's (Augmented)MemoizationPolicy: the recent states are the key; when
the whole window is unknown, the most recent part of it is tried (Rasa's augmented recall),
so a story also matches the end of a longer conversation; a key that two stories continue
differently decides nothing and is reported, with both stories' file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.chat.policies.memoization import MemoizationPolicy
from bot.chat.policies.states import StateReader
from bot.chat.tracker import ACTION_LISTEN
from retrieval.base.domain import Domain
from retrieval.base.stories import read_story_file
from tests.bot.chat.policies.helpers import Conversation

DOMAIN = """
intents: [greet, goodbye, affirm, deny, mood_great, mood_unhappy, bot_challenge, inform]
entities: [cuisine]
slots:
  vip: {type: bool, mappings: [{type: custom}]}
  note: {type: text, influence_conversation: false, mappings: [{type: custom}]}
"""

MOODBOT = """
stories:
- story: happy path
  steps:
  - intent: greet
  - action: utter_greet
  - intent: mood_great
  - action: utter_happy
- story: sad path 1
  steps:
  - intent: greet
  - action: utter_greet
  - intent: mood_unhappy
  - action: utter_cheer_up
  - action: utter_did_that_help
  - intent: affirm
  - action: utter_happy
- story: sad path 2
  steps:
  - intent: greet
  - action: utter_greet
  - intent: mood_unhappy
  - action: utter_cheer_up
  - action: utter_did_that_help
  - intent: deny
  - action: utter_goodbye
"""


@pytest.fixture
def reader(tmp_path: Path) -> StateReader:
    path = tmp_path / "domain.yml"
    path.write_text(DOMAIN, encoding="utf-8")
    return StateReader(Domain.load(path))


def memo(
    tmp_path: Path, reader: StateReader, stories_yaml: str, **kwargs: Any
) -> MemoizationPolicy:
    path = tmp_path / "stories.yml"
    path.write_text(stories_yaml.lstrip("\n"), encoding="utf-8")
    return MemoizationPolicy(read_story_file(path).stories, reader, **kwargs)


def next_action(policy: MemoizationPolicy, chat: Conversation) -> str | None:
    found = policy.predict_for(chat.events, {})
    return found[0] if found else None


def test_each_action_of_a_story_is_predicted_after_the_same_turns(
    tmp_path: Path, reader: StateReader
) -> None:
    stories = memo(tmp_path, reader, MOODBOT)
    chat = Conversation(reader).user("greet")

    assert next_action(stories, chat) == "utter_greet"
    assert next_action(stories, chat.bot("utter_greet")) == ACTION_LISTEN
    chat.user("mood_unhappy")
    assert next_action(stories, chat) == "utter_cheer_up"
    assert next_action(stories, chat.bot("utter_cheer_up")) == "utter_did_that_help"
    assert next_action(stories, chat.bot("utter_did_that_help")) == ACTION_LISTEN
    assert next_action(stories, chat.user("deny")) == "utter_goodbye"
    assert stories.contradictions == []


def test_the_prediction_names_the_story_it_comes_from(tmp_path: Path, reader: StateReader) -> None:
    stories = memo(tmp_path, reader, MOODBOT)
    chat = Conversation(reader).user("greet").bot("utter_greet").user("mood_great")

    assert stories.predict(reader.from_events(chat.events, {})) == ("utter_happy", "happy path")


def test_the_same_answer_means_different_things_after_different_questions(
    tmp_path: Path, reader: StateReader
) -> None:
    stories = memo(tmp_path, reader, MOODBOT)
    helped = (
        Conversation(reader)
        .user("greet")
        .bot("utter_greet")
        .user("mood_unhappy")
        .bot("utter_cheer_up", "utter_did_that_help")
    )

    assert next_action(stories, helped.user("affirm")) == "utter_happy"
    not_helped = Conversation(reader)
    not_helped.events = helped.events[:-1]
    assert next_action(stories, not_helped.user("deny")) == "utter_goodbye"


def test_turns_no_story_knows_are_not_guessed(tmp_path: Path, reader: StateReader) -> None:
    stories = memo(tmp_path, reader, MOODBOT)

    assert next_action(stories, Conversation(reader).user("bot_challenge")) is None
    assert next_action(stories, Conversation(reader).user("greet").bot("utter_x")) is None


def test_a_story_matches_the_end_of_a_longer_conversation(
    tmp_path: Path, reader: StateReader
) -> None:
    stories = memo(tmp_path, reader, MOODBOT)
    chat = Conversation(reader)
    for _ in range(4):
        chat.user("bot_challenge").bot("utter_iamabot")
    chat.user("greet")

    assert next_action(stories, chat) == "utter_greet"
    chat.bot("utter_greet").user("mood_great")
    assert next_action(stories, chat) == "utter_happy"


def test_a_story_continues_after_a_turn_a_rule_answered_in_between(
    tmp_path: Path, reader: StateReader
) -> None:
    stories = memo(tmp_path, reader, MOODBOT)
    chat = (
        Conversation(reader)
        .user("greet")
        .bot("utter_greet")
        .user("bot_challenge")
        .bot("utter_iamabot", policy="rule")  # a rule's answer that no story takes
        .user("mood_great")
    )

    assert next_action(stories, chat) == "utter_happy"


def test_a_story_that_opens_with_an_action_matches_after_that_action(
    tmp_path: Path, reader: StateReader
) -> None:
    stories = memo(
        tmp_path,
        reader,
        """
stories:
- story: help, then ok
  steps:
  - action: utter_help
  - intent: affirm
  - action: utter_ok
""",
    )
    chat = Conversation(reader).user("greet").bot("utter_greet", "utter_help").user("affirm")

    assert next_action(stories, chat) == "utter_ok"


def test_entities_tell_turns_apart(tmp_path: Path, reader: StateReader) -> None:
    stories = memo(
        tmp_path,
        reader,
        """
stories:
- story: cuisine given
  steps:
  - intent: inform
    entities:
    - cuisine: thai
  - action: utter_search
- story: cuisine missing
  steps:
  - intent: inform
  - action: utter_ask_cuisine
""",
    )

    assert next_action(stories, Conversation(reader).user("inform", "cuisine")) == "utter_search"
    assert next_action(stories, Conversation(reader).user("inform")) == "utter_ask_cuisine"
    assert stories.contradictions == []


def test_a_slot_that_influences_the_conversation_tells_turns_apart(
    tmp_path: Path, reader: StateReader
) -> None:
    stories = memo(
        tmp_path,
        reader,
        """
stories:
- story: vip
  steps:
  - slot_was_set:
    - vip: true
  - intent: greet
  - action: utter_welcome_vip
- story: regular
  steps:
  - slot_was_set:
    - vip: false
  - intent: greet
  - action: utter_greet
""",
    )

    assert next_action(stories, Conversation(reader).slot("vip", True).user("greet")) == (
        "utter_welcome_vip"
    )
    assert next_action(stories, Conversation(reader).slot("vip", False).user("greet")) == (
        "utter_greet"
    )


def test_stories_that_continue_the_same_turns_differently_are_reported_with_file_and_line(
    tmp_path: Path, reader: StateReader
) -> None:
    stories = memo(
        tmp_path,
        reader,
        """
stories:
- story: affirm means ok
  steps:
  - intent: greet
  - action: utter_greet
  - intent: affirm
  - action: utter_ok
- story: affirm means yes
  steps:
  - intent: greet
  - action: utter_greet
  - slot_was_set:
    - note: not a feature
  - intent: affirm
  - action: utter_yes
""",
    )
    path = tmp_path / "stories.yml"

    assert len(stories.contradictions) == 1
    message = stories.contradictions[0].message()
    assert f"{path}:2 story 'affirm means ok' continues with 'utter_ok'" in message
    assert f"{path}:8 story 'affirm means yes' continues with 'utter_yes'" in message
    chat = Conversation(reader).user("greet")
    # Where the stories agree they still decide; where they contradict, neither does.
    assert next_action(stories, chat) == "utter_greet"
    assert next_action(stories, chat.bot("utter_greet").user("affirm")) is None


def test_only_the_last_max_history_states_are_the_key(tmp_path: Path, reader: StateReader) -> None:
    two_stories = """
stories:
- story: greeted
  steps:
  - intent: greet
  - action: utter_hello
  - intent: inform
  - action: utter_a
  - intent: affirm
  - action: utter_ok
- story: said bye
  steps:
  - intent: goodbye
  - action: utter_hello
  - intent: inform
  - action: utter_a
  - intent: affirm
  - action: utter_yes
"""
    # (listen, greet) is 5 states before the last action: inside a window of 5, outside 4.
    assert memo(tmp_path, reader, two_stories, max_history=5).contradictions == []
    short = memo(tmp_path, reader, two_stories, max_history=4)
    assert [(c.first_action, c.second_action) for c in short.contradictions] == [
        ("utter_ok", "utter_yes")
    ]


def test_each_alternative_of_an_or_is_learned(tmp_path: Path, reader: StateReader) -> None:
    stories = memo(
        tmp_path,
        reader,
        """
stories:
- story: thanks or bye
  steps:
  - or:
    - intent: goodbye
    - intent: deny
  - action: utter_goodbye
""",
    )

    assert next_action(stories, Conversation(reader).user("goodbye")) == "utter_goodbye"
    assert next_action(stories, Conversation(reader).user("deny")) == "utter_goodbye"
