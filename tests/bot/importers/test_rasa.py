"""bot.importers.rasa: a Rasa 3 project (as `rasa init` writes it, plus an action and a form)
converted into Frontdesk's nlu.yml, responses.yml and domain.yml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.importers.rasa import import_rasa_project
from retrieval.base.datafiles import DataFileError
from retrieval.base.datasets import load_examples
from retrieval.base.domain import Domain, SlotSpec
from retrieval.templates import ResponseTemplates

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


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "moodbot"
    write(root / "config.yml", CONFIG)
    write(root / "domain.yml", DOMAIN)
    write(root / "endpoints.yml", ENDPOINTS)
    write(root / "data" / "nlu.yml", NLU)
    write(root / "data" / "rules.yml", RULES)
    write(root / "data" / "stories.yml", STORIES)
    write(root / "actions" / "__init__.py", "")
    return root


@pytest.fixture
def imported(project: Path, tmp_path: Path) -> tuple[dict, Path]:
    out = tmp_path / "frontdesk"
    return import_rasa_project(project, out), out


def warnings_about(summary: dict, *needles: str) -> list[str]:
    return [w for w in summary["warnings"] if all(n in w for n in needles)]


def test_the_outputs_load_with_frontdesks_own_readers(imported: tuple[dict, Path]) -> None:
    summary, out = imported

    examples = load_examples(out / "nlu.yml")
    templates = ResponseTemplates.load(out / "responses.yml")
    domain = Domain.load(out / "domain.yml")

    assert {e.label for e in examples} == set(summary["intents"])
    assert len(examples) == summary["examples"]
    assert set(templates.keys()) == set(summary["responses"])
    assert dict(domain.intent_actions) == summary["actions"]
    assert domain.categories == {}
    assert summary["files"] == [str(out / n) for n in ("nlu.yml", "responses.yml", "domain.yml")]
    json.dumps(summary)  # the CLI prints it


def test_nlu_examples_keep_entity_annotations_and_skip_synonyms_and_regexes(
    imported: tuple[dict, Path],
) -> None:
    summary, out = imported
    data = yaml.safe_load((out / "nlu.yml").read_text(encoding="utf-8"))

    assert data["version"] == "3.1"
    by_intent = {item["intent"]: item["examples"] for item in data["nlu"]}
    assert "- where is my order [NW-12345](order_id)?\n" in by_intent["order_status"]
    assert all("intent" in item for item in data["nlu"])
    assert summary["intents"] == [
        "greet",
        "goodbye",
        "affirm",
        "deny",
        "mood_great",
        "mood_unhappy",
        "bot_challenge",
        "order_status",
        "return_item",
        "inform",
    ]
    assert warnings_about(summary, "data/nlu.yml:", "not imported: synonym 'headphones'")
    assert warnings_about(summary, "not imported: regex 'order_id'")
    # The trainer reads the annotated text without the markup.
    texts = {e.text for e in load_examples(out / "nlu.yml") if e.label == "order_status"}
    assert "where is my order NW-12345?" in texts


def test_rules_and_stories_decide_which_response_answers_an_intent(
    imported: tuple[dict, Path],
) -> None:
    summary, out = imported
    templates = ResponseTemplates.load(out / "responses.yml")

    assert summary["responses"]["goodbye"] == "utter_goodbye"
    assert summary["responses"]["bot_challenge"] == "utter_iamabot"
    assert summary["responses"]["mood_great"] == "utter_happy"
    assert summary["responses"]["mood_unhappy"] == "utter_cheer_up"
    rendered = templates.render("mood_unhappy")
    assert rendered is not None
    assert rendered.text == "Here is something to cheer you up:"
    assert rendered.image == "https://i.imgur.com/nGF1K8f.jpg"
    bot = templates.render("bot_challenge")
    assert bot is not None and bot.text == "I am a bot, powered by Rasa."


def test_the_first_rule_or_story_wins_and_the_others_are_reported(
    imported: tuple[dict, Path],
) -> None:
    summary, _ = imported

    # sad path 2 answers deny with utter_goodbye before the last story's utter_did_that_help.
    assert summary["responses"]["deny"] == "utter_goodbye"
    assert warnings_about(
        summary, "data/stories.yml:", "intent deny is followed by utter_did_that_help"
    )
    # mood_unhappy: Rasa says two things, Frontdesk one.
    assert warnings_about(summary, "utter_cheer_up, utter_did_that_help")


def test_every_response_is_kept_under_its_own_name_for_custom_actions(
    imported: tuple[dict, Path],
) -> None:
    summary, out = imported
    templates = ResponseTemplates.load(out / "responses.yml")

    for key in ("happy", "cheer_up", "did_that_help", "iamabot", "return_submitted"):
        assert key in templates
    assert summary["responses"]["happy"] == "utter_happy"
    # One Rasa response, one list: the second key is a YAML alias of the first.
    text = (out / "responses.yml").read_text(encoding="utf-8")
    assert "affirm: &utter_happy" in text
    assert "mood_great: *utter_happy" in text
    assert "happy: *utter_happy" in text
    # A response named like an intent answers that intent (name matching).
    assert summary["responses"]["order_status"] == "utter_order_status"


def test_nlu_fallback_gets_the_please_rephrase_response(imported: tuple[dict, Path]) -> None:
    summary, out = imported
    templates = ResponseTemplates.load(out / "responses.yml")

    assert summary["responses"]["nlu_fallback"] == "utter_please_rephrase"
    rendered = templates.render("nlu_fallback")
    assert rendered is not None and "rephrase" in rendered.text
    assert summary["responses"]["default"] == "utter_default"


def test_utter_default_answers_nlu_fallback_without_a_rule(project: Path, tmp_path: Path) -> None:
    write(project / "data" / "rules.yml", 'version: "3.1"\nrules: []\n')
    text = (project / "domain.yml").read_text(encoding="utf-8")
    write(project / "domain.yml", text.replace("utter_please_rephrase:", "utter_rephrase_pls:"))

    summary = import_rasa_project(project, tmp_path / "out")

    assert summary["responses"]["nlu_fallback"] == "utter_default"


def test_conditional_and_channel_variants_are_dropped_with_a_warning(
    imported: tuple[dict, Path],
) -> None:
    summary, out = imported
    data = yaml.safe_load((out / "responses.yml").read_text(encoding="utf-8"))

    assert data["greet"] == [{"text": "Hey! How are you?"}]
    assert data["goodbye"] == [{"text": "Bye"}]
    assert warnings_about(summary, "domain.yml:", "utter_greet", "1 conditional variant")
    assert warnings_about(summary, "utter_goodbye", "channel slack")


def test_buttons_are_kept_and_intent_payloads_reported(imported: tuple[dict, Path]) -> None:
    summary, out = imported
    data = yaml.safe_load((out / "responses.yml").read_text(encoding="utf-8"))

    # "Yes"/"No" stay text (Rasa reads YAML 1.2), not true/false.
    assert data["did_that_help"][0]["buttons"] == [
        {"title": "Yes", "payload": "/affirm"},
        {"title": "No", "payload": "/deny"},
    ]
    assert warnings_about(summary, "'/intent'", "utter_did_that_help")


def test_a_custom_action_after_an_intent_becomes_an_intent_action(
    imported: tuple[dict, Path],
) -> None:
    summary, out = imported
    domain = Domain.load(out / "domain.yml")

    assert domain.intent_actions["order_status"] == "action_check_order_status"
    assert summary["actions"]["order_status"] == "action_check_order_status"


def test_slots_filled_from_entities_get_the_utter_ask_prompt(imported: tuple[dict, Path]) -> None:
    summary, out = imported
    domain = Domain.load(out / "domain.yml")

    assert domain.slots["order_id"] == SlotSpec(
        "order_id", "order_id", "What's your order number? It looks like NW-12345."
    )
    # utter_ask_email needs {name}, which a prompt cannot fill: a generic prompt instead.
    assert domain.slots["email"].prompt == "Could you tell me your email?"
    assert warnings_about(summary, "slot email", "generic prompt")
    assert summary["slots"] == {"order_id": "order_id", "email": "email", "product": "product"}


def test_slots_not_filled_from_an_entity_are_reported(imported: tuple[dict, Path]) -> None:
    summary, _ = imported

    assert warnings_about(summary, "not imported: slot return_reason (from_text)")
    assert warnings_about(summary, "not imported: slot logged_in (custom)")
    # product is filled from an entity Frontdesk's rules do not extract.
    assert warnings_about(summary, "slot product", "entity product")


def test_a_form_maps_its_required_slots_to_the_action_run_after_it(
    imported: tuple[dict, Path],
) -> None:
    summary, out = imported
    domain = Domain.load(out / "domain.yml")

    assert domain.intent_actions["return_item"] == "action_submit_return"
    assert domain.required_slots == {"action_submit_return": ("order_id", "email")}
    assert warnings_about(summary, "form return_form", "return_reason")
    assert warnings_about(summary, "utter_return_submitted before action_submit_return")


def test_a_form_without_a_submit_step_is_a_warning(project: Path, tmp_path: Path) -> None:
    rules = RULES[: RULES.index("- rule: Submit the return form")]
    write(project / "data" / "rules.yml", rules)

    summary = import_rasa_project(project, tmp_path / "out")

    assert "return_item" not in summary["actions"]
    assert summary["required_slots"] == {}
    assert warnings_about(summary, "form return_form", "no rule or story says what runs")


def test_without_rules_or_stories_responses_are_matched_by_name(
    project: Path, tmp_path: Path
) -> None:
    (project / "data" / "rules.yml").unlink()
    (project / "data" / "stories.yml").unlink()

    summary = import_rasa_project(project, tmp_path / "out")

    assert summary["responses"]["greet"] == "utter_greet"
    assert summary["responses"]["goodbye"] == "utter_goodbye"
    assert "mood_great" not in summary["responses"]
    assert summary["responses"]["happy"] == "utter_happy"
    assert summary["actions"] == {}


def test_nlu_data_split_over_files_is_merged_without_repeats(project: Path, tmp_path: Path) -> None:
    write(project / "data" / "nlu" / "more.yml", MORE_NLU)

    summary = import_rasa_project(project, tmp_path / "out")

    examples = load_examples(tmp_path / "out" / "nlu.yml")
    greets = [e.text for e in examples if e.label == "greet"]
    assert greets == ["hey", "hello", "hi", "hello there", "good morning", "hiya"]
    assert "have a nice day" in {e.text for e in examples if e.label == "goodbye"}
    assert "data/nlu/more.yml" in summary["read"]
    assert warnings_about(summary, "dropped 1 repeated example")


def test_a_domain_folder_is_merged(project: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(DOMAIN)
    (project / "domain.yml").unlink()
    responses = {"responses": data.pop("responses")}
    write(project / "domain" / "core.yml", yaml.safe_dump(data))
    write(project / "domain" / "responses.yml", yaml.safe_dump(responses))

    summary = import_rasa_project(project, tmp_path / "out")

    assert summary["responses"]["goodbye"] == "utter_goodbye"
    assert summary["actions"]["order_status"] == "action_check_order_status"
    assert {"domain/core.yml", "domain/responses.yml"} <= set(summary["read"])


def test_existing_files_are_not_overwritten_without_force(
    project: Path, imported: tuple[dict, Path]
) -> None:
    _, out = imported
    (out / "responses.yml").write_text("greet: [hand-edited]\n", encoding="utf-8")

    with pytest.raises(DataFileError) as caught:
        import_rasa_project(project, out)

    assert caught.value.path == str(out / "nlu.yml")
    assert "--force" in str(caught.value)
    assert (out / "responses.yml").read_text(encoding="utf-8") == "greet: [hand-edited]\n"

    import_rasa_project(project, out, overwrite=True)
    assert "hand-edited" not in (out / "responses.yml").read_text(encoding="utf-8")


def test_the_rasa_projects_own_files_are_never_overwritten(project: Path) -> None:
    with pytest.raises(DataFileError, match="a file of the Rasa project") as caught:
        import_rasa_project(project, project, overwrite=True)

    assert caught.value.path == str(project / "domain.yml")
    assert (project / "domain.yml").read_text(encoding="utf-8") == DOMAIN
    with pytest.raises(DataFileError, match="a file of the Rasa project"):
        import_rasa_project(project, project / "data", overwrite=True)
    assert (project / "data" / "nlu.yml").read_text(encoding="utf-8") == NLU


def test_a_failed_import_writes_nothing(project: Path, tmp_path: Path) -> None:
    write(project / "data" / "stories.yml", "stories:\n- story: x\n  steps:\n  - intent: [a\n")
    out = tmp_path / "out"

    with pytest.raises(DataFileError):
        import_rasa_project(project, out)

    assert not out.exists() or list(out.iterdir()) == []


def test_broken_yaml_is_reported_with_the_file_and_line(project: Path, tmp_path: Path) -> None:
    broken = DOMAIN.replace('  - text: "Bye"\n', '  - text: "Bye"\n   bad: indentation\n')
    path = write(project / "domain.yml", broken)
    line = broken.splitlines().index("   bad: indentation") + 1

    with pytest.raises(DataFileError) as caught:
        import_rasa_project(project, tmp_path / "out")

    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert caught.value.fix


def test_a_section_of_the_wrong_shape_is_an_error_with_its_line(
    project: Path, tmp_path: Path
) -> None:
    path = write(project / "data" / "nlu.yml", 'version: "3.1"\n\nnlu:\n  intent: greet\n')

    with pytest.raises(DataFileError) as caught:
        import_rasa_project(project, tmp_path / "out")

    assert caught.value.path == str(path)
    assert caught.value.line == 3
    assert caught.value.field == "nlu"


def test_a_folder_without_nlu_data_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    write(root / "data" / "rules.yml", RULES)

    with pytest.raises(DataFileError, match="no Rasa NLU data"):
        import_rasa_project(root, tmp_path / "out")
    with pytest.raises(DataFileError, match="not found"):
        import_rasa_project(tmp_path / "missing", tmp_path / "out")


def test_odd_content_is_a_warning_not_a_crash(project: Path, tmp_path: Path) -> None:
    write(
        project / "data" / "odd.yml",
        """\
