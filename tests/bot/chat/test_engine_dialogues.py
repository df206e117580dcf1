"""The dialogue engine end to end on small Rasa projects written inline: whole conversations.

Each project is a domain, rules and stories as YAML, and, where a form validates, a real
rasa_sdk ``FormValidationAction`` run in process. The parse results are written by hand (what
the models said), so each test states exactly what the customer meant and checks what the
bot did, as a Rasa 3 server would: forms asking in turn, validation, an interruption answered
by a rule with the form resuming, ``action_deactivate_loop``, ``conversation_start`` rules,
several actions per turn, stories giving an answer its meaning, and ``/restart``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.chat.actions import InProcessActions
from bot.chat.engine import DialogueEngine
from bot.chat.execution import Outcome
from bot.chat.nlu import ParseResult
from bot.chat.policies.memoization import MemoizationPolicy
from bot.chat.policies.rules import RulePolicy
from bot.chat.policies.states import StateReader
from bot.chat.responses import Responder
from bot.chat.tracker import REQUESTED_SLOT, Tracker, user_uttered
from retrieval.base.domain import Domain
from retrieval.base.stories import read_story_file
from retrieval.models.classifier import Prediction
from retrieval.templates import ResponseTemplates
from tests.conftest import REPO

RASA_PROJECTS = REPO.parent / "shared" / "data" / "rasa_projects"

DOMAIN = """
version: "3.1"
intents:
  - greet
  - request_table
  - inform
  - affirm
  - deny
  - stop
  - bot_challenge
  - ask_newsletter
  - ask_refund
  - thankyou
entities: [cuisine, number]
slots:
  cuisine:
    type: text
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: cuisine
  people:
    type: float
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: number
responses:
  utter_greet:
  - text: "Hello!"
  utter_help:
  - text: "I can book you a table."
  utter_welcome:
  - text: "Welcome, nice to meet you!"
  utter_ask_cuisine:
  - text: "Which cuisine?"
  utter_ask_people:
  - text: "For how many people?"
  utter_wrong_cuisine:
  - text: "We do not serve that."
  utter_submit:
  - text: "Booked {cuisine} for {people}."
  utter_iamabot:
  - text: "I am a bot."
  utter_ask_continue:
  - text: "Do you want to continue?"
  utter_offer_newsletter:
  - text: "Shall I sign you up for the newsletter?"
  utter_subscribed:
  - text: "You are subscribed."
  utter_confirm_refund:
  - text: "Shall I refund your last order?"
  utter_refund_started:
  - text: "The refund is on its way."
  utter_noworries:
  - text: "You are welcome."
  utter_restart:
  - text: "Starting over."
actions:
- validate_table_form
forms:
  table_form:
    required_slots: [cuisine, people]
"""

RULES = """
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
  - action: utter_help
- rule: bot challenge
  steps:
  - intent: bot_challenge
  - action: utter_iamabot
- rule: thanks
  steps:
  - intent: thankyou
  - action: utter_noworries
"""

FORM_RULES = """
- rule: activate the table form
  condition:
  - active_loop: null
  steps:
  - intent: request_table
  - action: table_form
  - active_loop: table_form
- rule: submit the table form
  condition:
  - active_loop: table_form
  steps:
  - action: table_form
  - active_loop: null
  - action: utter_submit
"""

RULES += FORM_RULES

STORIES = """
stories:
- story: stop the form and leave it
  steps:
  - intent: request_table
  - action: table_form
  - active_loop: table_form
  - intent: stop
  - action: utter_ask_continue
  - intent: deny
  - action: action_deactivate_loop
  - active_loop: null
- story: newsletter
  steps:
  - intent: ask_newsletter
  - action: utter_offer_newsletter
  - intent: affirm
  - action: utter_subscribed
- story: refund
  steps:
  - intent: ask_refund
  - action: utter_confirm_refund
  - intent: affirm
  - action: utter_refund_started
"""

ACTIONS = """
from rasa_sdk.forms import FormValidationAction


