"""A Rasa 3 project as `rasa init` writes it (moodbot), plus an order-status action, a
returns form and what real projects add (split NLU data, retrieval intents, settings files),
for the importer's tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from retrieval.base.stories import StoryFiles

CONFIG = """\
recipe: default.v1
assistant_id: northwind-moodbot
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: RegexFeaturizer
  - name: CountVectorsFeaturizer
  - name: DIETClassifier
    epochs: 100
  - name: EntitySynonymMapper
  - name: FallbackClassifier
    threshold: 0.3
policies:
  - name: MemoizationPolicy
  - name: RulePolicy
  - name: TEDPolicy
    max_history: 5
    epochs: 100
"""

DOMAIN = """\
version: "3.1"

intents:
  - greet
  - goodbye
  - affirm
  - deny
  - mood_great
  - mood_unhappy
  - bot_challenge
  - order_status
  - return_item
  - inform

entities:
  - order_id
  - email
  - product

slots:
  order_id:
    type: text
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: order_id
  email:
    type: text
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: email
  product:
    type: text
    mappings:
    - type: from_entity
      entity: product
  return_reason:
    type: text
    mappings:
    - type: from_text
      conditions:
      - active_loop: return_form
        requested_slot: return_reason
  logged_in:
    type: bool
    influence_conversation: true
    mappings:
    - type: custom

forms:
  return_form:
    required_slots:
      - order_id
      - email
      - return_reason

responses:
  utter_greet:
  - text: "Hey! How are you?"
  - condition:
    - type: slot
      name: logged_in
      value: true
    text: "Welcome back! How are you today?"

  utter_cheer_up:
  - text: "Here is something to cheer you up:"
    image: "https://i.imgur.com/nGF1K8f.jpg"

  utter_did_that_help:
  - text: "Did that help you?"
    buttons:
    - title: Yes
      payload: /affirm
    - title: No
      payload: /deny

  utter_happy:
  - text: "Great, carry on!"

  utter_goodbye:
  - text: "Bye"
  - text: "Bye! Have a good one."
    channel: slack

  utter_iamabot:
  - text: "I am a bot, powered by Rasa."

  utter_order_status:
  - text: "Order {order_id} is {status}."

  utter_ask_order_id:
  - text: "What's your order number? It looks like NW-12345."

  utter_ask_email:
  - text: "Which e-mail address did you order with, {name}?"

  utter_ask_return_reason:
  - text: "Why are you sending it back?"

  utter_return_submitted:
  - text: "Thanks, your return for order {order_id} is registered."

  utter_please_rephrase:
  - text: "I'm sorry, I didn't quite understand that. Could you rephrase?"

  utter_default:
  - text: "Sorry, I didn't get that."

actions:
  - action_check_order_status
  - action_submit_return
  - validate_return_form

session_config:
  session_expiration_time: 60
  carry_over_slots_to_new_session: true
"""

NLU = """\
version: "3.1"

nlu:
- intent: greet
  examples: |
    - hey
    - hello
    - hi
    - hello there
    - good morning

- intent: goodbye
  examples: |
    - cu
    - good by
    - see you later
    - bye

- intent: affirm
  examples: |
    - yes
    - y
    - indeed
    - of course

- intent: deny
  examples: |
    - no
    - n
    - never
    - I don't think so

- intent: mood_great
  examples: |
    - perfect
    - great
    - amazing
    - I am feeling very good

- intent: mood_unhappy
  examples: |
    - my day was horrible
    - I am sad
    - I don't feel very well
    - sad

- intent: bot_challenge
  examples: |
    - are you a bot?
    - are you a human?
    - am I talking to a bot?

- intent: order_status
  examples: |
    - where is my order?
    - where is my order [NW-12345](order_id)?
    - status of order [NW-55555](order_id)
    - has my order shipped yet

- intent: return_item
  examples: |
    - I want to return my [headphones](product)
    - how do I send something back
    - return an item

- intent: inform
  examples: |
    - it's [NW-10003](order_id)
    - my email is [ada@example.com](email)

- synonym: headphones
  examples: |
    - earphones
    - headset

- regex: order_id
  examples: |
    - NW-\\d{5}
