"""bot.chat.story_test: test stories held against the dialogue, as ``rasa test core`` does.

The reference is Rasa 3's ``rasa/core/test.py``: teacher forcing (each predicted action is
compared, then the story's own action is recorded, and the story's slots and active loops
are applied verbatim; no action runs), the emulated rejection of a form the story does not
expect, intent checks when the customer's text is read by a model, and the report:
conversation and action counts, and ``failed_test_stories.yml`` with ``# predicted:``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.chat.actions import InProcessActions, RemoteActions
from bot.chat.engine import DialogueEngine
from bot.chat.nlu import ParseResult
from bot.chat.policies.memoization import MemoizationPolicy
from bot.chat.policies.rules import RulePolicy
from bot.chat.policies.states import StateReader
from bot.chat.responses import Responder
from bot.chat.story_test import Check, Parse, Report, StoryResult, hold_stories
from retrieval.base.domain import Domain
from retrieval.base.stories import Story, read_story_file, read_story_files
from retrieval.models.classifier import Prediction
from retrieval.templates import ResponseTemplates
from tests.conftest import REPO

RASA_PROJECTS = REPO.parent / "shared" / "data" / "rasa_projects"

DOMAIN = """
intents: [greet, goodbye, request_table, inform, chitchat, thankyou, affirm]
entities: [cuisine]
slots:
  cuisine:
    type: text
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: cuisine
responses:
  utter_greet:
  - text: Hello!
  utter_goodbye:
  - text: Bye!
  utter_ask_cuisine:
  - text: Which cuisine?
  utter_chitchat:
  - text: Just chatting.
  utter_submit:
  - text: Booked.
  utter_noworries:
  - text: You are welcome.
actions: [action_log_affirm]
forms:
  table_form:
    required_slots: [cuisine]
"""

RULES = """
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: goodbye
  steps:
  - intent: goodbye
  - action: utter_goodbye
- rule: chitchat
  steps:
  - intent: chitchat
  - action: utter_chitchat
- rule: thanks
  steps:
  - intent: thankyou
  - action: utter_noworries
- rule: affirm is logged
  steps:
  - intent: affirm
  - action: action_log_affirm
- rule: activate the form
  steps:
  - intent: request_table
  - action: table_form
  - active_loop: table_form
- rule: submit the form
  condition:
  - active_loop: table_form
  steps:
  - action: table_form
  - active_loop: null
  - action: utter_submit
"""

ACTIONS = """
from pathlib import Path

from rasa_sdk import Action


class LogAffirm(Action):
    def name(self):
        return "action_log_affirm"

    def run(self, dispatcher, tracker, domain):
        Path(__file__).with_name("ran.txt").write_text("ran")
        return []
"""


@pytest.fixture
def engine(tmp_path: Path) -> DialogueEngine:
    (tmp_path / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    (tmp_path / "rules.yml").write_text(RULES, encoding="utf-8")
    (tmp_path / "story_actions.py").write_text(ACTIONS, encoding="utf-8")
    domain = Domain.load(tmp_path / "domain.yml")
    reader = StateReader(domain)
    return DialogueEngine(
        domain,
        Responder(ResponseTemplates.from_mapping(dict(domain.responses))),
        rules=RulePolicy(read_story_file(tmp_path / "rules.yml").rules, reader),
        stories=MemoizationPolicy((), reader),
        actions=InProcessActions(str(tmp_path / "story_actions.py")),
    )


def stories(tmp_path: Path, text: str) -> list[Story]:
    path = tmp_path / "test_stories.yml"
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return list(read_story_file(path).stories)


def actions_of(result: StoryResult) -> list[Check]:
    """The compared actions of a held story (its customer turns are recorded too)."""
    return [c for c in result.checks if c.kind == "action"]


HAPPY = """
stories:
- story: greet and leave
  steps:
  - intent: greet
  - action: utter_greet
  - intent: goodbye
  - action: utter_goodbye
"""

WRONG_THEN_RIGHT = """
stories:
- story: wrong answer to greet
  steps:
  - intent: greet
  - action: utter_goodbye
  - intent: thankyou
  - action: utter_noworries