class ValidateTableForm(FormValidationAction):
    def name(self):
        return "validate_table_form"

    def validate_cuisine(self, value, dispatcher, tracker, domain):
        if str(value).lower() in {"thai", "greek"}:
            return {"cuisine": str(value).lower()}
        dispatcher.utter_message(response="utter_wrong_cuisine")
        return {"cuisine": None}
"""


def parsed(text: str, intent: str, **entities: Any) -> ParseResult:
    """What the models said about ``text``: this intent, for sure, and these entities."""
    found = [
        {"entity": name, "value": value, "start": 0, "end": len(text), "confidence_entity": 1.0}
        for name, value in entities.items()
    ]
    return ParseResult(text, Prediction(intent, 1.0, intent, ((intent, 1.0),)), None, found)


@dataclass
class Project:
    domain: Domain
    rules_path: Path
    stories_path: Path
    actions: InProcessActions


def write_project(root: Path, *, rules: str = RULES, stories: str = STORIES) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    (root / "rules.yml").write_text(rules, encoding="utf-8")
    (root / "stories.yml").write_text(stories, encoding="utf-8")
    (root / "table_actions.py").write_text(ACTIONS, encoding="utf-8")
    return Project(
        Domain.load(root / "domain.yml"),
        root / "rules.yml",
        root / "stories.yml",
        InProcessActions(str(root / "table_actions.py")),
    )


def engine_of(project: Project) -> DialogueEngine:
    reader = StateReader(project.domain)
    return DialogueEngine(
        project.domain,
        Responder(ResponseTemplates.from_mapping(dict(project.domain.responses))),
        rules=RulePolicy(read_story_file(project.rules_path).rules, reader),
        stories=MemoizationPolicy(read_story_file(project.stories_path).stories, reader),
        actions=project.actions,
    )


class Chat:
    """One conversation with an engine, turn by turn."""

    def __init__(self, engine: DialogueEngine) -> None:
        self.engine = engine
        self.tracker = Tracker("customer", initial_slots=engine.domain.initial_slots())

    async def say(self, text: str, intent: str, **entities: Any) -> Outcome:
        parse = parsed(text, intent, **entities)
        event = user_uttered(text, parse.to_rasa(), message_id=None, channel="test")
        return await self.engine.handle(self.tracker, event, parse)

    @property
    def loop(self) -> str | None:
        return self.tracker.active_loop_name

    @property
    def requested(self) -> Any:
        return self.tracker.slots.get(REQUESTED_SLOT)


def texts(outcome: Outcome) -> list[str]:
    return [m.text for m in outcome.messages]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return write_project(tmp_path / "project")


@pytest.fixture
def chat(project: Project) -> Chat:
    return Chat(engine_of(project))


# Several actions in one turn ---------------------------------------------------------------


async def test_a_rule_with_two_actions_runs_both_then_listens(chat: Chat) -> None:
    reply = await chat.say("hi", "greet")

    assert reply.actions == ["utter_greet", "utter_help"]
    assert texts(reply) == ["Hello!", "I can book you a table."]
    assert reply.route == "rule"
    assert reply.answer_source == "rule:greet"
    assert chat.tracker.state.latest_action_name == "action_listen"


# A form asking for its slots ---------------------------------------------------------------


async def test_a_form_asks_for_its_slots_in_turn_and_the_submit_rule_ends_it(chat: Chat) -> None:
    first = await chat.say("a table please", "request_table")
    assert first.actions == ["table_form"]
    assert texts(first) == ["Which cuisine?"]
    assert (chat.loop, chat.requested) == ("table_form", "cuisine")

    second = await chat.say("thai", "inform", cuisine="Thai")
    assert texts(second) == ["For how many people?"]
    assert chat.tracker.slots["cuisine"] == "thai"  # as validate_cuisine returned it
    assert (chat.loop, chat.requested) == ("table_form", "people")

    third = await chat.say("four of us", "inform", number=4)
    assert third.actions == ["table_form", "utter_submit"]
    assert texts(third) == ["Booked thai for 4."]
    assert (chat.loop, chat.requested) == (None, None)
    assert chat.tracker.state.latest_action_name == "action_listen"


async def test_slots_given_with_the_request_are_validated_and_not_asked_for(chat: Chat) -> None:
    reply = await chat.say("a greek table for 2", "request_table", cuisine="Greek", number=2)

    assert reply.actions == ["table_form", "utter_submit"]
    assert texts(reply) == ["Booked greek for 2."]
    assert chat.loop is None


async def test_validate_form_rejects_a_value_and_the_form_asks_again(chat: Chat) -> None:
    await chat.say("a table please", "request_table")

    reply = await chat.say("mexican", "inform", cuisine="mexican")

    assert texts(reply) == ["We do not serve that.", "Which cuisine?"]
    assert chat.tracker.slots.get("cuisine") is None
    assert (chat.loop, chat.requested) == ("table_form", "cuisine")
    assert chat.tracker.state.latest_action_name == "action_listen"


async def test_an_invalid_value_given_with_the_request_is_refused_at_activation(
    chat: Chat,
) -> None:
    reply = await chat.say("a mexican table", "request_table", cuisine="mexican")

    assert texts(reply) == ["We do not serve that.", "Which cuisine?"]
    assert (chat.loop, chat.requested) == ("table_form", "cuisine")


async def test_an_interruption_is_answered_by_its_rule_and_the_form_asks_again(
    chat: Chat,
) -> None:
    await chat.say("a table please", "request_table")
    await chat.say("thai", "inform", cuisine="thai")

    reply = await chat.say("are you a bot?", "bot_challenge")

    assert reply.actions == ["utter_iamabot", "table_form"]
    assert texts(reply) == ["I am a bot.", "For how many people?"]
    assert (chat.loop, chat.requested) == ("table_form", "people")
    kinds = [e["event"] for e in reply.events]
    assert "action_execution_rejected" in kinds
    # The form carries on where it was.
    done = await chat.say("two", "inform", number=2)
    assert texts(done) == ["Booked thai for 2."]


async def test_deny_after_stopping_deactivates_the_form_as_the_story_says(chat: Chat) -> None:
    await chat.say("a table please", "request_table")

    stopped = await chat.say("stop", "stop")
    assert stopped.actions == ["utter_ask_continue"]
    assert texts(stopped) == ["Do you want to continue?"]
    assert chat.loop == "table_form"

    left = await chat.say("no", "deny")
    assert left.actions == ["action_deactivate_loop"]
    assert left.route == "story"
    assert (chat.loop, chat.requested) == (None, None)
    assert chat.tracker.state.latest_action_name == "action_listen"
    # The form is gone: a greeting is just a greeting.
    again = await chat.say("hi", "greet")
    assert again.actions == ["utter_greet", "utter_help"]


# How a form asks, and what its validation action may decide --------------------------------


def with_actions(project: Project, root: Path, body: str) -> Project:
    module = root / "more_actions.py"
    module.write_text(ACTIONS + body, encoding="utf-8")
    project.actions = InProcessActions(str(module))
    return project


ASK_ACTIONS = """

