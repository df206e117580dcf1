"""Specs for the demo's ``rules.yml`` and ``stories.yml``: consistent, complete, and confined
to what a single turn cannot do.

The rules run the two forms (start, submit, interruptions, stopping, a person taking over) and
give "yes" and "no" their meaning after a complaint; the stories are the forms' happy paths.
Everything else is answered as before the forms existed, by the intent's own action or
response, so a first message of any other intent must get the very same actions with or
without them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.chat.actions import InProcessActions
from bot.chat.builtin_actions import BUILTIN_ACTIONS
from bot.chat.engine import DialogueEngine
from bot.chat.entities import extract
from bot.chat.nlu import ParseResult
from bot.chat.policies.memoization import MemoizationPolicy
from bot.chat.policies.rules import RulePolicy
from bot.chat.policies.states import StateReader
from bot.chat.responses import Responder
from bot.chat.tracker import Tracker, user_uttered
from retrieval.base.domain import Domain
from retrieval.base.stories import ActionStep, StoryFiles, read_story_files
from retrieval.models.classifier import Prediction
from retrieval.templates import ResponseTemplates

DATA = Path(__file__).resolve().parents[2] / "data"
FORM_STARTERS = {"return_item": "return_form", "change_address": "address_form"}


def dialogue_files() -> StoryFiles:
    return read_story_files([DATA / "rules.yml", DATA / "stories.yml"])


def engine(files: StoryFiles) -> DialogueEngine:
    domain = Domain.load(DATA / "domain.yml")
    reader = StateReader(domain)
    return DialogueEngine(
        domain,
        Responder(ResponseTemplates.load(DATA / "responses.yml")),
        rules=RulePolicy(files.rules, reader),
        stories=MemoizationPolicy(files.stories, reader),
        actions=InProcessActions(str(DATA / "actions.py")),
    )


def trained_intents() -> list[str]:
    blocks = yaml.safe_load((DATA / "nlu.yml").read_text(encoding="utf-8"))["nlu"]
    return [str(b["intent"]) for b in blocks if b["intent"] != "out_of_scope"]


async def first_message(bot: DialogueEngine, intent: str) -> list[str]:
    text = "NW-10004" if intent == "inform" else f"a message about {intent}"
    parse = ParseResult(
        text, Prediction(intent, 1.0, intent, ((intent, 1.0),)), None, extract(text)
    )
    event = user_uttered(text, parse.to_rasa(), message_id=None, channel="test")
    return (await bot.handle(Tracker("customer"), event, parse)).actions


def test_the_demo_reads_both_files_and_they_hold_no_contradiction() -> None:
    files = dialogue_files()
    reader = StateReader(Domain.load(DATA / "domain.yml"))

    assert len(files.files) == 2
    assert RulePolicy(files.rules, reader).conflicts() == []
    assert MemoizationPolicy(files.stories, reader).contradictions == []


def test_every_action_the_rules_and_stories_name_exists() -> None:
    domain = Domain.load(DATA / "domain.yml")
    templates = ResponseTemplates.load(DATA / "responses.yml")
    runner = InProcessActions(str(DATA / "actions.py"))
    files = dialogue_files()
    named = {
        step.name
        for story in (*files.rules, *files.stories)
        for step in story.steps
        if isinstance(step, ActionStep)
    }

    unknown = {
        name
        for name in named
        if not (
            runner.known(name)
            or name in domain.forms
            or name in BUILTIN_ACTIONS
            or name == "action_handoff"
            or name in templates
            or name.removeprefix("utter_") in templates
        )
    }

    assert unknown == set()
    assert set(domain.actions) <= {n for n in domain.actions if runner.known(n)}


@pytest.mark.parametrize("intent", trained_intents())
async def test_outside_a_form_a_first_message_is_answered_as_it_was_before_the_forms(
    intent: str,
) -> None:
    with_dialogue = await first_message(engine(dialogue_files()), intent)
    single_turn = await first_message(engine(StoryFiles()), intent)

    if intent in FORM_STARTERS:
        assert with_dialogue == [FORM_STARTERS[intent]]
    else:
        assert with_dialogue == single_turn


@pytest.mark.parametrize(
    ("answer", "then"), [("affirm", ["action_handoff"]), ("deny", ["utter_complaint_noted"])]
)
async def test_yes_or_no_after_a_complaint_answers_its_offer_of_a_person(
    answer: str, then: list[str]
) -> None:
    bot = engine(dialogue_files())
    tracker = Tracker("customer")
    for intent in ("complaint", answer):
        parse = ParseResult(intent, Prediction(intent, 1.0, intent, ((intent, 1.0),)), None, [])
        event = user_uttered(intent, parse.to_rasa(), message_id=None, channel="test")
        outcome = await bot.handle(tracker, event, parse)

    assert outcome.actions == then
