"""retrieval.templates: responses picked and filled as Rasa 3 picks and fills them, and the
stricter filler for answers from the Q&A index."""

from __future__ import annotations

import logging
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from retrieval.base.datafiles import DataFileError
from retrieval.templates import Button, RenderedResponse, ResponseTemplates, fill_text
from retrieval.templates.interpolation import interpolate, normalise_slot_name
from tests.retrieval.helpers import write

RESPONSES = """\
order_status:
  - "Order {order_id} is {order_status}, arriving {eta}."
  - "What is your order number?"
refund:
  - text: "Your refund of {amount} for order {order_id} is on its way."
    buttons:
      - {title: "Track order {order_id}", payload: '/track{{"order_id": "{order_id}"}}'}
    image: "https://example.com/{order_id}.png"
    custom: {kind: refund, order: "{order_id}", lines: [{id: "{order_id}", qty: 2}]}
    attachment: {type: file, url: "https://example.com/{order_id}.pdf"}
    quick_replies: [{title: "Refund {amount}?", payload: /affirm}]
greet:
  - "Hello!"
  - "Hi there!"
ask_email:
  - "Which e-mail is order {order_id} under?"
"""


@pytest.fixture
def templates(tmp_path: Path) -> ResponseTemplates:
    return ResponseTemplates.load(
        write(tmp_path / "responses.yml", RESPONSES), rng=random.Random(7)
    )


def domain(responses: str) -> ResponseTemplates:
    """A Rasa domain's responses section, as the runtime hands it over."""
    return ResponseTemplates.from_mapping(yaml.safe_load(responses), rng=random.Random(3))


def texts(templates: ResponseTemplates, key: str, n: int = 60, **kwargs: Any) -> Counter[str]:
    rendered = (templates.render(key, **kwargs) for _ in range(n))
    return Counter(r.text for r in rendered if r is not None)


# Variations --------------------------------------------------------------------------------


def test_variations_are_picked_at_random_and_reproducibly_with_a_seeded_rng(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "responses.yml", RESPONSES)
    first = ResponseTemplates.load(path, rng=random.Random(1))
    again = ResponseTemplates.load(path, rng=random.Random(1))

    picks = [first.render("greet") for _ in range(40)]
    assert {p.text for p in picks if p} == {"Hello!", "Hi there!"}
    assert picks == [again.render("greet") for _ in range(40)]


def test_turn_picks_the_candidates_in_order_for_repeatable_callers(
    templates: ResponseTemplates,
) -> None:
    rendered = [templates.render("greet", {}, turn=turn) for turn in range(3)]
    assert [r.text for r in rendered if r] == ["Hello!", "Hi there!", "Hello!"]


def test_a_variant_whose_placeholders_all_have_values_is_preferred(
    templates: ResponseTemplates,
) -> None:
    # Without them Rasa could say "Order None is None": the plain variant answers instead.
    assert set(texts(templates, "order_status", slots={"order_id": "NW-1"})) == {
        "What is your order number?"
    }


def test_variants_without_gaps_are_all_candidates_as_in_rasa(
    templates: ResponseTemplates,
) -> None:
    slots = {"order_id": "NW-1", "order_status": "shipped", "eta": "Friday"}
    assert set(texts(templates, "order_status", slots=slots)) == {
        "Order NW-1 is shipped, arriving Friday.",
        "What is your order number?",
    }


def test_a_blank_slot_counts_as_no_value_when_choosing(templates: ResponseTemplates) -> None:
    slots = {"order_id": "NW-1", "order_status": " ", "eta": "Friday"}
    assert set(texts(templates, "order_status", slots=slots)) == {"What is your order number?"}


def test_render_of_an_unknown_key_is_none(templates: ResponseTemplates) -> None:
    assert templates.render("no_such_intent", {}) is None
    assert templates.missing_slots("no_such_intent", {}) == set()


# Conditional variations ----------------------------------------------------------------------

GREETINGS = """\
utter_greet:
  - text: "Welcome back, {name}!"
    condition: [{type: slot, name: logged_in, value: true}]
  - text: "Hey {name}, you're a VIP!"
    condition:
      - {type: slot, name: logged_in, value: true}
      - {type: slot, name: tier, value: gold}
  - text: "Hello, stranger."
  - text: "Hi!"
"""


def test_conditional_variation_wins_when_its_slot_matches() -> None:
    templates = domain(GREETINGS)
    assert set(texts(templates, "utter_greet", slots={"logged_in": True, "name": "Ada"})) == {
        "Welcome back, Ada!"
    }


def test_every_condition_of_a_variation_must_hold_and_strings_compare_casefolded() -> None:
    templates = domain(GREETINGS)
    slots = {"logged_in": True, "tier": "GOLD", "name": "Ada"}
    assert set(texts(templates, "utter_greet", slots=slots)) == {
        "Welcome back, Ada!",
        "Hey Ada, you're a VIP!",
    }