from rasa_sdk import Action


class AskTableFormPeople(Action):
    def name(self):
        return "action_ask_table_form_people"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="How many seats, " + tracker.get_slot("cuisine") + " fan?")
        return []


class AskCuisine(Action):
    def name(self):
        return "action_ask_cuisine"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="Thai or greek?")
        return []
"""


async def test_a_forms_own_ask_action_asks_for_its_slot(project: Project, tmp_path: Path) -> None:
    chat = Chat(engine_of(with_actions(project, tmp_path, ASK_ACTIONS)))
    await chat.say("a table please", "request_table")

    reply = await chat.say("thai", "inform", cuisine="thai")

    assert texts(reply) == ["How many seats, thai fan?"]


async def test_an_ask_action_wins_over_an_ask_response(project: Project, tmp_path: Path) -> None:
    chat = Chat(engine_of(with_actions(project, tmp_path, ASK_ACTIONS)))

    reply = await chat.say("a table please", "request_table")

    assert texts(reply) == ["Thai or greek?"]


async def test_a_validation_action_may_choose_the_next_slot(
    project: Project, tmp_path: Path
) -> None:
    reordered = """

class PeopleFirst(ValidateTableForm):
    def name(self):
        return "validate_table_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain):
        return ["people", "cuisine"]