"""

# The "hello" repeated from data/nlu.yml and a third way of saying goodbye: Rasa lets a project
# split its NLU data over several files.
MORE_NLU = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
    - hiya
- intent: goodbye
  examples: |
    - have a nice day
"""

RULES = """\
version: "3.1"

rules:

- rule: Say goodbye anytime the user says goodbye
  steps:
  - intent: goodbye
  - action: utter_goodbye

- rule: Say 'I am a bot' anytime the user challenges
  steps:
  - intent: bot_challenge
  - action: utter_iamabot

- rule: Check an order's status
  steps:
  - intent: order_status
  - action: action_check_order_status

- rule: Ask the user to rephrase whenever they send a message with low NLU confidence
  steps:
  - intent: nlu_fallback
  - action: utter_please_rephrase

- rule: Activate the return form
  steps:
  - intent: return_item
  - action: return_form
  - active_loop: return_form

- rule: Submit the return form
  condition:
  - active_loop: return_form
  steps:
  - action: return_form
  - active_loop: null
  - slot_was_set:
    - requested_slot: null
  - action: utter_return_submitted
  - action: action_submit_return
"""

STORIES = """\
version: "3.1"

stories:

- story: happy path
  steps:
  - intent: greet
  - action: utter_greet
  - intent: mood_great
  - action: utter_happy

- story: sad path 1
  steps:
  - intent: greet
  - action: utter_greet
  - intent: mood_unhappy
  - action: utter_cheer_up
  - action: utter_did_that_help
  - intent: affirm
  - action: utter_happy

- story: sad path 2
  steps:
  - intent: greet
  - action: utter_greet
  - intent: mood_unhappy
  - action: utter_cheer_up
  - action: utter_did_that_help
  - intent: deny
  - action: utter_goodbye

- story: bye after a denial
  steps:
  - intent: deny
  - action: utter_did_that_help
"""

ENDPOINTS = """\
action_endpoint:
  url: "http://localhost:5055/webhook"
"""

CREDENTIALS = """\
rest:
#  you don't need to provide anything here

socketio:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered

slack:
  slack_token: "xoxb-xxx"
"""


CHITCHAT = """\
version: "3.1"
nlu:
- intent: chitchat/ask_name
  examples: |
    - what's your name?
    - who are you?
- intent: chitchat/ask_weather
  examples: |
    - what's the weather like?
    - is it raining?
responses:
  utter_chitchat/ask_name:
  - text: "I'm the Northwind assistant."
  utter_chitchat/ask_weather:
  - text: "I can't see outside, sorry!"
rules:
- rule: respond to chitchat
  steps:
  - intent: chitchat
  - action: utter_chitchat
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_project(root: Path) -> Path:
    write(root / "config.yml", CONFIG)
    write(root / "domain.yml", DOMAIN)
    write(root / "endpoints.yml", ENDPOINTS)
    write(root / "credentials.yml", CREDENTIALS)
    write(root / "data" / "nlu.yml", NLU)
    write(root / "data" / "rules.yml", RULES)
    write(root / "data" / "stories.yml", STORIES)
    write(root / "actions" / "__init__.py", "")
    return root


def kinds(summary: dict[str, Any]) -> set[str]:
    """The kinds of warning an import gave."""
    return {group["kind"] for group in summary["warning_details"]}


def warnings_about(summary: dict[str, Any], *needles: str) -> list[str]:
    """Every warning occurrence (``file:line: message``) that contains all ``needles``,
    whether it was printed on its own or grouped with others of its kind."""
    texts = [
        f"{o['at']}: {o['message']}" if o["at"] else o["message"]
        for group in summary["warning_details"]
        for o in group["occurrences"]
    ]
    return [text for text in texts if all(n in text for n in needles)]


def _without_lines(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            {
                f.name: _without_lines(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if f.name not in ("line", "path")
            },
        )
    if isinstance(value, tuple):
        return tuple(_without_lines(item) for item in value)
    return value


def shapes(found: StoryFiles) -> tuple[Any, Any]:
    """The rules and stories as Frontdesk's story reader reads them, without the file and
    line each came from: what the dialogue engine learns from them."""
    return _without_lines(found.rules), _without_lines(found.stories)
