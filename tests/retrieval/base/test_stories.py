"""retrieval.base.stories: Rasa's ``stories:``, ``rules:`` and test stories, read step by step.

Rasa's reader (``yaml_story_reader.py``) is the reference: the step kinds, the entity forms,
``slot_was_set`` without a value, YAML 1.2 scalars, rule keys, ``or`` and checkpoints. Where
Frontdesk is stricter than Rasa (Rasa warns and skips, Frontdesk stops), the error names the
file and the line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.base.datafiles import DataFileError
from retrieval.base.stories import (
    ANY_VALUE,
    ActionStep,
    BotStep,
    CheckpointStep,
    Entity,
    LoopStep,
    OrStep,
    PlainStep,
    SlotStep,
    Story,
    UserStep,
    expand,
    parse_annotated,
    read_story_file,
    read_story_files,
)


def write(tmp_path: Path, text: str, name: str = "stories.yml") -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def names(steps: tuple[PlainStep, ...]) -> list[str]:
    """A path as short labels: intents as-is, actions prefixed with '>'."""
    out: list[str] = []
    for step in steps:
        if isinstance(step, UserStep):
            out.append(str(step.intent))
        elif isinstance(step, ActionStep):
            out.append(f">{step.name}")
        elif isinstance(step, SlotStep):
            out.append(f"slot:{dict(step.slots)}")
        elif isinstance(step, LoopStep):
            out.append(f"loop:{step.name}")
    return out


# Reading stories and rules -----------------------------------------------------------------


def test_stories_and_rules_are_read_with_their_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
version: "3.1"
stories:
- story: happy path
  steps:
  - intent: greet
  - action: utter_greet
rules:
- rule: say goodbye
  steps:
  - intent: goodbye
  - action: utter_goodbye
""",
    )
    found = read_story_file(path)

    assert [s.name for s in found.stories] == ["happy path"]
    assert [r.name for r in found.rules] == ["say goodbye"]
    story, rule = found.stories[0], found.rules[0]
    assert (story.rule, rule.rule) == (False, True)
    assert story.where == f"{path}:3"
    assert rule.where == f"{path}:8"
    assert story.steps == (UserStep("greet", line=5), ActionStep("utter_greet", line=6))


def test_every_step_kind_is_read_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: all kinds
  steps:
  - intent: request_restaurant
  - action: restaurant_form
  - active_loop: restaurant_form
  - slot_was_set:
    - requested_slot: cuisine
  - bot: |
      What cuisine?
  - active_loop: null
  - checkpoint: done
""",
    )
    steps = read_story_file(path).stories[0].steps

    assert steps == (
        UserStep("request_restaurant", line=4),
        ActionStep("restaurant_form", line=5),
        LoopStep("restaurant_form", line=6),
        SlotStep((("requested_slot", "cuisine"),), line=7),
        BotStep("What cuisine?", line=9),
        LoopStep(None, line=11),
        CheckpointStep("done", line=12),
    )


def test_entities_of_a_step_are_read_in_rasas_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: entities
  steps:
  - intent: inform
    entities:
    - cuisine: thai
    - number: 2
    - feedback
  - action: utter_ok
""",
    )
    user = read_story_file(path).stories[0].steps[0]

    assert isinstance(user, UserStep)
    assert user.entities == (Entity("cuisine", "thai"), Entity("number", 2), Entity("feedback"))
    assert user.text is None


def test_an_entity_with_a_role_in_a_story_step_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: roles
  steps:
  - intent: book_flight
    entities:
    - city: Berlin
      role: departure
    - city: Paris
      role: destination
  - action: utter_ok
""",
    )
    user = read_story_file(path).stories[0].steps[0]

    assert isinstance(user, UserStep)
    assert user.entities == (
        Entity("city", "Berlin", role="departure"),
        Entity("city", "Paris", role="destination"),
    )


def test_a_test_story_turn_keeps_the_typed_text_and_its_annotated_entities(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: test
  steps:
  - user: |
      [afghan](cuisine) food for [2](number)
    intent: inform
  - action: restaurant_form
""",
    )
    user = read_story_file(path).stories[0].steps[0]

    assert user == UserStep(
        "inform",
        (Entity("cuisine", "afghan"), Entity("number", "2")),
        "afghan food for 2",
        line=4,
    )


def test_a_payload_turn_without_an_intent_names_its_intent_itself(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: payload
  steps:
  - user: /greet
  - action: utter_greet
""",
    )
    user = read_story_file(path).stories[0].steps[0]

    assert isinstance(user, UserStep)
    assert (user.intent, user.text) == ("greet", "/greet")


def test_a_payload_turn_takes_its_entities_from_the_payload(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: payload
  steps:
  - user: '/inform{"cuisine": "thai"}'
    intent: inform
  - action: utter_ok
""",
    )
    user = read_story_file(path).stories[0].steps[0]

    assert isinstance(user, UserStep)
    assert [(e.entity, e.value) for e in user.entities] == [("cuisine", "thai")]


