"""Specs for ``data/eval/conversations.yml``, the held-out multi-turn conversations.

The file is the demo bench's measure of task completion, so it must stay a fair one: readable
by the same reader as ``frontdesk test stories``, written apart from the training data (no
customer text is an NLU example), and covering the tasks the demo shop handles. Each
conversation is also held against the real dialogue (the demo's domain, rules, stories,
responses and rasa_sdk actions, run in process) with the story's own intents standing in for
the intent model: with perfect understanding, every conversation must go exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.chat.actions import InProcessActions
from bot.chat.builtin_actions import BUILTIN_ACTIONS
from bot.chat.engine import DialogueEngine
from bot.chat.entities import extract
from bot.chat.execution import Outcome
from bot.chat.nlu import ParseResult
from bot.chat.policies.memoization import MemoizationPolicy
from bot.chat.policies.rules import RulePolicy
from bot.chat.policies.states import StateReader
from bot.chat.responses import Responder
from bot.chat.tracker import ACTION_LISTEN, REQUESTED_SLOT, Tracker, user_uttered
from retrieval.base.domain import Domain
from retrieval.base.stories import (
    ANY_VALUE,
    ActionStep,
    LoopStep,
    PlainStep,
    SlotStep,
    Story,
    UserStep,
    expand,
    read_story_files,
)
from retrieval.models.classifier import Prediction
from retrieval.templates import ResponseTemplates

DATA = Path(__file__).resolve().parents[2] / "data"
CONVERSATIONS = DATA / "eval" / "conversations.yml"
FORMS = ("return_form", "address_form")


def normalised(text: str) -> str:
    """Case, punctuation and spacing do not make a text new."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def nlu_examples() -> dict[str, set[str]]:
    """The training examples of data/nlu.yml, by intent."""
    examples: dict[str, set[str]] = {}
    for block in yaml.safe_load((DATA / "nlu.yml").read_text(encoding="utf-8"))["nlu"]:
        lines = str(block.get("examples", "")).splitlines()
        texts = {normalised(line.strip().removeprefix("- ")) for line in lines if line.strip()}
        examples.setdefault(str(block["intent"]), set()).update(texts - {""})
    return examples


def conversations() -> list[tuple[Story, tuple[PlainStep, ...]]]:
    return expand(read_story_files([CONVERSATIONS]).stories)


def user_steps(steps: Sequence[PlainStep]) -> list[UserStep]:
    return [step for step in steps if isinstance(step, UserStep)]


def turns(steps: Sequence[PlainStep]) -> list[tuple[UserStep, list[str]]]:
    """Each customer message with the actions the story says the bot takes after it."""
    out: list[tuple[UserStep, list[str]]] = []
    for step in steps:
        if isinstance(step, UserStep):
            out.append((step, []))
        elif isinstance(step, ActionStep) and out and step.name != ACTION_LISTEN:
            out[-1][1].append(step.name)
    return out


def slot_expectations(steps: Sequence[PlainStep]) -> dict[str, list[Any]]:
    """The values each slot is set to, in story order (``requested_slot`` is the form's
    business, not the task's)."""
    wanted: dict[str, list[Any]] = {}
    for step in steps:
        if isinstance(step, SlotStep):
            for name, value in step.slots:
                if name != REQUESTED_SLOT:
                    wanted.setdefault(name, []).append(value)
    return wanted


def in_order(expected: Sequence[Any], seen: Sequence[Any]) -> bool:
    """Whether ``expected`` occurs in ``seen`` in order, gaps allowed (ANY_VALUE: anything
    but None)."""
    position = 0
    for value in seen:
        if position == len(expected):
            break
        want = expected[position]
        if (want is ANY_VALUE and value is not None) or value == want:
            position += 1
    return position == len(expected)


# --- The file ---------------------------------------------------------------------------


def test_the_conversations_are_read_by_the_test_story_reader() -> None:
    found = read_story_files([CONVERSATIONS])

    assert found.rules == ()
    assert len(found.stories) >= 20
    assert len({story.name for story in found.stories}) == len(found.stories)


@pytest.mark.parametrize(("story", "steps"), conversations(), ids=lambda s: getattr(s, "name", ""))
def test_every_customer_turn_has_its_text_and_a_known_intent(
    story: Story, steps: tuple[PlainStep, ...]
) -> None:
    known = set(nlu_examples())
    for step in user_steps(steps):
        assert step.text and step.text.strip(), f"{story.where}: line {step.line} has no text"
        assert step.intent in known, f"line {step.line}: intent {step.intent} is not trained"


