"""bot.importers.rasa.flows and .checks: every rule and story of the data files is written
unchanged in meaning into rules.yml and stories.yml, and what the names tell about the bot
(intents nothing teaches, actions the domain lacks) is reported."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.importers.rasa import import_rasa_project
from retrieval.base.datafiles import Yaml12Loader
from retrieval.base.stories import read_story_files
from tests.bot.importers.rasa.helpers import kinds, shapes, warnings_about, write

FLOWS = """\
version: "3.1"
rules:
- rule: greet only at the start
  conversation_start: true
  steps:
  - intent: greet
  - action: utter_greet
- rule: check the order, then go on
  wait_for_user_input: false
  steps:
  - intent: order_status
  - action: action_check_order_status
- rule: submit the return form
  condition:
  - active_loop: return_form
  - slot_was_set:
    - logged_in: true
  steps:
  - action: return_form
  - active_loop: null
  - slot_was_set:
    - requested_slot: null
  - action: utter_return_submitted
stories:
- story: greeted
  steps:
  - or:
    - intent: greet
    - intent: mood_great
  - action: utter_greet
  - checkpoint: greeted
- story: after a greeting
  steps:
  - checkpoint: greeted
  - intent: return_item
    entities:
    - product: headphones
  - action: return_form
  - active_loop: return_form
  - slot_was_set:
    - product
"""


def test_rules_and_stories_are_written_unchanged(project: Path, tmp_path: Path) -> None:
    write(project / "data" / "more" / "flows.yml", FLOWS)
    out = tmp_path / "out"

    summary = import_rasa_project(project, out)

    written = read_story_files([out / "rules.yml", out / "stories.yml"])
    assert shapes(written) == shapes(read_story_files([project / "data"]))
    # Files in the order of their paths (data/more/ before data/rules.yml), as Rasa reads them.
    assert [r.name for r in written.rules][:3] == [
        "greet only at the start",
        "check the order, then go on",
        "submit the return form",
    ]
    assert written.rules[0].conversation_start and not written.rules[1].wait_for_user_input
    assert (summary["rules"], summary["stories"]) == (len(written.rules), len(written.stories))
    rules = yaml.load((out / "rules.yml").read_text(encoding="utf-8"), Loader=Yaml12Loader)
    # Written in Rasa's format, so Rasa itself reads it too.
    assert rules["version"] == "3.1"
    assert rules["rules"][2] == yaml.load(FLOWS, Loader=Yaml12Loader)["rules"][2]
    assert not {"flow_shape", "flow_unreadable"} & kinds(summary)


def test_steps_rasa_skips_are_skipped_with_their_place(project: Path, tmp_path: Path) -> None:
    write(
        project / "data" / "odd.yml",
        """\
stories:
- story: odd steps
  steps:
  - intent: greet
  - just a remark
  - metadata: {author: ada}
  - wait: 5
  - action: utter_greet
- story: no steps
- steps: []
""",
    )

    summary = import_rasa_project(project, tmp_path / "out")

    [story] = [
        s
        for s in read_story_files([tmp_path / "out" / "stories.yml"]).stories
        if s.name == "odd steps"
    ]
    assert [type(s).__name__ for s in story.steps] == ["UserStep", "ActionStep"]
    assert warnings_about(summary, "data/odd.yml:5: skipped: a step that is text")
    assert warnings_about(summary, "data/odd.yml:7: skipped: a step with keys wait")
    assert not warnings_about(summary, "metadata")
    assert warnings_about(summary, "data/odd.yml:9: skipped: a story without a list of steps")
    assert warnings_about(summary, "data/odd.yml:10: skipped: a story without a 'story:' name")


def test_end_to_end_steps_are_kept_and_reported(project: Path, tmp_path: Path) -> None:
    write(
        project / "data" / "e2e.yml",
        """\
stories:
- story: end to end
  steps:
  - user: hello there
  - bot: Hi! How can I help?
  - user: "where is [NW-12345](order_id)"
    intent: order_status
  - action: action_check_order_status
""",
    )

    summary = import_rasa_project(project, tmp_path / "out")

    [story] = [
        s
        for s in read_story_files([tmp_path / "out" / "stories.yml"]).stories
        if s.name == "end to end"
    ]
    assert len(story.steps) == 4
    assert warnings_about(summary, "data/e2e.yml:4: end-to-end user text without an intent")
    assert warnings_about(summary, "data/e2e.yml:5: end-to-end bot text")
    assert len(warnings_about(summary, "end-to-end")) == 2


def test_a_rule_frontdesks_reader_refuses_is_left_out_with_its_reason(
    project: Path, tmp_path: Path
) -> None:
    write(
        project / "data" / "refused.yml",
        """\
rules:
- rule: a condition on an intent
  condition:
  - intent: greet
  steps:
  - action: utter_greet
- rule: kept
  steps:
  - intent: deny
  - action: utter_goodbye
""",
    )

    summary = import_rasa_project(project, tmp_path / "out")

    names = [r.name for r in read_story_files([tmp_path / "out" / "rules.yml"]).rules]
    assert "kept" in names and "a condition on an intent" not in names
    [refused] = warnings_about(summary, "not imported: rule 'a condition on an intent'")
    assert refused.startswith("data/refused.yml:2: ")
    assert "a condition can hold only active_loop and slot_was_set" in refused


def test_checkpoint_conditions_are_reported(project: Path, tmp_path: Path) -> None:
    write(
        project / "data" / "checkpoints.yml",
        """\
stories:
- story: continues only when logged in
  steps:
  - checkpoint: greeted
    slot_was_set:
    - logged_in: true
  - intent: order_status
  - action: action_check_order_status
""",
    )

    summary = import_rasa_project(project, tmp_path / "out")

    assert warnings_about(summary, "data/checkpoints.yml:4: checkpoint greeted")


def test_names_the_domain_lacks_are_reported(project: Path, tmp_path: Path) -> None:
    write(
        project / "data" / "unknown.yml",
        """\
stories:
- story: names nobody declared
  steps:
  - intent: ask_refund
  - action: utter_refund
  - action: action_refund
  - action: action_restart
  - intent: mood_great
  - action: return_form
""",
    )

    summary = import_rasa_project(project, tmp_path / "out")

    assert warnings_about(summary, "data/unknown.yml:4: intent ask_refund has no NLU examples")
    assert warnings_about(summary, "data/unknown.yml:5: utter_refund has no response")
    assert warnings_about(summary, "data/unknown.yml:6: custom action action_refund")
    # Rasa's default actions and the domain's forms need no declaration.
    assert not warnings_about(summary, "action_restart")
    assert not warnings_about(summary, "return_form")