def test_a_leading_slash_on_an_intent_is_dropped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: slash
  steps:
  - intent: /greet
  - action: utter_greet
""",
    )
    user = read_story_file(path).stories[0].steps[0]

    assert isinstance(user, UserStep)
    assert user.intent == "greet"


def test_slot_was_set_reads_values_nulls_and_bare_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: slots
  steps:
  - intent: inform
  - slot_was_set:
    - cuisine: thai
    - num_people: null
    - feedback
  - action: utter_ok
""",
    )
    slots = read_story_file(path).stories[0].steps[1]

    assert isinstance(slots, SlotStep)
    assert slots.slots[:2] == (("cuisine", "thai"), ("num_people", None))
    # A slot named without a value means "set to something", not null.
    assert slots.slots[2][0] == "feedback"
    assert slots.slots[2][1] is ANY_VALUE


def test_yes_and_no_in_a_story_are_text_as_in_yaml_1_2(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: yaml 1.2
  steps:
  - intent: affirm
  - slot_was_set:
    - AA_CONTINUE_FORM: yes
    - confirmed: no
    - flag: true
  - action: utter_ok
""",
    )
    slots = read_story_file(path).stories[0].steps[1]

    assert isinstance(slots, SlotStep)
    assert slots.slots == (("AA_CONTINUE_FORM", "yes"), ("confirmed", "no"), ("flag", True))


def test_rule_keys_condition_conversation_start_and_wait_for_user_input(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rules:
- rule: submit form
  condition:
  - active_loop: restaurant_form
  - slot_was_set:
    - previous_form_name: null
  steps:
  - action: restaurant_form
  - active_loop: null
  - action: utter_submit
- rule: welcome
  conversation_start: true
  steps:
  - intent: greet
  - action: utter_welcome
- rule: chain
  wait_for_user_input: false
  steps:
  - intent: greet
  - action: utter_greet
""",
    )
    submit, welcome, chain = read_story_file(path).rules

    assert submit.condition == (
        LoopStep("restaurant_form", line=4),
        SlotStep((("previous_form_name", None),), line=5),
    )
    assert (submit.conversation_start, submit.wait_for_user_input) == (False, True)
    assert (welcome.conversation_start, welcome.wait_for_user_input) == (True, True)
    assert (chain.conversation_start, chain.wait_for_user_input) == (False, False)
    assert welcome.condition == chain.condition == ()


def test_an_or_step_keeps_its_alternatives(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: either
  steps:
  - or:
    - intent: affirm
    - intent: thankyou
    - slot_was_set:
      - happy: true
  - action: utter_ok
""",
    )
    step = read_story_file(path).stories[0].steps[0]

    assert step == OrStep(
        (UserStep("affirm", line=5), UserStep("thankyou", line=6), SlotStep((("happy", True),), 7)),
        line=4,
    )


def test_a_checkpoint_with_slot_conditions_stays_a_checkpoint(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: continues
  steps:
  - checkpoint: asked_name
    slot_was_set:
    - name: filled
  - intent: affirm
  - action: utter_ok
""",
    )
    first = read_story_file(path).stories[0].steps[0]

    assert isinstance(first, CheckpointStep)
    assert first.name == "asked_name"


def test_a_metadata_step_is_accepted_and_adds_nothing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: with metadata
  steps:
  - intent: greet
  - metadata:
      source: import
  - action: utter_greet
""",
    )
    steps = read_story_file(path).stories[0].steps

    assert [type(s) for s in steps] == [UserStep, ActionStep]


def test_a_folder_is_read_recursively_and_files_without_stories_are_skipped(
    tmp_path: Path,
) -> None:
    (tmp_path / "data" / "core").mkdir(parents=True)
    write(tmp_path, "nlu:\n- intent: greet\n  examples: |\n    - hi\n", "data/nlu.yml")
    write(tmp_path, "rules:\n- rule: r\n  steps:\n  - intent: a\n  - action: b\n", "data/rules.yml")
    write(tmp_path, "stories:\n- story: s\n  steps:\n  - intent: c\n", "data/core/s.yaml")
    write(tmp_path, "stories:\n- story: ignored\n", "data/notes.txt")

    found = read_story_files([tmp_path / "data"])

    assert [s.name for s in found.stories] == ["s"]
    assert [r.name for r in found.rules] == ["r"]
    assert sorted(Path(f).name for f in found.files) == ["rules.yml", "s.yaml"]


# Annotated text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotated", "plain", "entities"),
    [
        ("I want [Italian](cuisine) food", "I want Italian food", [Entity("cuisine", "Italian")]),
        (
            "a [gastro pub](cuisine:gastropub) please",
            "a gastro pub please",
            [Entity("cuisine", "gastropub")],
        ),
        (
            'from [Berlin]{"entity": "city", "role": "departure", "value": "BER"} to '
            '[LA]{"entity": "city", "role": "destination"}',
            "from Berlin to LA",
            [Entity("city", "BER", role="departure"), Entity("city", "LA", role="destination")],
        ),
        (
            '[2]{"entity": "count", "group": 1} pizzas',
            "2 pizzas",
            [Entity("count", "2", group="1")],
        ),
        ("no entities here", "no entities here", []),
    ],
)
def test_annotated_text_gives_the_plain_text_and_its_entities(
    annotated: str, plain: str, entities: list[Entity]
) -> None:
    assert parse_annotated(annotated) == (plain, entities)


def test_several_entities_on_one_span_are_all_read() -> None:
    text, entities = parse_annotated('[Paris][{"entity": "city"}, {"entity": "dest"}] now')

    assert text == "Paris now"
    assert [e.entity for e in entities] == ["city", "dest"]


# Expanding `or` and checkpoints ------------------------------------------------------------


def test_or_steps_multiply_into_one_path_per_alternative(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: thanks or bye
  steps:
  - or:
    - intent: thankyou
    - intent: goodbye
  - action: utter_bye
  - or:
    - intent: affirm
    - intent: deny
  - action: utter_ok
""",
    )
    story = read_story_file(path).stories[0]
    paths = expand([story])

    assert all(s is story for s, _ in paths)
    assert sorted(names(p) for _, p in paths) == [
        ["goodbye", ">utter_bye", "affirm", ">utter_ok"],
        ["goodbye", ">utter_bye", "deny", ">utter_ok"],
        ["thankyou", ">utter_bye", "affirm", ">utter_ok"],
        ["thankyou", ">utter_bye", "deny", ">utter_ok"],
    ]


