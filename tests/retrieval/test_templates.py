from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.base.datafiles import DataFileError
from retrieval.templates import (
    Button,
    RenderedResponse,
    ResponseTemplates,
    fill_text,
    normalise_slot_name,
)
from tests.retrieval.helpers import write

RESPONSES = """\
order_status:
  - "Order {order_id} is {order_status}, arriving {eta}."
  - "Order {order_id} is {order_status}."
  - "What is your order number?"
refund:
  - text: "Your refund of {amount} for order {{Order Number}} is on its way."
    buttons:
      - {title: "Track order {order_id}", payload: '/track{"order_id": "{order_id}"}'}
    image: "https://example.com/refund.png"
    custom: {kind: refund, order: "{order_id}"}
greet:
  - "Hello!"
  - "Hi there!"
ask_email:
  - "Which e-mail is order {order_id} under?"
  - "We will write to {email} about {order_id}."
"""


@pytest.fixture
def templates(tmp_path: Path) -> ResponseTemplates:
    return ResponseTemplates.load(write(tmp_path / "responses.yml", RESPONSES))


def test_render_prefers_the_variant_that_uses_the_most_filled_slots(
    templates: ResponseTemplates,
) -> None:
    slots = {"order_id": "NW-1", "order_status": "shipped", "eta": "Friday"}
    rendered = templates.render("order_status", slots)
    assert rendered == RenderedResponse("Order NW-1 is shipped, arriving Friday.")
    two_slots = templates.render("order_status", {"order_id": "NW-1", "order_status": "shipped"})
    assert two_slots is not None and two_slots.text == "Order NW-1 is shipped."


def test_render_treats_empty_slots_as_missing(templates: ResponseTemplates) -> None:
    rendered = templates.render("order_status", {"order_id": "NW-1", "order_status": " "})
    assert rendered is not None and rendered.text == "What is your order number?"


def test_render_rotates_between_equally_good_variants_by_turn(
    templates: ResponseTemplates,
) -> None:
    texts = [templates.render("greet", {}, turn=turn) for turn in range(3)]
    assert [r.text for r in texts if r] == ["Hello!", "Hi there!", "Hello!"]


def test_render_of_an_unknown_key_is_none(templates: ResponseTemplates) -> None:
    assert templates.render("no_such_intent", {}) is None
    assert templates.missing_slots("no_such_intent", {}) == set()


def test_render_returns_none_and_names_the_missing_slot_when_no_variant_fits(
    templates: ResponseTemplates,
) -> None:
    assert templates.render("ask_email", {}) is None
    assert templates.missing_slots("ask_email", {}) == {"order_id"}
    assert templates.missing_slots("ask_email", {"order_id": "NW-1"}) == set()
    assert templates.missing_slots("refund", {"order_id": "NW-1"}) == {"amount"}


def test_render_fills_bitext_placeholders_buttons_image_and_custom(
    templates: ResponseTemplates,
) -> None:
    rendered = templates.render("refund", {"order_id": "NW-7", "amount": "€20"})
    assert rendered == RenderedResponse(
        text="Your refund of €20 for order NW-7 is on its way.",
        buttons=(Button("Track order NW-7", '/track{"order_id": "NW-7"}'),),
        image="https://example.com/refund.png",
        custom={"kind": "refund", "order": "NW-7"},
    )
    assert rendered.to_message()["buttons"] == [
        {"title": "Track order NW-7", "payload": '/track{"order_id": "NW-7"}'}
    ]


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


def test_load_accepts_a_rasa_domain_responses_section(tmp_path: Path) -> None:
    path = write(tmp_path / "domain.yml", 'responses:\n  utter_greet:\n    - text: "Hey!"\n')
    rendered = ResponseTemplates.load(path).render("utter_greet", {})
    assert rendered is not None and rendered.text == "Hey!"


@pytest.mark.parametrize(
    ("yaml_text", "line", "key", "problem"),
    [
        ("greet: Hello\n", 1, "greet", "expected a non-empty list of variants"),
        ("greet:\n  - Hi\nbye:\n  - {txt: Bye}\n", 3, "bye", "unsupported key(s) txt"),
        (
            "ok:\n  - Hi\norder:\n  - Order {{Order Number} is late\n",
            3,
            "order",
            "'{{' in 'Order {{Order Number} is late' is not a valid placeholder",
        ),
        (
            "order:\n  - Order {order id} is late\n",
            1,
            "order",
            "'{order id}' in 'Order {order id} is late' is not a valid placeholder",
        ),
        (
            "greet:\n  - text: Hi\n    buttons: [{title: Yes}]\n",
            1,
            "greet",
            "button 1 needs a text title and payload",
        ),
    ],
)
def test_load_reports_the_key_line_and_fix_of_a_bad_response(
    tmp_path: Path, yaml_text: str, line: int, key: str, problem: str
) -> None:
    path = write(tmp_path / "responses.yml", yaml_text)
    with pytest.raises(DataFileError) as caught:
        ResponseTemplates.load(path)
    assert (caught.value.line, caught.value.field) == (line, key)
    assert problem in caught.value.problem
    assert caught.value.fix


def test_load_reports_invalid_yaml_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "responses.yml", "greet:\n  - Hi\n bad: [\n")
    with pytest.raises(DataFileError, match="invalid YAML") as caught:
        ResponseTemplates.load(path)
    assert caught.value.line is not None


def test_load_reports_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="the file is empty"):
        ResponseTemplates.load(write(tmp_path / "responses.yml", "# nothing yet\n"))
