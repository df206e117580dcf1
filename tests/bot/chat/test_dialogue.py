"""The dialogue policy with real parts: the demo domain and responses, real rasa_sdk actions.

The parse results are built by hand (a ParseResult is data, not a component), so each test
can state exactly what the models said and check what the policy does with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.chat.actions import InProcessActions
from bot.chat.dialogue import PENDING_ACTION, REQUESTED_SLOT, Dialogue
from bot.chat.entities import extract
from bot.chat.nlu import ParseResult
from retrieval.base.domain import Domain
from retrieval.models.classifier import FALLBACK_INTENT, Prediction
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


def write_actions(tmp_path: Path, body: str) -> str:
    module = tmp_path / "policy_actions.py"
    module.write_text(
        "from rasa_sdk import Action\nfrom rasa_sdk.events import SlotSet, FollowupAction, "
        "ConversationPaused\n\n" + body
    )
    return str(module)


@pytest.fixture
def dialogue() -> Dialogue:
    return Dialogue(
        Domain.load(DATA / "domain.yml"),
        ResponseTemplates.load(DATA / "responses.yml"),
        actions=InProcessActions(str(DATA / "actions.py")),
    )


async def test_form_asks_again_when_the_answer_has_no_order_number(dialogue: Dialogue) -> None:
    first = await dialogue.respond("s", parsed("where is my order", "order_status"), {})
    assert first.route == "ask_slot"
    assert first.slots[REQUESTED_SLOT] == "order_id"
    again = await dialogue.respond(
        "s", parsed("hmm not sure", FALLBACK_INTENT, 0.2, "order_id"), first.slots
    )
    assert again.route == "ask_slot"
    assert "order number" in again.messages[0].text


async def test_bare_number_answers_the_form_only_while_it_is_asked_for(dialogue: Dialogue) -> None:
    asked = await dialogue.respond("s", parsed("where is my order", "order_status"), {})
    answer = await dialogue.respond(
        "s", parsed("10004", FALLBACK_INTENT, 0.3, expecting="order_id"), asked.slots
    )
    assert answer.route == "action"
    assert answer.slots["order_id"] == "NW-10004"
    assert "PostNL" in " ".join(m.text for m in answer.messages)
    assert REQUESTED_SLOT not in answer.slots and PENDING_ACTION not in answer.slots


async def test_changing_the_subject_drops_the_form(dialogue: Dialogue) -> None:
    asked = await dialogue.respond("s", parsed("where is my order", "order_status"), {})
    reply = await dialogue.respond(
        "s", parsed("how much is shipping", "shipping_cost"), asked.slots
    )
    assert reply.route == "template"
    assert reply.answer_source == "template:shipping_cost"
    assert REQUESTED_SLOT not in reply.slots


async def test_a_number_in_the_message_replaces_a_stale_order_slot(dialogue: Dialogue) -> None:
    reply = await dialogue.respond(
        "s", parsed("and order NW-10004?", "order_status"), {"order_id": "NW-10003"}
    )
    assert reply.slots["order_id"] == "NW-10004"
    assert "PostNL" in " ".join(m.text for m in reply.messages)


async def test_unknown_order_clears_the_slot_and_says_so(dialogue: Dialogue) -> None:
    reply = await dialogue.respond("s", parsed("status of NW-99999", "order_status"), {})
    assert reply.route == "action"
    assert "NW-99999" in reply.messages[0].text
    assert "order_id" not in reply.slots


async def test_pause_event_from_an_action_hands_the_conversation_over(tmp_path: Path) -> None:
    module = write_actions(
        tmp_path,
        "class Escalate(Action):\n"
        "    def name(self):\n        return 'action_order_status'\n\n"
        "    def run(self, dispatcher, tracker, domain):\n"
        "        dispatcher.utter_message(text='This one needs a colleague.')\n"
        "        return [ConversationPaused()]\n",
    )
    dialogue = Dialogue(
        Domain(intent_actions={"order_status": "action_order_status"}),
        ResponseTemplates.load(DATA / "responses.yml"),
        actions=InProcessActions(module),
    )
    reply = await dialogue.respond("s", parsed("where is NW-10001", "order_status"), {})
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
    dialogue = Dialogue(
        Domain(intent_actions={"thanks": "action_first"}),
        ResponseTemplates.load(DATA / "responses.yml"),
        actions=InProcessActions(module),
    )
    reply = await dialogue.respond("s", parsed("thanks", "thanks"), {})
    assert reply.route == "action"
    assert reply.slots["email"] == "a@example.com"
    templates = ResponseTemplates.load(DATA / "responses.yml")
    rendered = [templates.render("thanks", {}, turn=i) for i in range(3)]
    thanks_variants = {r.text for r in rendered if r is not None}
    assert reply.messages[0].text in thanks_variants
    assert reply.messages[-1].text == "Saved a@example.com"


async def test_without_models_the_index_or_a_person_answers(dialogue: Dialogue) -> None:
    reply = await dialogue.respond("s", None, {"order_id": "NW-10001"}, text="anything")
    assert reply.route == "handoff"
    assert reply.escalation_reason == "bot_error"
    assert reply.slots == {"order_id": "NW-10001"}


@pytest.mark.parametrize("slots", [{}, {"order_id": "NW-10001"}])
async def test_templates_never_leak_a_raw_placeholder(
    dialogue: Dialogue, slots: dict[str, Any]
) -> None:
    for intent in ResponseTemplates.load(DATA / "responses.yml"):
        if intent in Domain.load(DATA / "domain.yml").intent_actions:
            continue
        reply = await dialogue.respond("s", parsed("text", intent), slots)
        for message in reply.messages:
            assert "{" not in message.text, (intent, message.text)