def test_unconditional_variations_answer_when_no_condition_holds() -> None:
    templates = domain(GREETINGS)
    assert set(texts(templates, "utter_greet", slots={"logged_in": False})) == {
        "Hello, stranger.",
        "Hi!",
    }
    # A string "true" is not the boolean true (only strings compare case-insensitively).
    assert "Welcome back, Ada!" not in texts(
        templates, "utter_greet", slots={"logged_in": "true", "name": "Ada"}
    )


def test_a_null_condition_value_matches_a_slot_that_is_not_set() -> None:
    templates = domain(
        "utter_x:\n"
        "  - text: Tell me your order number.\n"
        "    condition: [{type: slot, name: order_id, value: null}]\n"
        "  - text: Order {order_id} it is.\n"
    )
    assert set(texts(templates, "utter_x", slots={})) == {"Tell me your order number."}
    assert set(texts(templates, "utter_x", slots={"order_id": "NW-1"})) == {"Order NW-1 it is."}


def test_conditions_read_slots_only_not_the_values_passed_with_the_call() -> None:
    templates = domain(GREETINGS)
    picked = texts(templates, "utter_greet", slots={}, values={"logged_in": True})
    assert set(picked) == {"Hello, stranger.", "Hi!"}


# Channels ----------------------------------------------------------------------------------

CHANNELS = """\
utter_bye:
  - text: "Bye from the widget"
    channel: widget
  - text: "Bye, VIP widget user"
    channel: widget
    condition: [{type: slot, name: vip, value: true}]
  - text: "Bye, VIP"
    condition: [{type: slot, name: vip, value: true}]
  - text: "Bye"
"""


def test_channel_variants_are_used_only_on_their_channel() -> None:
    templates = domain(CHANNELS)
    assert set(texts(templates, "utter_bye")) == {"Bye"}
    assert set(texts(templates, "utter_bye", channel="collector")) == {"Bye"}
    assert set(texts(templates, "utter_bye", channel="widget")) == {"Bye from the widget"}


def test_a_matching_conditional_channel_variant_beats_everything_else() -> None:
    templates = domain(CHANNELS)
    vip = {"vip": True}
    assert set(texts(templates, "utter_bye", slots=vip, channel="widget")) == {
        "Bye, VIP widget user"
    }
    # Rasa's order: a channel variant (even unconditional) before a channel-less conditional.
    templates = domain(
        "utter_bye:\n  - {text: Widget bye, channel: widget}\n"
        "  - {text: VIP bye, condition: [{type: slot, name: vip, value: true}]}\n"
    )
    assert set(texts(templates, "utter_bye", slots=vip, channel="widget")) == {"Widget bye"}
    assert set(texts(templates, "utter_bye", slots=vip)) == {"VIP bye"}


def test_a_response_with_only_variants_for_other_channels_renders_nothing() -> None:
    templates = domain("utter_slack:\n  - {text: Slack only, channel: slack}\n")
    assert templates.render("utter_slack", {}, channel="collector") is None


# Interpolation -----------------------------------------------------------------------------


def test_hyphenated_slot_names_are_placeholders_as_in_rasa() -> None:
    templates = domain(
        "utter_ask_amount:\n"
        '  - text: "Pay {currency}{amount-of-money} to {PERSON}?"\n'
        "    buttons:\n"
        '      - {title: "Yes, {amount-of-money}", payload: "/affirm"}\n'
    )
    slots = {"currency": "$", "amount-of-money": 50.0, "PERSON": "Ada"}
    rendered = templates.render("utter_ask_amount", slots)
    assert rendered is not None
    assert rendered.text == "Pay $50.0 to Ada?"
    assert rendered.buttons == (Button("Yes, 50.0", "/affirm"),)


def test_missing_slot_renders_none_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    templates = domain('utter_hi:\n  - text: "Hi {name}, you have {count} messages"\n')
    with caplog.at_level(logging.WARNING, logger="retrieval.templates"):
        rendered = templates.render("utter_hi", {"name": None, "count": 3})
    assert rendered is not None and rendered.text == "Hi None, you have 3 messages"
    assert any("utter_hi" in r.message and "name" in r.message for r in caplog.records)


def test_a_placeholder_that_is_no_slot_or_value_leaves_the_string_as_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    templates = domain('utter_hi:\n  - text: "Hi {name}, about {nickname}"\n')
    with caplog.at_level(logging.WARNING, logger="retrieval.templates"):
        rendered = templates.render("utter_hi", {"name": "Ada"})
    assert rendered is not None and rendered.text == "Hi {name}, about {nickname}"
    assert any("utter_hi" in r.message and "nickname" in r.message for r in caplog.records)


