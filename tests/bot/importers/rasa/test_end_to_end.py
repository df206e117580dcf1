"""The whole import on a small Rasa project with everything the dialogue engine reads: a
form with slot mappings and conditions, rules with conditions, stories with a checkpoint and
an ``or``, NLU data with entity annotations, synonyms, a regex and a lookup table. What is
written must read, with Frontdesk's own readers, as the project says."""

from __future__ import annotations

from pathlib import Path

from bot.importers.rasa import import_rasa_project
from retrieval.base.datasets import load_examples
from retrieval.base.domain import Domain, FormSpec, SlotMapping
from retrieval.base.stories import (
    ActionStep,
    CheckpointStep,
    Entity,
    LoopStep,
    OrStep,
    SlotStep,
    UserStep,
    read_story_files,
)
from tests.bot.importers.rasa.helpers import write

DOMAIN = """\
version: "3.1"
intents:
- greet
- book_table:
    use_entities: [cuisine]
- inform
- affirm
- deny
entities:
- cuisine
- city:
    roles: [from, to]
slots:
  cuisine:
    type: text
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: cuisine
  outdoor:
    type: bool
    mappings:
    - type: from_intent
      intent: affirm
      value: true
      conditions:
      - active_loop: booking_form
        requested_slot: outdoor
    - type: from_intent
      intent: deny
      value: false
      conditions:
      - active_loop: booking_form
        requested_slot: outdoor
  confirmed:
    type: categorical
    values: [yes, no]
    mappings:
    - type: from_intent
      intent: affirm
      value: yes
      not_intent: [deny]
forms:
  booking_form:
    ignored_intents: [greet]
    required_slots: [cuisine, outdoor]
responses:
  utter_greet:
  - text: Hello!
  utter_ask_cuisine:
  - text: Which cuisine?
  utter_ask_outdoor:
  - text: Outside?
    buttons:
    - title: Yes
      payload: /affirm
    - title: No
      payload: /deny
  utter_booked:
  - text: Booked {cuisine}.
actions:
- validate_booking_form
session_config:
  session_expiration_time: 30
  carry_over_slots_to_new_session: false
"""

NLU = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
- intent: book_table
  examples: |
    - book a table for [italian](cuisine) food
    - a table, [thai]{"entity": "cuisine", "value": "thai"} please
    - from [Berlin]{"entity": "city", "role": "from"} to [Rome]{"entity": "city", "role": "to"}
- intent: inform
  examples: |
    - [gastro pub](cuisine:gastropub)
    - I'd like [chinese](cuisine)
- intent: affirm
  examples: |
    - yes
    - sure
- intent: deny
  examples: |
    - no
    - nope
- synonym: gastropub
  examples: |
    - gastro pub
- regex: table_number
  examples: |
    - T\\d{2}
- lookup: cuisine
  examples: |
    - italian
    - thai
"""

RULES = """\
version: "3.1"
rules:
- rule: greet
  conversation_start: true
  steps:
  - intent: greet
  - action: utter_greet
- rule: activate the form
  condition:
  - active_loop: null
  steps:
  - intent: book_table
  - action: booking_form
  - active_loop: booking_form
- rule: submit the form
  condition:
  - active_loop: booking_form
  steps:
  - action: booking_form
  - active_loop: null
  - slot_was_set:
    - requested_slot: null
  - action: utter_booked
  wait_for_user_input: false
"""

STORIES = """\
version: "3.1"
stories:
- story: greeted
  steps:
  - or:
    - intent: greet
    - intent: affirm
  - action: utter_greet
  - checkpoint: greeted
- story: book after greeting
  steps:
  - checkpoint: greeted
  - intent: book_table
    entities:
    - cuisine: italian
  - slot_was_set:
    - cuisine: italian
  - action: booking_form
  - active_loop: booking_form