def test_a_story_ending_at_a_checkpoint_continues_with_every_story_starting_there(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: start
  steps:
  - intent: greet
  - action: utter_greet
  - checkpoint: greeted
- story: then happy
  steps:
  - checkpoint: greeted
  - intent: mood_great
  - action: utter_happy
- story: then sad
  steps:
  - checkpoint: greeted
  - intent: mood_unhappy
  - action: utter_cheer_up
""",
    )
    paths = expand(read_story_file(path).stories)

    assert sorted(names(p) for _, p in paths) == [
        ["greet", ">utter_greet", "mood_great", ">utter_happy"],
        ["greet", ">utter_greet", "mood_unhappy", ">utter_cheer_up"],
    ]
    # The joined paths are credited to the story they start from.
    assert {s.name for s, _ in paths} == {"start"}


def test_an_unused_end_checkpoint_leaves_the_story_on_its_own_and_an_unreached_start_drops(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: dead end
  steps:
  - intent: greet
  - action: utter_greet
  - checkpoint: nobody_continues
- story: unreachable
  steps:
  - checkpoint: nobody_ends_here
  - intent: affirm
  - action: utter_ok
""",
    )
    paths = expand(read_story_file(path).stories)

    assert [(s.name, names(p)) for s, p in paths] == [("dead end", ["greet", ">utter_greet"])]


def test_checkpoints_chain_across_several_stories(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
stories:
- story: a
  steps:
  - intent: one
  - checkpoint: x
- story: b
  steps:
  - checkpoint: x
  - intent: two
  - checkpoint: y
- story: c
  steps:
  - checkpoint: y
  - intent: three
""",
    )
    paths = expand(read_story_file(path).stories)

    assert [names(p) for _, p in paths] == [["one", "two", "three"]]


# Errors name the file and the line ---------------------------------------------------------


def error_for(tmp_path: Path, text: str) -> DataFileError:
    path = write(tmp_path, text)
    with pytest.raises(DataFileError) as caught:
        read_story_file(path)
    assert caught.value.path == str(path)
    return caught.value


def test_invalid_yaml_is_reported_at_its_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "stories:\n- story: x\n  steps:\n  - intent: [greet\n")

    assert error.line is not None and error.line >= 4
    assert f":{error.line}" in str(error)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("stories:\n  story: not a list\n", 2, "must be a list"),
        ("stories:\n- story: no steps\n", 2, "no list of steps"),
        ("stories:\n- steps:\n  - intent: a\n", 2, "no 'story:' name"),
        ("stories:\n- story: s\n  steps:\n  - greet\n", 4, "must be a mapping"),
        ("stories:\n- story: s\n  steps:\n  - intent: a\n  - utter: b\n", 5, "unknown step"),
        ("stories:\n- story: s\n  steps:\n  - slot_was_set: 3\n", 4, "slot_was_set"),
        (
            "stories:\n- story: s\n  steps:\n  - or:\n    - intent: a\n    - action: b\n",
            6,
            "'or' step",
        ),
        (
            "rules:\n- rule: r\n  condition:\n  - intent: greet\n  steps:\n  - action: a\n",
            4,
            "condition",
        ),
    ],
)
def test_a_malformed_story_is_reported_with_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    error = error_for(tmp_path, text)

    assert error.line == line
    assert words in error.problem
    assert f"stories.yml:{line}" in str(error)


def test_a_story_object_says_where_it_is() -> None:
    story = Story("s", (), "data/stories.yml", 12)

    assert story.where == "data/stories.yml:12"