"""
    module = tmp_path / "people_first.py"
    module.write_text(ACTIONS + reordered, encoding="utf-8")
    project.actions = InProcessActions(str(module))
    chat = Chat(engine_of(project))

    reply = await chat.say("a table please", "request_table")

    assert texts(reply) == ["For how many people?"]
    assert chat.requested == "people"


async def test_a_validation_action_may_end_the_form(project: Project, tmp_path: Path) -> None:
    ending = """

class GiveUp(FormValidationAction):
    def name(self):
        return "validate_table_form"

    def validate_cuisine(self, value, dispatcher, tracker, domain):
        return {"cuisine": None, "requested_slot": None}
"""
    module = tmp_path / "give_up.py"
    module.write_text("from rasa_sdk.forms import FormValidationAction\n" + ending)
    project.actions = InProcessActions(str(module))
    chat = Chat(engine_of(project))
    await chat.say("a table please", "request_table")

    reply = await chat.say("mexican", "inform", cuisine="mexican")

    assert chat.loop is None
    assert chat.requested is None
    assert "Which cuisine?" not in texts(reply)


# Rules that do not wait --------------------------------------------------------------------


GREET_STORY = """
stories:
- story: greet and offer help
  steps:
  - intent: greet
  - action: utter_greet
  - action: utter_help
"""


@pytest.mark.parametrize(
    ("wait", "actions"),
    [("true", ["utter_greet"]), ("false", ["utter_greet", "utter_help"])],
)
async def test_a_rule_that_does_not_wait_for_the_user_lets_the_story_go_on(
    tmp_path: Path, wait: str, actions: list[str]
) -> None:
    rules = f"""
rules:
- rule: greet
  wait_for_user_input: {wait}
  steps:
  - intent: greet
  - action: utter_greet
"""
    chat = Chat(engine_of(write_project(tmp_path / "p", rules=rules, stories=GREET_STORY)))

    reply = await chat.say("hi", "greet")

    assert reply.actions == actions
    assert chat.tracker.state.latest_action_name == "action_listen"


# Sessions and misunderstandings ------------------------------------------------------------


async def test_a_session_that_expired_starts_again_with_the_slots_carried_over(
    tmp_path: Path,
) -> None:
    chat = Chat(engine_of(write_project(tmp_path / "p", rules=WELCOME_RULES + FORM_RULES)))
    await chat.say("hi", "greet")
    await chat.say("a table please", "request_table")
    await chat.say("thai", "inform", cuisine="thai")

    parse = parsed("hi", "greet")
    event = user_uttered("hi", parse.to_rasa(), message_id=None, channel="test")
    event["timestamp"] += 61 * 60  # the domain's sessions last 60 minutes
    reply = await chat.engine.handle(chat.tracker, event, parse)

    assert reply.events[0]["event"] == "session_started"
    assert reply.actions == ["utter_welcome"]
    assert chat.tracker.slots["cuisine"] == "thai"
    assert chat.tracker.slots.get(REQUESTED_SLOT) is None
    assert chat.loop is None


async def test_a_misunderstood_message_does_not_derail_the_story(chat: Chat) -> None:
    await chat.say("I want my money back", "ask_refund")
    fallback = await chat.say("blorp", "nlu_fallback")
    assert fallback.actions == ["action_default_fallback"]

    reply = await chat.say("yes", "affirm")

    assert reply.actions == ["utter_refund_started"]


# Stories give an answer its meaning --------------------------------------------------------


async def test_yes_means_what_the_question_before_it_asked(project: Project) -> None:
    refund = Chat(engine_of(project))
    asked = await refund.say("I want my money back", "ask_refund")
    assert texts(asked) == ["Shall I refund your last order?"]
    assert texts(await refund.say("yes", "affirm")) == ["The refund is on its way."]

    newsletter = Chat(engine_of(project))
    await newsletter.say("hi", "greet")
    await newsletter.say("any newsletter?", "ask_newsletter")
    reply = await newsletter.say("yes", "affirm")
    assert reply.actions == ["utter_subscribed"]
    assert reply.route == "story"
    assert reply.answer_source == "story:newsletter"


# Rules for the start of a conversation -----------------------------------------------------


WELCOME_RULES = """
rules:
- rule: welcome a new conversation
  conversation_start: true
  steps:
  - intent: greet
  - action: utter_welcome