"""


def test_a_small_rasa_project_reads_back_as_it_was_written(tmp_path: Path) -> None:
    project = tmp_path / "bookbot"
    write(project / "domain.yml", DOMAIN)
    write(project / "data" / "nlu.yml", NLU)
    write(project / "data" / "rules.yml", RULES)
    write(project / "data" / "stories.yml", STORIES)
    out = tmp_path / "data"

    summary = import_rasa_project(project, out)

    domain = Domain.load(out / "domain.yml")
    assert domain.intents == ("greet", "book_table", "inform", "affirm", "deny")
    assert domain.entities == ("cuisine", "city")
    assert domain.forms == {
        "booking_form": FormSpec("booking_form", ("cuisine", "outdoor"), ("greet",))
    }
    assert domain.slots["cuisine"].mappings == (SlotMapping("from_entity", entity="cuisine"),)
    assert domain.slots["outdoor"].mappings == (
        SlotMapping(
            "from_intent", value=True, intent=("affirm",), conditions=(("booking_form", "outdoor"),)
        ),
        SlotMapping(
            "from_intent", value=False, intent=("deny",), conditions=(("booking_form", "outdoor"),)
        ),
    )
    confirmed = domain.slots["confirmed"]
    assert (confirmed.type, confirmed.values) == ("categorical", ("yes", "no"))
    assert confirmed.mappings[0].value == "yes"
    assert confirmed.mappings[0].not_intent == ("deny",)
    assert domain.actions == ("validate_booking_form",)
    assert domain.responses["utter_ask_outdoor"][0]["buttons"][0]["title"] == "Yes"
    assert (domain.session.expiration_minutes, domain.session.carry_over_slots) == (30, False)
    assert domain.categories == {}

    found = read_story_files([out / "rules.yml", out / "stories.yml"])
    greet, activate, submit = found.rules
    assert greet.conversation_start and greet.steps == (
        UserStep("greet", line=greet.steps[0].line),
        ActionStep("utter_greet", line=greet.steps[1].line),
    )
    assert activate.condition == (LoopStep(None, line=activate.condition[0].line),)
    assert not submit.wait_for_user_input
    assert [(type(s), getattr(s, "name", None)) for s in submit.steps] == [
        (ActionStep, "booking_form"),
        (LoopStep, None),
        (SlotStep, None),
        (ActionStep, "utter_booked"),
    ]
    greeted, after = found.stories
    assert isinstance(greeted.steps[0], OrStep)
    assert [o.intent for o in greeted.steps[0].options if isinstance(o, UserStep)] == [
        "greet",
        "affirm",
    ]
    assert greeted.steps[-1] == CheckpointStep("greeted", line=greeted.steps[-1].line)
    assert after.steps[0] == CheckpointStep("greeted", line=after.steps[0].line)
    assert after.steps[1] == UserStep(
        "book_table", (Entity("cuisine", "italian"),), line=after.steps[1].line
    )
    assert after.steps[2] == SlotStep((("cuisine", "italian"),), line=after.steps[2].line)

    examples = load_examples(out / "nlu.yml")
    assert [(e.label, e.text) for e in examples] == [
        ("greet", "hi"),
        ("greet", "hello"),
        ("book_table", "book a table for italian food"),
        ("book_table", "a table, thai please"),
        ("book_table", "from Berlin to Rome"),
        ("inform", "gastro pub"),
        ("inform", "I'd like chinese"),
        ("affirm", "yes"),
        ("affirm", "sure"),
        ("deny", "no"),
        ("deny", "nope"),
    ]
    written = (out / "nlu.yml").read_text(encoding="utf-8")
    annotated = [line for line in NLU.splitlines() if "](" in line or "]{" in line]
    assert len(annotated) == 5
    for line in annotated:
        assert f"{line}\n" in written
    for section in ("- synonym: gastropub", "- regex: table_number", "- lookup: cuisine"):
        assert section in written
    assert "    - T\\d{2}\n" in written

    assert summary["warnings"] == []
    assert summary["intents"] == list(domain.intents)
    assert (summary["rules"], summary["stories"], summary["test_stories"]) == (3, 2, 0)