"""


async def test_a_story_the_dialogue_follows_passes_with_every_action_checked(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    report = await hold_stories(engine, stories(tmp_path, HAPPY), None)

    (result,) = report.results
    assert result.passed
    assert [(c.expected, c.predicted) for c in actions_of(result)] == [
        ("utter_greet", "utter_greet"),
        ("action_listen", "action_listen"),
        ("utter_goodbye", "utter_goodbye"),
        ("action_listen", "action_listen"),
    ]
    assert result.first_divergence is None


async def test_a_wrong_action_fails_the_story_and_the_storys_action_is_kept(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    report = await hold_stories(engine, stories(tmp_path, WRONG_THEN_RIGHT), None)

    (result,) = report.results
    assert not result.passed
    wrong = result.first_divergence
    assert wrong is not None
    assert (wrong.kind, wrong.expected, wrong.predicted, wrong.line) == (
        "action",
        "utter_goodbye",
        "utter_greet",
        5,
    )
    # Teacher forcing: after the mistake the story's own action counts, so the rest is
    # still compared (and right).
    assert [c.ok for c in actions_of(result)] == [False, True, True, True]


async def test_the_summary_counts_stories_and_actions(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    both = stories(tmp_path, HAPPY) + stories(tmp_path, WRONG_THEN_RIGHT)

    summary = (await hold_stories(engine, both, None)).summary()

    assert {k: summary[k] for k in summary if k != "per_action"} == {
        "stories": 2,
        "passed": 1,
        "failed": 1,
        "accuracy": 0.5,
        "actions": 8,
        "actions_correct": 7,
        "intents": 0,
        "intents_correct": 0,
    }
    per_action = summary["per_action"]
    assert per_action["utter_goodbye"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": 0.6667,
        "support": 2,
    }
    assert per_action["utter_greet"]["support"] == 1
    assert per_action["utter_greet"]["precision"] == 0.5
    assert per_action["action_listen"]["f1"] == 1.0


async def test_an_empty_report_summarises_to_nothing() -> None:
    summary = Report([]).summary()

    assert (summary["stories"], summary["accuracy"], summary["per_action"]) == (0, 0.0, {})


async def test_the_failed_stories_file_marks_each_wrong_step_with_the_prediction(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    both = stories(tmp_path, HAPPY) + stories(tmp_path, WRONG_THEN_RIGHT)
    report = await hold_stories(engine, both, None)

    text = report.failed_stories_yaml()

    path = tmp_path / "test_stories.yml"
    assert f"- story: wrong answer to greet ({path})" in text
    assert "greet and leave" not in text
    assert "  - action: utter_goodbye  # predicted: utter_greet" in text
    assert "  - action: utter_noworries\n" in text
    # Listens are written only where they were wrong.
    assert "action_listen" not in text
    data = yaml.safe_load(text)
    assert data["version"] == "3.1"
    assert [s["story"] for s in data["stories"]] == [f"wrong answer to greet ({path})"]


async def test_with_nothing_failed_the_file_says_so(engine: DialogueEngine, tmp_path: Path) -> None:
    report = await hold_stories(engine, stories(tmp_path, HAPPY), None)

    assert report.failed_stories_yaml() == "# None of the test stories failed - all good!\n"


async def test_the_failed_stories_file_keeps_the_customer_turns(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    report = await hold_stories(engine, stories(tmp_path, WRONG_THEN_RIGHT), None)

    story = yaml.safe_load(report.failed_stories_yaml())["stories"][0]

    assert [s.get("intent") for s in story["steps"] if "intent" in s] == ["greet", "thankyou"]


async def test_story_slots_and_loops_are_applied_as_written_without_running_the_form(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    held = stories(
        tmp_path,
        """
stories:
- story: the form ends without a question, as the story says
  steps:
  - intent: request_table
  - action: table_form
  - active_loop: table_form
  - slot_was_set:
    - cuisine: thai
  - active_loop: null
  - action: utter_submit
  - intent: thankyou
  - action: utter_noworries
""",
    )

    (result,) = (await hold_stories(engine, held, None)).results

    assert result.passed, result.first_divergence


async def test_a_form_the_story_does_not_expect_is_rejected_and_the_next_guess_compared(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    held = stories(
        tmp_path,
        """
stories:
- story: chitchat inside the form
  steps:
  - intent: request_table
  - action: table_form
  - active_loop: table_form
  - intent: chitchat
  - action: utter_chitchat
  - action: table_form
  - active_loop: null
  - action: utter_submit
""",
    )

    (result,) = (await hold_stories(engine, held, None)).results

    assert result.passed, result.first_divergence
    assert [c.expected for c in actions_of(result)] == [
        "table_form",
        "action_listen",
        "utter_chitchat",
        "table_form",
        "utter_submit",
        "action_listen",
    ]


async def test_no_action_runs_while_stories_are_held(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    held = stories(
        tmp_path,
        """
stories:
- story: affirm
  steps:
  - intent: affirm
  - action: action_log_affirm
""",
    )

    (result,) = (await hold_stories(engine, held, None)).results

    assert result.passed
    assert not (tmp_path / "ran.txt").exists()


async def test_a_rule_held_as_a_story_starts_where_its_condition_holds(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    (tmp_path / "held_rules.yml").write_text(RULES, encoding="utf-8")
    submit = [r for r in read_story_file(tmp_path / "held_rules.yml").rules if r.condition]

    (result,) = (await hold_stories(engine, submit, None)).results

    assert result.story.name == "submit the form"
    assert result.passed, result.first_divergence
    assert [c.expected for c in actions_of(result)] == [
        "table_form",
        "utter_submit",
        "action_listen",
    ]


async def test_each_alternative_of_an_or_is_held_as_its_own_story(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    held = stories(
        tmp_path,
        """
