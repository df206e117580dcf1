"""The Rasa REST channel, end to end: the real app, real (tiny) models, a real SQLite file.

The tiny models memorise their training rows (tests/fixtures/tiny_nlu.csv), so these tests
send exactly those texts and can rely on the intent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from bot.chat.execution import DEFAULT_STAFF_OFFLINE
from bot.server.app import create_app
from bot.server.appkeys import RUNTIME, STORE
from bot.storage import Store
from tests.conftest import REPO, TinyModels, app_config

WEBHOOK = "/webhooks/rest/webhook"
GREETINGS = {
    "Hi! I'm the Northwind Goods assistant. How can I help you today?",
    "Hello and welcome to Northwind Goods! "
    "I can help with orders, deliveries, returns and payments.",
}


async def ready_client(
    aiohttp_client: Any, tmp_path: Path, models: TinyModels, **settings: Any
) -> TestClient:
    app = create_app(app_config(tmp_path, models_dir=models.models_dir, **settings))
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[RUNTIME].ready.wait(), timeout=120)
    return client


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels) -> TestClient:
    return await ready_client(aiohttp_client, tmp_path, tiny_models)


def store_of(client: TestClient) -> Store:
    return client.app[STORE]


async def say(
    client: TestClient, text: str, sender: str = "ada", **extra: Any
) -> list[dict[str, Any]]:
    response = await client.post(WEBHOOK, json={"sender": sender, "message": text, **extra})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert isinstance(body, list)
    return body


async def conversation_turns(client: TestClient, sender: str = "ada") -> list[Any]:
    store = store_of(client)
    conversation = await store.conversation_for("rest", sender)
    return await store.turns(conversation.id)


async def test_webhook_status_endpoint_answers_ok(client: TestClient) -> None:
    response = await client.get("/webhooks/rest/")
    assert await response.json() == {"status": "ok"}


async def test_greeting_is_answered_from_its_template_in_rasa_shape(client: TestClient) -> None:
    messages = await say(client, "hello there")
    assert len(messages) == 1
    assert messages[0]["recipient_id"] == "ada"
    assert messages[0]["text"] in GREETINGS
    assert {"title": "Talk to a person", "payload": "I want to talk to a human"} in messages[0][
        "buttons"
    ]
    assert "image" not in messages[0] and "custom" not in messages[0]


async def test_turn_is_stored_with_intent_confidence_sentiment_and_route(
    client: TestClient,
) -> None:
    await say(client, "hello there")
    user, bot = await conversation_turns(client)
    assert (user.role, user.text, user.intent, user.route) == (
        "user",
        "hello there",
        "greet",
        "template",
    )
    assert 0 < user.confidence <= 1
    assert user.sentiment in {"negative", "neutral", "positive"}
    assert 0 < user.sentiment_score <= 1
    assert (bot.role, bot.reply_to, bot.route, bot.answer_source) == (
        "bot",
        user.id,
        "template",
        "template:greet",
    )
    assert bot.text in GREETINGS


async def test_order_status_asks_for_the_number_then_looks_the_order_up(client: TestClient) -> None:
    first = await say(client, "where is my order")
    assert "order number" in first[0]["text"]
    second = await say(client, "it's NW-10003")
    text = " ".join(m.get("text", "") for m in second)
    assert "NW-10003" in text
    assert "Royal Mail" in text
    turns = await conversation_turns(client)
    assert [t.route for t in turns if t.role == "bot"] == ["ask_slot", "action"]
    conversation = await store_of(client).conversation_for("rest", "ada")
    assert conversation.slots["order_id"] == "NW-10003"
    assert conversation.slots["carrier"] == "Royal Mail"
    assert "requested_slot" not in conversation.slots


async def test_order_number_in_the_first_message_runs_the_action_at_once(
    client: TestClient,
) -> None:
    messages = await say(client, "where is my order NW-10003")
    assert "Royal Mail" in " ".join(m.get("text", "") for m in messages)
    user = (await conversation_turns(client))[0]
    assert user.route == "action"
    assert {"entity": "order_id", "value": "NW-10003"}.items() <= user.entities[0].items()


async def test_human_handoff_opens_an_escalation_and_the_bot_goes_quiet(client: TestClient) -> None:
    messages = await say(client, "I want to talk to a human")
    assert "connecting you" in messages[0]["text"]
    store = store_of(client)
    conversation = await store.conversation_for("rest", "ada")
    assert conversation.status == "handoff"
    [escalation] = await store.escalations(conversation_id=conversation.id)
    assert (escalation.reason, escalation.status) == ("asked_for_human", "open")

    assert await say(client, "hello there") == []
    last = (await conversation_turns(client))[-1]
    assert (last.role, last.text, last.route, last.intent) == (
        "user",
        "hello there",
        "human",
        "greet",
    )


async def test_question_outside_the_intents_is_answered_from_history(client: TestClient) -> None:
    messages = await say(client, "Do you offer gift wrapping?")
    assert messages[0]["text"] == 'Yes: tick "gift wrap" at checkout; it costs 3 EUR per item.'
    user = (await conversation_turns(client))[0]
    assert user.route == "retrieval"
    assert user.answer_source == "qa:qa-gift-wrap"
    assert user.retrieval_score > 0.85


async def test_out_of_scope_gets_a_fallback_then_a_person(client: TestClient) -> None:
    first = await say(client, "who won the world cup")
    assert "person" in first[0]["text"]
    second = await say(client, "what is the capital of france")
    assert "connecting you" in second[0]["text"]
    # Nobody is in the staff console in this test, and the customer is told so.
    assert second[1]["text"] == DEFAULT_STAFF_OFFLINE
    turns = await conversation_turns(client)
    assert [t.route for t in turns if t.role == "bot"] == ["fallback", "handoff", "handoff"]
    [escalation] = await store_of(client).escalations(conversation_id=turns[0].conversation_id)
    assert escalation.reason == "low_confidence"


async def test_retried_message_id_returns_the_same_reply_and_stores_once(
    client: TestClient,
) -> None:
    first = await say(client, "hello there", metadata={"message_id": "m-1"})
    again = await say(client, "hello there", metadata={"message_id": "m-1"})
    assert again == first
    assert len(await conversation_turns(client)) == 2


async def test_concurrent_messages_of_one_conversation_are_answered_in_order(
    client: TestClient,
) -> None:
    texts = ["hi", "thanks", "hey", "cheers", "hello"]
    await asyncio.gather(*(say(client, text) for text in texts))
    turns = await conversation_turns(client)
    assert [t.role for t in turns] == ["user", "bot"] * len(texts)
    for user, bot in zip(turns[::2], turns[1::2], strict=True):
        assert bot.reply_to == user.id


async def test_senders_have_separate_conversations(client: TestClient) -> None:
    await say(client, "where is my order", sender="one")
    await say(client, "hello there", sender="two")
    store = store_of(client)
    one = await store.conversation_for("rest", "one")
    two = await store.conversation_for("rest", "two")
    assert one.id != two.id
    assert one.slots.get("requested_slot") == "order_id"
    assert "requested_slot" not in two.slots
    assert [t.text for t in await store.turns(two.id) if t.role == "user"] == ["hello there"]


async def test_failing_action_degrades_to_a_handoff_and_keeps_the_message(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    module = tmp_path / "broken_actions.py"
    module.write_text(
        "from rasa_sdk import Action\n\n"
        "class Broken(Action):\n"
        "    def name(self):\n"
        "        return 'action_order_status'\n\n"
        "    def run(self, dispatcher, tracker, domain):\n"
        "        raise RuntimeError('the order system is down')\n"
    )
    client = await ready_client(aiohttp_client, tmp_path, tiny_models, actions_module=str(module))
    messages = await say(client, "where is my order NW-10003")
    assert messages, "the customer always gets an answer"
    turns = await conversation_turns(client)
    assert turns[0].text == "where is my order NW-10003"
    assert turns[0].intent == "order_status"
    assert turns[-1].role == "bot"
    assert turns[0].route in {"template", "handoff"}


async def test_custom_action_reads_the_webhook_metadata_from_the_latest_message(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    module = tmp_path / "metadata_actions.py"
    module.write_text(
        "from rasa_sdk import Action\n\n"
        "class Tier(Action):\n"
        "    def name(self):\n"
        "        return 'action_order_status'\n\n"
        "    def run(self, dispatcher, tracker, domain):\n"
        "        tier = tracker.latest_message['metadata'].get('tier', 'none')\n"
        "        dispatcher.utter_message(text=f'tier {tier}')\n"
        "        return []\n"
    )
    client = await ready_client(aiohttp_client, tmp_path, tiny_models, actions_module=str(module))
    messages = await say(client, "where is my order NW-10003", metadata={"tier": "gold"})
    assert [m.get("text") for m in messages] == ["tier gold"]


async def test_sender_rate_limit_answers_429_with_retry_after(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    client = await ready_client(aiohttp_client, tmp_path, tiny_models, rate_limit_per_sender=2)
    await say(client, "hi")
    await say(client, "hey")
    response = await client.post(WEBHOOK, json={"sender": "ada", "message": "hello"})
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "the limit is 2 a minute" in (await response.json())["error"]
    assert len(await conversation_turns(client)) == 4, "a refused message is not half-stored"


async def test_bad_input_leaves_nothing_in_the_store(client: TestClient) -> None:
    for body in ({"sender": "ada", "message": ""}, {"sender": "ada", "message": "x" * 20_000}):
        response = await client.post(WEBHOOK, json=body)
        assert 400 <= response.status < 500
    assert await store_of(client).count_turns() == 0


async def test_webhook_works_on_postgresql(
    postgres_url: str, aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    client = await ready_client(aiohttp_client, tmp_path, tiny_models, database_url=postgres_url)
    messages = await say(client, "hello there")
    assert messages[0]["text"] in GREETINGS
    user, bot = await conversation_turns(client)
    assert (user.intent, user.route, bot.reply_to) == ("greet", "template", user.id)


async def test_two_strongly_negative_turns_in_a_row_bring_a_person(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    # The tiny sentiment model is sure of its training rows, but not 80% sure.
    client = await ready_client(aiohttp_client, tmp_path, tiny_models, negative_handoff_score=0.3)
    first = await say(client, "this is terrible")
    assert "connecting you" not in first[0]["text"]
    second = await say(client, "worst service ever")
    assert "connecting you" in second[0]["text"]
    conversation = await store_of(client).conversation_for("rest", "ada")
    [escalation] = await store_of(client).escalations(conversation_id=conversation.id)
    assert escalation.reason == "negative_sentiment"


async def test_one_negative_turn_between_calm_ones_does_not_escalate(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    client = await ready_client(aiohttp_client, tmp_path, tiny_models, negative_handoff_score=0.3)
    await say(client, "this is terrible")
    await say(client, "thank you so much")
    await say(client, "worst service ever")
    conversation = await store_of(client).conversation_for("rest", "ada")
    reasons = [
        e.reason for e in await store_of(client).escalations(conversation_id=conversation.id)
    ]
    assert "negative_sentiment" not in reasons


async def test_card_numbers_and_emails_are_masked_before_storage_by_default(
    client: TestClient,
) -> None:
    messages = await say(client, "my card 4111 1111 1111 1111 failed, mail me at ada@example.com")
    assert messages, "masking storage does not change what the customer gets"
    [user, *_] = await conversation_turns(client)
    assert "4111" not in user.text.replace("[card ****1111]", "")
    assert "[card ****1111]" in user.text
    assert "ada@example.com" not in user.text
    assert all("ada@example.com" not in str(e["value"]) for e in user.entities or [])


async def test_the_stored_tracker_events_mask_the_customers_words_too(client: TestClient) -> None:
    await say(client, "my card 4111 1111 1111 1111 failed, mail me at ada@example.com")
    store = store_of(client)
    conversation = await store.conversation_for("rest", "ada")
    events = await store.events(conversation.id)
    [user_event] = [e for e in events if e["event"] == "user"]
    stored = json.dumps(events)
    assert "4111 1111" not in stored
    # The one copy left is the slot the bot filled: a form or an action reads it back on a
    # later turn, from the stored tracker.
    leaks = [e for e in events if "ada@example.com" in json.dumps(e)]
    assert [(e["event"], e["name"]) for e in leaks] == [("slot", "email")]
    assert user_event["text"].startswith("my card [card ****1111] failed")
    # A card's digit groups are no order numbers: those entities are left out, not masked.
    assert all("1111" not in str(e.get("value")) for e in user_event["parse_data"]["entities"])


async def test_a_reply_that_echoes_an_address_is_sent_whole_and_stored_masked(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    data = tmp_path / "data"
    shutil.copytree(REPO / "data", data)
    responses = data / "responses.yml"
    templates = yaml.safe_load(responses.read_text(encoding="utf-8"))
    templates["greet"] = ["Hi! We will write to {email}."]  # one variant: no random pick
    responses.write_text(yaml.safe_dump(templates), encoding="utf-8")
    client = await ready_client(aiohttp_client, tmp_path, tiny_models, data_dir=data)

    messages = await say(client, "hello there, I am ada@example.com")
    assert messages[0]["text"] == "Hi! We will write to ada@example.com."
    [_, bot, *_] = await conversation_turns(client)
    assert bot.text == "Hi! We will write to [email]."
    store = store_of(client)
    events = await store.events((await store.conversation_for("rest", "ada")).id)
    assert [e["text"] for e in events if e["event"] == "bot"] == ["Hi! We will write to [email]."]


async def test_messages_are_stored_verbatim_when_masking_is_off(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    client = await ready_client(aiohttp_client, tmp_path, tiny_models, mask_pii_in_storage=False)
    await say(client, "mail me at ada@example.com")
    [user, *_] = await conversation_turns(client)
    assert user.text == "mail me at ada@example.com"


async def test_request_over_the_deadline_gets_503_with_retry_after(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    client = await ready_client(aiohttp_client, tmp_path, tiny_models, request_timeout_s=0.000001)
    body = {"sender": "ada", "message": "hello there", "metadata": {"message_id": "slow-1"}}
    response = await client.post(WEBHOOK, json=body)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert "took longer than" in (await response.json())["error"]


async def test_no_message_is_left_counted_as_on_its_way_to_the_models(client: TestClient) -> None:
    processor = client.app[RUNTIME].get().processor
    texts = ["hello there", "where is my order", "thanks"]
    await asyncio.gather(*(say(client, text, sender=f"s{i}") for i, text in enumerate(texts)))
    await say(client, "hello", metadata={"message_id": "m-9"})
    await say(client, "hello", metadata={"message_id": "m-9"})  # a duplicate: no models
    assert processor.upcoming() == 0


async def test_a_retried_message_id_with_another_text_is_a_409(client: TestClient) -> None:
    first = await say(client, "hello there", metadata={"message_id": "m-7"})
    response = await client.post(
        WEBHOOK,
        json={"sender": "ada", "message": "cancel my order", "metadata": {"message_id": "m-7"}},
    )
    assert response.status == 409
    payload = await response.json()
    assert payload["status"] == 409
    assert payload["error"] == (
        "message id 'm-7' was already used for a different message in this conversation; "
        "resend the same text to get its reply, or use a new message id"
    )
    assert await say(client, "hello there", metadata={"message_id": "m-7"}) == first
    assert len(await conversation_turns(client)) == 2, "the other text was not stored"