"""


async def test_rule_with_conversation_start_applies_only_to_the_first_message(
    tmp_path: Path,
) -> None:
    chat = Chat(engine_of(write_project(tmp_path / "p", rules=WELCOME_RULES)))

    first = await chat.say("hi", "greet")
    assert first.actions == ["utter_welcome"]
    assert first.answer_source == "rule:welcome a new conversation"

    second = await chat.say("hi again", "greet")
    assert "utter_welcome" not in second.actions
    assert texts(second) == ["Hello!"]


async def test_restart_forgets_the_conversation_and_it_starts_anew(tmp_path: Path) -> None:
    chat = Chat(engine_of(write_project(tmp_path / "p", rules=WELCOME_RULES + FORM_RULES)))
    assert (await chat.say("hi", "greet")).actions == ["utter_welcome"]
    await chat.say("a table please", "request_table")
    await chat.say("thai", "inform", cuisine="thai")
    assert (chat.loop, chat.tracker.slots["cuisine"]) == ("table_form", "thai")

    restarted = await chat.say("/restart", "restart")

    assert restarted.actions[-1] == "action_restart"
    assert texts(restarted) == ["Starting over."]
    assert chat.tracker.applied_events() == []
    assert chat.loop is None
    assert chat.tracker.slots.get("cuisine") is None
    # The next message opens a new session: it is a conversation start again.
    welcome = await chat.say("hello", "greet")
    assert welcome.actions == ["utter_welcome"]
    assert [e["event"] for e in welcome.events][:2] == ["session_started", "action"]


# Formbot, unchanged, with its own validation actions ---------------------------------------


@pytest.fixture
def formbot() -> Path:
    path = RASA_PROJECTS / "formbot"
    if not path.is_dir():
        pytest.skip(f"the Rasa example projects are not at {RASA_PROJECTS}")
    return path


async def test_formbot_books_a_table_with_an_interruption_on_the_way(formbot: Path) -> None:
    domain = Domain.load(formbot / "domain.yml")
    reader = StateReader(domain)
    found = read_story_file(formbot / "data" / "rules.yml")
    engine = DialogueEngine(
        domain,
        Responder(ResponseTemplates.from_mapping(dict(domain.responses))),
        rules=RulePolicy(found.rules, reader),
        stories=MemoizationPolicy(
            read_story_file(formbot / "data" / "stories.yml").stories, reader
        ),
        actions=InProcessActions(str(formbot / "actions" / "actions.py")),
    )
    chat = Chat(engine)

    assert texts(await chat.say("hi", "greet")) == [
        "Hello! I am restaurant search assistant! How can I help?"
    ]
    assert texts(await chat.say("a restaurant", "request_restaurant")) == ["What cuisine?"]
    wrong = await chat.say("afghan", "inform", cuisine="afghan")
    assert texts(wrong) == [
        "Cuisine type is not in the database, please try again",
        "What cuisine?",
    ]
    assert texts(await chat.say("italian", "inform", cuisine="italian")) == ["How many people?"]
    chitchat = await chat.say("what is that?", "chitchat")
    assert texts(chitchat) == ["chitchat", "How many people?"]
    assert texts(await chat.say("2", "inform", number=2)) == ["Do you want to sit outside?"]
    assert texts(await chat.say("yes", "affirm")) == ["Please provide additional preferences"]
    assert texts(await chat.say("no", "deny")) == [
        "Please give your feedback on your experience so far"
    ]
    done = await chat.say("great", "inform", feedback="great")

    assert done.actions == ["restaurant_form", "utter_submit", "utter_slots_values"]
    assert texts(done)[0] == "All done!"
    assert texts(done)[1].splitlines()[1:] == [
        " - cuisine: italian",
        " - num_people: 2",
        " - outdoor_seating: True",
        " - preferences: no additional preferences",
        " - feedback: great",
    ]
    assert chat.loop is None