def test_values_passed_with_the_call_fill_ahead_of_slots() -> None:
    templates = domain('utter_paid:\n  - text: "Paid {amount} to {PERSON}"\n')
    rendered = templates.render(
        "utter_paid", {"amount": 1, "PERSON": "Ada"}, values={"amount": "€20"}
    )
    assert rendered is not None and rendered.text == "Paid €20 to Ada"


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("{flag} {ratio} {items}", {"flag": True, "ratio": 2.0, "items": ["a"]}, "True 2.0 ['a']"),
        ("Literal {{braces}}", {"braces": "x"}, "Literal {braces}"),
        ("{name}: {{x}}", {"name": "Ada"}, "{name}: {{x}}"),  # Rasa's quirk: left as written
        ('/inform{"amount": 5}', {"amount": 5}, '/inform{"amount": 5}'),
        ("Hi {name", {"name": "Ada"}, "Hi {name"),
        ("Hi {name}", {}, "Hi {name}"),
        ("{a.b} {c d}", {"a.b": 1, "c d": 2}, "1 2"),
    ],
)
def test_interpolate_matches_rasas_interpolator(
    template: str, values: dict[str, Any], expected: str
) -> None:
    assert interpolate(template, values) == expected


def test_interpolation_reaches_buttons_image_custom_attachment_and_quick_replies(
    templates: ResponseTemplates,
) -> None:
    rendered = templates.render("refund", {"order_id": "NW-7", "amount": "€20"})
    assert rendered == RenderedResponse(
        text="Your refund of €20 for order NW-7 is on its way.",
        buttons=(Button("Track order NW-7", '/track{"order_id": "NW-7"}'),),
        image="https://example.com/NW-7.png",
        custom={"kind": "refund", "order": "NW-7", "lines": [{"id": "NW-7", "qty": 2}]},
        attachment={"type": "file", "url": "https://example.com/NW-7.pdf"},
        quick_replies=({"title": "Refund €20?", "payload": "/affirm"},),
    )
    assert rendered.to_message() == {
        "text": "Your refund of €20 for order NW-7 is on its way.",
        "buttons": [{"title": "Track order NW-7", "payload": '/track{"order_id": "NW-7"}'}],
        "image": "https://example.com/NW-7.png",
        "custom": {"kind": "refund", "order": "NW-7", "lines": [{"id": "NW-7", "qty": 2}]},
        "attachment": {"type": "file", "url": "https://example.com/NW-7.pdf"},
        "quick_replies": [{"title": "Refund €20?", "payload": "/affirm"}],
    }


def test_a_variants_id_and_metadata_travel_for_the_bot_event() -> None:
    templates = domain(
        "utter_x:\n  - text: Hi\n    id: hi-1\n    metadata: {rephrase: true}\n"
        "    elements: [{title: A}]\n"
    )
    rendered = templates.render("utter_x", {})
    assert rendered is not None
    assert rendered.event_metadata == {"id": "hi-1", "metadata": {"rephrase": True}}
    assert rendered.elements == ({"title": "A"},)


def test_missing_slots_names_what_the_best_candidate_lacks(
    templates: ResponseTemplates,
) -> None:
    assert templates.missing_slots("ask_email", {}) == {"order_id"}
    assert templates.missing_slots("ask_email", {"order_id": "NW-1"}) == set()
    assert templates.missing_slots("refund", {"order_id": "NW-1"}) == {"amount"}


def test_no_variant_filled_still_answers_as_rasa_does(templates: ResponseTemplates) -> None:
    rendered = templates.render("ask_email", {})
    assert rendered is not None and rendered.text == "Which e-mail is order {order_id} under?"


# fill_text (answers from the Q&A index) -------------------------------------------------------


def test_fill_text_maps_order_number_placeholder_to_order_id_slot() -> None:
    assert fill_text("Order {{Order Number}} shipped.", {"order_id": "NW-1"}) == (
        "Order NW-1 shipped."
    )
    assert fill_text("Order {{ order number }}.", {"Order_Number": 12}) == "Order 12."
    assert fill_text("{order_number}", {"order_id": "NW-2"}) == "NW-2"


def test_fill_text_never_leaves_a_placeholder_in_the_text() -> None:
    assert fill_text("Order {{Order Number}} for {name}.", {"name": "Ann"}) is None
    assert fill_text("Hi {name}", {"name": None}) is None
    assert fill_text("Hi {name}", {"name": []}) is None
    assert fill_text("No slots here.", {}) == "No slots here."


def test_fill_text_does_not_reinterpret_braces_inside_slot_values() -> None:
    assert fill_text("You wrote: {message}", {"message": "{order_id}"}) == "You wrote: {order_id}"