stories:
- story: either greeting
  steps:
  - or:
    - intent: greet
    - intent: goodbye
  - action: utter_greet
""",
    )

    report = await hold_stories(engine, held, None)

    assert [r.passed for r in report.results] == [True, False]
    wrong = report.results[1].first_divergence
    assert wrong is not None
    assert (wrong.expected, wrong.predicted) == ("utter_greet", "utter_goodbye")


def reads_everything_as(intent: str, text_to_intent: dict[str, str]) -> Parse:
    """A parse function that reads the listed texts as given and any other as ``intent``."""

    async def parse(text: str) -> ParseResult:
        label = text_to_intent.get(text, intent)
        return ParseResult(text, Prediction(label, 0.9, label, ((label, 0.9),)), None, [])

    return parse


TYPED = """
stories:
- story: typed
  steps:
  - user: |
      hi there
    intent: greet
  - action: utter_greet
  - user: |
      see you
    intent: goodbye
  - action: utter_goodbye
"""


async def test_with_a_parse_function_each_typed_turns_intent_is_checked(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    parse = reads_everything_as("goodbye", {"hi there": "greet"})

    report = await hold_stories(engine, stories(tmp_path, TYPED), parse)

    (result,) = report.results
    assert result.passed
    intents = [(c.expected, c.predicted, c.text) for c in result.checks if c.kind == "intent"]
    assert intents == [("greet", "greet", "hi there"), ("goodbye", "goodbye", "see you")]
    summary = report.summary()
    assert (summary["intents"], summary["intents_correct"]) == (2, 2)


async def test_a_misread_intent_fails_the_story_but_the_dialogue_follows_the_story(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    parse = reads_everything_as("goodbye", {})

    report = await hold_stories(engine, stories(tmp_path, TYPED), parse)

    (result,) = report.results
    assert not result.passed
    wrong = result.first_divergence
    assert wrong is not None
    assert (wrong.kind, wrong.expected, wrong.predicted, wrong.text) == (
        "intent",
        "greet",
        "goodbye",
        "hi there",
    )
    # The actions were predicted from the story's intent, not the misread one.
    assert all(c.ok for c in result.checks if c.kind == "action")
    text = report.failed_stories_yaml()
    assert "  - intent: greet  # predicted: goodbye" in text
    assert "hi there" in text


async def test_without_a_parse_function_no_intent_is_checked(
    engine: DialogueEngine, tmp_path: Path
) -> None:
    report = await hold_stories(engine, stories(tmp_path, TYPED), None)

    assert not [c for r in report.results for c in r.checks if c.kind == "intent"]
    assert report.summary()["intents"] == 0


# The Rasa example projects, unchanged ------------------------------------------------------


def project_engine(root: Path) -> tuple[DialogueEngine, list[Story], list[Story]]:
    domain = Domain.load(root / "domain.yml")
    found = read_story_files([root / "data"])
    reader = StateReader(domain)
    engine = DialogueEngine(
        domain,
        Responder(ResponseTemplates.from_mapping(dict(domain.responses))),
        rules=RulePolicy(found.rules, reader),
        stories=MemoizationPolicy(found.stories, reader),
        # Nothing listens there: holding stories must not call any action.
        actions=RemoteActions("http://127.0.0.1:9/webhook"),
    )
    return engine, list(found.stories), list(found.rules)


@pytest.fixture
def rasa_projects() -> Path:
    if not RASA_PROJECTS.is_dir():
        pytest.skip(f"the Rasa example projects are not at {RASA_PROJECTS}")
    return RASA_PROJECTS


async def test_formbot_passes_its_own_test_stories(rasa_projects: Path) -> None:
    root = rasa_projects / "formbot"
    engine, _, _ = project_engine(root)
    held = read_story_file(root / "tests" / "test_stories.yml").stories

    report = await hold_stories(engine, held, None)

    failed = [(r.story.name, r.first_divergence) for r in report.results if not r.passed]
    assert failed == []
    assert report.summary()["stories"] == 3
    assert report.summary()["actions"] == 29


async def test_moodbot_holds_its_stories_and_rules(rasa_projects: Path) -> None:
    engine, story_list, rule_list = project_engine(rasa_projects / "moodbot")
    assert engine.stories.contradictions == []
    assert engine.rules.conflicts() == []

    report = await hold_stories(engine, story_list + rule_list, None)

    failed = [(r.story.name, r.first_divergence) for r in report.results if not r.passed]
    assert failed == []
    assert report.summary()["stories"] == 5