def test_no_customer_text_is_copied_from_the_training_data() -> None:
    trained = set().union(*nlu_examples().values())
    texts = [step.text or "" for _, steps in conversations() for step in user_steps(steps)]

    copied = [text for text in texts if normalised(text) in trained]

    assert copied == []


def test_the_conversations_cover_the_tasks_of_the_demo_shop() -> None:
    actions = {s.name for _, steps in conversations() for s in steps if isinstance(s, ActionStep)}
    finals = [
        next(s.name for s in reversed(steps) if isinstance(s, ActionStep))
        for _, steps in conversations()
    ]

    assert finals.count("action_submit_return") >= 8
    assert finals.count("action_change_address") >= 3
    assert {"action_order_status", "action_track_shipment", "action_cancel_order"} <= set(finals)
    assert {"action_deactivate_loop", "action_stop_form", "utter_carry_on"} <= actions
    assert finals.count("action_handoff") >= 2
    # Interruptions: a response between two runs of the same form.
    interrupted = [
        story.name
        for story, steps in conversations()
        for _, done in turns(steps)
        if len(done) == 2 and done[0].startswith("utter_") and done[1] in FORMS
    ]
    assert len(interrupted) >= 3
    # Validation failures: an answer refused, so the slot is cleared and asked for again.
    cleared = [
        story.name
        for story, steps in conversations()
        if any(None in values for values in slot_expectations(steps).values())
    ]
    assert len(cleared) >= 4


def test_every_action_in_the_conversations_exists_in_the_demo() -> None:
    domain = Domain.load(DATA / "domain.yml")
    templates = ResponseTemplates.load(DATA / "responses.yml")
    runner = InProcessActions(str(DATA / "actions.py"))
    implicit_forms = {f"{action}_slots" for action in domain.required_slots}
    named = {s.name for _, steps in conversations() for s in steps if isinstance(s, ActionStep)}

    unknown = {
        name
        for name in named
        if not (
            runner.known(name)
            or name in domain.forms
            or name in implicit_forms
            or name in BUILTIN_ACTIONS
            or name == "action_handoff"
            or name in templates
            or name.removeprefix("utter_") in templates
        )
    }

    assert unknown == set()


# --- Held against the real dialogue, with perfect understanding ------------------------------


@pytest.fixture(scope="module")
def demo_engine() -> DialogueEngine:
    """The demo as `frontdesk serve` assembles it from data/, without the models."""
    domain = Domain.load(DATA / "domain.yml")
    files = read_story_files([DATA / "rules.yml", DATA / "stories.yml"])
    reader = StateReader(domain)
    return DialogueEngine(
        domain,
        Responder(ResponseTemplates.load(DATA / "responses.yml")),
        rules=RulePolicy(files.rules, reader),
        stories=MemoizationPolicy(files.stories, reader),
        actions=InProcessActions(str(DATA / "actions.py")),
    )


async def say(engine: DialogueEngine, tracker: Tracker, step: UserStep) -> Outcome:
    """The customer's message, understood as the story says (its intent, for sure)."""
    text = step.text or ""
    intent = step.intent or "nlu_fallback"
    parse = ParseResult(
        text,
        Prediction(intent, 1.0, intent, ((intent, 1.0),)),
        None,
        extract(text, expecting=tracker.slots.get(REQUESTED_SLOT)),
    )
    event = user_uttered(text, parse.to_rasa(), message_id=None, channel="test")
    return await engine.handle(tracker, event, parse)


@pytest.mark.parametrize(("story", "steps"), conversations(), ids=lambda s: getattr(s, "name", ""))
async def test_with_perfect_understanding_each_conversation_goes_as_written(
    demo_engine: DialogueEngine, story: Story, steps: tuple[PlainStep, ...]
) -> None:
    tracker = Tracker("customer", initial_slots=demo_engine.domain.initial_slots())
    for step, expected in turns(steps):
        outcome = await say(demo_engine, tracker, step)

        assert outcome.actions == expected, f"{story.where}: after {step.text!r}"
        for message in outcome.messages:
            assert not re.search(r"\{\w+\}", message.text), message.text
    seen: dict[str, list[Any]] = {}
    for event in tracker.events:
        if event.get("event") == "slot":
            seen.setdefault(str(event["name"]), []).append(event.get("value"))
    for name, values in slot_expectations(steps).items():
        assert in_order(values, seen.get(name, [])), (name, values, seen.get(name))
    forms_left_open = tracker.active_loop_name
    assert forms_left_open is None or any(isinstance(s, LoopStep) for s in steps)