def test_normalise_slot_name_lowercases_and_joins_words() -> None:
    assert normalise_slot_name(" Customer Support-Phone Number ") == (
        "customer_support_phone_number"
    )


# Loading -----------------------------------------------------------------------------------


def test_load_accepts_a_rasa_domain_responses_section(tmp_path: Path) -> None:
    path = write(tmp_path / "domain.yml", 'responses:\n  utter_greet:\n    - text: "Hey!"\n')
    rendered = ResponseTemplates.load(path).render("utter_greet", {})
    assert rendered is not None and rendered.text == "Hey!"


def test_load_accepts_every_key_of_a_rasa_response_variant() -> None:
    templates = domain(
        "utter_all:\n"
        "  - text: 42\n"
        "    buttons: [{title: One, payload: 1}]\n"
        "    image: https://example.com/a.png\n"
        "    custom: {a: 1}\n"
        "    attachment: https://example.com/a.pdf\n"
        "    quick_replies: [{title: Q, payload: /q}]\n"
        "    elements: [{title: E}]\n"
        "    condition: [{type: slot, name: s, value: 1}]\n"
        "    channel: socketio\n"
        "    id: all-1\n"
        "    metadata: {k: v}\n"
        "  - buttons: [{title: Only buttons, payload: /b}]\n"
    )
    rendered = templates.render("utter_all", {"s": 1}, channel="socketio")
    assert rendered is not None and rendered.text == "42"
    assert rendered.buttons == (Button("One", "1"),)


CONDITION_FIX = "write condition: [{type: slot, name: <slot name>, value: <value>}]"


@pytest.mark.parametrize(
    ("yaml_text", "line", "key", "problem"),
    [
        ("greet: Hello\n", 1, "greet", "expected a non-empty list of variants"),
        ("greet:\n  - Hi\nbye:\n  - {txt: Bye}\n", 3, "bye", "unsupported key(s) txt"),
        (
            "ok:\n  - Hi\norder:\n  - Order {{Order Number} is late\n",
            3,
            "order",
            "'Order {{Order Number} is late' is not a valid template: its braces do not pair",
        ),
        (
            "order:\n  - Order {} is late\n",
            1,
            "order",
            "it has an empty placeholder {}",
        ),
        (
            "greet:\n  - text: Hi\n    buttons: [{title: Yes}]\n",
            1,
            "greet",
            "button 1 needs a text title and payload",
        ),
        (
            "ok:\n  - Hi\nutter_x:\n  - text: Hi\n    condition: {slot: logged_in}\n",
            3,
            "utter_x",
            "variant 1: condition is not a list",
        ),
        (
            "utter_x:\n  - Hi\n  - text: Yo\n    condition: [{type: slot, value: true}]\n",
            1,
            "utter_x",
            "variant 2, condition 1 names no slot",
        ),
        (
            "utter_x:\n  - text: Yo\n    condition: [{type: slot, name: vip}]\n",
            1,
            "utter_x",
            "variant 1, condition 1 has no value for slot vip",
        ),
        (
            "utter_x:\n  - text: Yo\n    condition: [{type: intent, name: greet, value: 1}]\n",
            1,
            "utter_x",
            "variant 1, condition 1: type 'intent' is not supported",
        ),
        (
            "utter_x:\n  - text: Yo\n    condition: []\n",
            1,
            "utter_x",
            "variant 1: condition is an empty list",
        ),
        (
            "utter_x:\n  - text: Yo\n    channel: [slack]\n",
            1,
            "utter_x",
            "variant 1: channel is not a channel name",
        ),
    ],
)
def test_load_reports_the_key_line_and_fix_of_a_bad_response(
    tmp_path: Path, yaml_text: str, line: int, key: str, problem: str
) -> None:
    path = write(tmp_path / "responses.yml", yaml_text)
    with pytest.raises(DataFileError) as caught:
        ResponseTemplates.load(path)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), line, key)
    assert problem in caught.value.problem
    assert caught.value.fix


def test_a_bad_condition_says_how_to_write_one(tmp_path: Path) -> None:
    path = write(
        tmp_path / "domain.yml", "responses:\n  utter_x:\n    - {text: Yo, condition: [1]}\n"
    )
    with pytest.raises(DataFileError) as caught:
        ResponseTemplates.load(path)
    assert caught.value.field == "utter_x"
    assert caught.value.fix == CONDITION_FIX
    assert "utter_x" in str(caught.value) and str(path) in str(caught.value)


def test_load_reports_invalid_yaml_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "responses.yml", "greet:\n  - Hi\n bad: [\n")
    with pytest.raises(DataFileError, match="invalid YAML") as caught:
        ResponseTemplates.load(path)
    assert caught.value.line is not None


def test_load_reports_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="the file is empty"):
        ResponseTemplates.load(write(tmp_path / "responses.yml", "# nothing yet\n"))
