"""bot.chat.entities: rule-based order numbers, e-mails, amounts and dates in Rasa's entity shape."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bot.chat.entities import EXTRACTOR, extract, normalise_order_id

TODAY = date(2024, 5, 10)


def values(text: str, entity: str, **kwargs: Any) -> list[Any]:
    return [e["value"] for e in extract(text, today=TODAY, **kwargs) if e["entity"] == entity]


@pytest.mark.parametrize(
    "text",
    ["Where is NW-10482?", "where is nw 10482", "order NW10482 please", "nw-10482", "Nw10482."],
)
def test_order_numbers_in_loose_forms_normalise_to_nw_dash_digits(text: str) -> None:
    assert values(text, "order_id") == ["NW-10482"]


def test_entity_has_rasa_shape_with_span_of_the_matched_text() -> None:
    text = "my order is nw 10482 thanks"

    [entity] = extract(text)

    assert entity == {
        "entity": "order_id",
        "value": "NW-10482",
        "start": 12,
        "end": 20,
        "confidence_entity": 1.0,
        "extractor": "RegexEntityExtractor",
    }
    assert text[entity["start"] : entity["end"]] == "nw 10482"
    assert EXTRACTOR == "RegexEntityExtractor"


def test_a_bare_five_digit_number_is_not_an_order_number_unless_one_was_asked_for() -> None:
    assert values("I bought 12345 screws", "order_id") == []
    assert values("12345", "order_id", expecting="order_id") == ["NW-12345"]
    assert values("it's #12345", "order_id", expecting="order_id") == ["NW-12345"]


def test_a_bare_order_number_at_the_end_of_a_sentence_is_found() -> None:
    assert values("My order is 12345.", "order_id", expecting="order_id") == ["NW-12345"]
    assert values("It's 12345, thanks", "order_id", expecting="order_id") == ["NW-12345"]


@pytest.mark.parametrize("text", ["123456", "1234", "12345.67", "12,345", "AB12345", "12-12345"])
def test_numbers_that_are_not_five_digits_on_their_own_are_not_order_numbers(text: str) -> None:
    assert values(text, "order_id", expecting="order_id") == []


def test_an_explicit_order_number_wins_over_a_bare_number_when_one_is_expected() -> None:
    assert values("NW-10482 not 55555", "order_id", expecting="order_id") == ["NW-10482"]


def test_six_digit_nw_numbers_are_not_order_numbers() -> None:
    assert values("NW-104823", "order_id") == []


def test_normalise_order_id_prefixes_nw() -> None:
    assert normalise_order_id("00042") == "NW-00042"


def test_email_addresses_are_found_and_lowercased() -> None:
    [entity] = extract("write to Jane.Doe+shop@Example.co.uk please")

    assert entity["entity"] == "email"
    assert entity["value"] == "jane.doe+shop@example.co.uk"
    assert (entity["start"], entity["end"]) == (9, 36)


def test_an_order_number_inside_an_email_address_is_part_of_the_address() -> None:
    found = extract("nw10482@example.com")

    assert [e["entity"] for e in found] == ["email"]


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("it cost €25", {"value": 25.0, "currency": "EUR"}),
        ("it cost $19.99", {"value": 19.99, "currency": "USD"}),
        ("it cost £5", {"value": 5.0, "currency": "GBP"}),
        ("it cost EUR 25", {"value": 25.0, "currency": "EUR"}),
        ("it cost 25 EUR", {"value": 25.0, "currency": "EUR"}),
        ("it cost 12,50 €", {"value": 12.5, "currency": "EUR"}),
        ("it cost 30 dollars", {"value": 30.0, "currency": "USD"}),
        ("it cost 2 pounds", {"value": 2.0, "currency": "GBP"}),
        ("it cost 1 euro", {"value": 1.0, "currency": "EUR"}),
        ("it cost 7 usd", {"value": 7.0, "currency": "USD"}),
        ("refund $1,234.56 please", {"value": 1234.56, "currency": "USD"}),
    ],
)
def test_amounts_carry_a_number_and_an_iso_currency_code(text: str, amount: Any) -> None:
    assert values(text, "amount") == [amount]


def test_an_amount_span_covers_the_whole_currency_word() -> None:
    text = "about 25 euros"

    [entity] = extract(text)

    assert text[entity["start"] : entity["end"]] == "25 euros"


@pytest.mark.parametrize("text", ["2 eurostar tickets", "I paid $19.999", "costs 19.999 EUR"])
def test_numbers_that_only_look_like_amounts_are_not_amounts(text: str) -> None:
    assert values(text, "amount") == []


def test_iso_dates_are_found_and_impossible_ones_skipped() -> None:
    assert values("delivered 2024-05-03 or 2024-02-30?", "date") == ["2024-05-03"]


def test_relative_dates_resolve_against_today() -> None:
    assert values("Yesterday, today or TOMORROW", "date") == [
        "2024-05-09",
        "2024-05-10",
        "2024-05-11",
    ]


def test_relative_dates_default_to_the_real_today() -> None:
    [entity] = extract("today")

    assert entity["value"] == date.today().isoformat()


def test_several_entities_come_back_in_text_order() -> None:
    text = "NW-10482 cost $20 on 2024-05-01, mail me at a@b.io"

    found = extract(text, today=TODAY)

    assert [(e["entity"], e["value"]) for e in found] == [
        ("order_id", "NW-10482"),
        ("amount", {"value": 20.0, "currency": "USD"}),
        ("date", "2024-05-01"),
        ("email", "a@b.io"),
    ]
    assert [e["start"] for e in found] == sorted(e["start"] for e in found)
    for entity in found:
        assert entity["extractor"] == "RegexEntityExtractor"
        assert set(entity) == {"entity", "value", "start", "end", "confidence_entity", "extractor"}


def test_text_without_entities_gives_an_empty_list() -> None:
    assert extract("hello, how are you?") == []