nlu:
- intent: greet
  examples: |
    - hey there
    this line has no dash
- lookup: country
  examples: |
    - France
- 42
stories:
- story: a story without steps
- story: end to end
  steps:
  - user: hello
  - bot: hi!
""",
    )
    write(project / "data" / "old_nlu.md", "## intent:greet\n- hey\n")
    write(project / "data" / "README.md", "## How this bot's data is organised\n")
    text = (project / "domain.yml").read_text(encoding="utf-8")
    text = text.replace(
        "  utter_iamabot:\n",
        '  utter_balance:\n  - text: "Your balance is {amount:.2f} EUR."\n'
        "  utter_attachment:\n  - attachment: {type: file, url: x}\n"
        "  utter_iamabot:\n",
    )
    write(project / "domain.yml", text + "\nmy_plugin_settings: {a: 1}\n")

    summary = import_rasa_project(project, tmp_path / "out")

    assert "hey there" in {e.text for e in load_examples(tmp_path / "out" / "nlu.yml")}
    for needle in (
        "example line without '- '",
        "not imported: lookup 'country'",
        "not imported: an nlu item that is int",
        "a story without a list of steps",
        "end-to-end user text",
        "utter_balance: not imported: variant 1",
        "utter_attachment: not imported",
        "unknown section 'my_plugin_settings:'",
        "data/old_nlu.md: not imported: Rasa 1 training data",
    ):
        assert warnings_about(summary, needle), needle
    assert "balance" not in summary["responses"]
    assert not warnings_about(summary, "README.md")
    ResponseTemplates.load(tmp_path / "out" / "responses.yml")


def test_notes_point_at_the_action_server_and_training(imported: tuple[dict, Path]) -> None:
    summary, _ = imported

    notes = " ".join(summary["notes"])
    assert 'action_server_url = "http://localhost:5055/webhook"' in notes
    assert "frontdesk train intent" in notes
    assert warnings_about(summary, "domain.yml:", "not imported: validate_return_form")


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


def test_retrieval_intents_are_answered_by_their_own_responses(
    project: Path, tmp_path: Path
) -> None:
    write(project / "data" / "chitchat.yml", CHITCHAT)
    text = (project / "domain.yml").read_text(encoding="utf-8")
    write(project / "domain.yml", text.replace("  - inform\n", "  - inform\n  - chitchat\n"))

    summary = import_rasa_project(project, tmp_path / "out")

    assert summary["responses"]["chitchat/ask_name"] == "utter_chitchat/ask_name"
    templates = ResponseTemplates.load(tmp_path / "out" / "responses.yml")
    rendered = templates.render("chitchat/ask_weather")
    assert rendered is not None and rendered.text == "I can't see outside, sorry!"
    assert not warnings_about(summary, "intent chitchat ")


def test_an_example_under_two_intents_is_reported(project: Path, tmp_path: Path) -> None:
    write(project / "data" / "nlu" / "extra.yml", MORE_NLU.replace("hiya", "great"))

    summary = import_rasa_project(project, tmp_path / "out")

    assert warnings_about(summary, "'great' is labelled greet and mood_great")
