"""The dialogue engine with real parts: the demo domain and responses, real rasa_sdk actions.

The parse results are built by hand (a ParseResult is data, not a component), so each test
can state exactly what the models said and check what the engine does with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.chat.actions import InProcessActions
from bot.chat.engine import DialogueEngine
from bot.chat.entities import extract
from bot.chat.execution import Outcome
from bot.chat.nlu import ParseResult
from bot.chat.policies.memoization import MemoizationPolicy
from bot.chat.policies.rules import RulePolicy
from bot.chat.policies.states import StateReader
from bot.chat.responses import Responder
from bot.chat.tracker import REQUESTED_SLOT, Tracker, slot_set, user_uttered
from retrieval.base.domain import Domain
from retrieval.base.labels import FALLBACK_INTENT
from retrieval.base.stories import Story
from retrieval.models.classifier import Prediction
from retrieval.templates import ResponseTemplates
from tests.conftest import REPO

DATA = REPO / "data"


def parsed(
    text: str, intent: str, confidence: float = 0.95, expecting: str | None = None
) -> ParseResult:
    label = intent if intent != "out_of_scope" else FALLBACK_INTENT
    return ParseResult(
        text=text,
        intent=Prediction(label, confidence, intent, ((intent, confidence),)),
        sentiment=None,
        entities=extract(text, expecting=expecting),
    )


def engine_for(
    domain: Domain,
    actions: InProcessActions | None,
    *,
    rules: Sequence[Story] = (),
    stories: Sequence[Story] = (),
) -> DialogueEngine:
    reader = StateReader(domain)
    return DialogueEngine(
        domain,
        Responder(ResponseTemplates.load(DATA / "responses.yml")),
        rules=RulePolicy(rules, reader),
        stories=MemoizationPolicy(stories, reader),
        actions=actions,
    )


class Chat:
    """One conversation held against an engine, turn by turn."""

    def __init__(self, engine: DialogueEngine, slots: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.tracker = Tracker("s", initial_slots=engine.domain.initial_slots())
        for name, value in (slots or {}).items():
            self.tracker.add(slot_set(name, value))

    async def say(self, parse: ParseResult | None, text: str = "") -> Outcome:
        body = parse.to_rasa() if parse else {"text": text}
        event = user_uttered(
            text or (parse.text if parse else ""), body, message_id=None, channel="test"
        )
        return await self.engine.handle(self.tracker, event, parse)


def write_actions(tmp_path: Path, body: str) -> str:
    module = tmp_path / "policy_actions.py"
    module.write_text(
        "from rasa_sdk import Action\nfrom rasa_sdk.events import SlotSet, FollowupAction, "
        "ConversationPaused\n\n" + body
    )
    return str(module)


@pytest.fixture
def demo() -> DialogueEngine:
    return engine_for(Domain.load(DATA / "domain.yml"), InProcessActions(str(DATA / "actions.py")))


async def test_form_asks_again_when_the_answer_has_no_order_number(demo: DialogueEngine) -> None:
    chat = Chat(demo)
    first = await chat.say(parsed("where is my order", "order_status"))
    assert first.route == "ask_slot"
    assert chat.tracker.slots[REQUESTED_SLOT] == "order_id"
    again = await chat.say(parsed("hmm not sure", FALLBACK_INTENT, 0.2, "order_id"))
    assert again.route == "ask_slot"
    assert "order number" in again.messages[0].text


async def test_bare_number_answers_the_form_only_while_it_is_asked_for(
    demo: DialogueEngine,
) -> None:
    chat = Chat(demo)
    await chat.say(parsed("where is my order", "order_status"))
    answer = await chat.say(parsed("10004", FALLBACK_INTENT, 0.3, expecting="order_id"))
    assert "action_order_status" in answer.actions
    assert chat.tracker.slots["order_id"] == "NW-10004"
    assert "PostNL" in " ".join(m.text for m in answer.messages)
    assert chat.tracker.slots.get(REQUESTED_SLOT) is None
    assert chat.tracker.active_loop_name is None


async def test_changing_the_subject_drops_the_question(demo: DialogueEngine) -> None:
    chat = Chat(demo)
    await chat.say(parsed("where is my order", "order_status"))
    reply = await chat.say(parsed("how much is shipping", "shipping_cost"))
    assert reply.route == "template"
    assert reply.answer_source == "template:shipping_cost"
    assert chat.tracker.slots.get(REQUESTED_SLOT) is None
    assert chat.tracker.active_loop_name is None


async def test_a_number_in_the_message_replaces_a_stale_order_slot(demo: DialogueEngine) -> None:
    chat = Chat(demo, {"order_id": "NW-10003"})
    reply = await chat.say(parsed("and order NW-10004?", "order_status"))
    assert chat.tracker.slots["order_id"] == "NW-10004"
    assert "PostNL" in " ".join(m.text for m in reply.messages)


async def test_unknown_order_clears_the_slot_and_says_so(demo: DialogueEngine) -> None:
    chat = Chat(demo)
    reply = await chat.say(parsed("status of NW-99999", "order_status"))
    assert reply.route == "action"
    assert "NW-99999" in reply.messages[0].text
    assert chat.tracker.slots.get("order_id") is None


async def test_pause_event_from_an_action_hands_the_conversation_over(tmp_path: Path) -> None:
    module = write_actions(
        tmp_path,
        "class Escalate(Action):\n"
        "    def name(self):\n        return 'action_order_status'\n\n"
        "    def run(self, dispatcher, tracker, domain):\n"
        "        dispatcher.utter_message(text='This one needs a colleague.')\n"
        "        return [ConversationPaused()]\n",
    )
    engine = engine_for(
        Domain(intent_actions={"order_status": "action_order_status"}), InProcessActions(module)
    )
    reply = await Chat(engine).say(parsed("where is NW-10001", "order_status"))
    assert reply.route == "handoff"
    assert reply.escalation_reason == "action_requested"
    assert reply.messages[0].text == "This one needs a colleague."


async def test_followup_action_runs_and_response_names_render_templates(tmp_path: Path) -> None:
    module = write_actions(
        tmp_path,
        "class First(Action):\n"
        "    def name(self):\n        return 'action_first'\n\n"
        "    def run(self, dispatcher, tracker, domain):\n"
        "        return [SlotSet('email', 'a@example.com'), FollowupAction('action_second')]\n\n"
        "class Second(Action):\n"
        "    def name(self):\n        return 'action_second'\n\n"
        "    def run(self, dispatcher, tracker, domain):\n"
        "        dispatcher.utter_message(response='utter_thanks')\n"
        "        dispatcher.utter_message(text='Saved ' + tracker.get_slot('email'))\n"
        "        return []\n",
    )
    engine = engine_for(Domain(intent_actions={"thanks": "action_first"}), InProcessActions(module))
    chat = Chat(engine)
    reply = await chat.say(parsed("thanks", "thanks"))
    assert reply.route == "action"
    assert reply.actions == ["action_first", "action_second"]
    assert chat.tracker.slots["email"] == "a@example.com"
    templates = ResponseTemplates.load(DATA / "responses.yml")
    rendered = [templates.render("thanks", {}, turn=i) for i in range(12)]
    assert reply.messages[0].text in {r.text for r in rendered if r is not None}
    assert reply.messages[-1].text == "Saved a@example.com"


async def test_without_models_the_index_or_a_person_answers(demo: DialogueEngine) -> None:
    chat = Chat(demo, {"order_id": "NW-10001"})
    reply = await chat.say(None, text="anything")
    assert reply.route == "handoff"
    assert reply.escalation_reason == "bot_error"
    assert chat.tracker.slots["order_id"] == "NW-10001"


@pytest.mark.parametrize("slots", [{}, {"order_id": "NW-10001"}])
async def test_templates_never_leak_a_raw_placeholder(
    demo: DialogueEngine, slots: dict[str, Any]
) -> None:
    for intent in ResponseTemplates.load(DATA / "responses.yml"):
        if intent in demo.domain.intent_actions:
            continue
        reply = await Chat(demo, slots).say(parsed("text", intent))
        for message in reply.messages:
            assert "{" not in message.text, (intent, message.text)


async def test_a_new_conversation_starts_a_session_before_the_first_message(
    demo: DialogueEngine,
) -> None:
    chat = Chat(demo)
    await chat.say(parsed("hi", "greet"))
    kinds = [e["event"] for e in chat.tracker.events]
    assert kinds[:3] == ["session_started", "action", "action"]
    assert [e.get("name") for e in chat.tracker.events[1:3]] == [
        "action_session_start",
        "action_listen",
    ]
    assert kinds[3] == "user"


async def test_restart_payload_forgets_the_slots(demo: DialogueEngine) -> None:
    chat = Chat(demo, {"order_id": "NW-10001"})
    await chat.say(parsed("/restart", "restart", 1.0))
    assert chat.tracker.slots.get("order_id") is None
    assert chat.tracker.applied_events() == []
