"""bot.chat.entities: Frontdesk's order numbers and Duckling's built-ins, in Rasa's shapes.

Times are read against Duckling's own test reference, Tuesday 2013-02-12 04:30 at UTC-2, so
that the expected values can be checked against Duckling's English corpus.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.chat.entities import DUCKLING, EXTRACTOR, extract, normalise_order_id

NOW = datetime(2013, 2, 12, 4, 30, tzinfo=timezone(timedelta(hours=-2)))


def found(text: str, **kwargs: Any) -> list[tuple[str, Any]]:
    return [(e["entity"], e["value"]) for e in extract(text, now=NOW, **kwargs)]


def values(text: str, entity: str, **kwargs: Any) -> list[Any]:
    return [e["value"] for e in extract(text, now=NOW, **kwargs) if e["entity"] == entity]


def only(text: str, **kwargs: Any) -> dict[str, Any]:
    [entity] = extract(text, now=NOW, **kwargs)
    return entity


def at(day: str, clock: str = "00:00:00") -> str:
    return f"{day}T{clock}.000-02:00"


# -- order numbers (Frontdesk's own) ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Where is NW-10482?", "where is nw 10482", "order NW10482 please", "nw-10482", "Nw10482."],
)
def test_order_numbers_in_loose_forms_normalise_to_nw_dash_digits(text: str) -> None:
    assert values(text, "order_id") == ["NW-10482"]


def test_an_order_number_keeps_the_regex_extractors_shape() -> None:
    text = "my order is nw 10482 thanks"

    entity = only(text)

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


def test_an_order_numbers_digits_are_not_also_a_number() -> None:
    assert found("Where is NW-12345?") == [("order_id", "NW-12345")]


def test_a_bare_five_digit_number_is_an_order_number_only_when_one_was_asked_for() -> None:
    assert found("I bought 12345 screws") == [("number", 12345)]
    assert found("12345", expecting="order_id") == [("order_id", "NW-12345")]
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


# -- Duckling's shape ---------------------------------------------------------------------


def test_a_builtin_has_rasas_duckling_entity_shape_key_for_key() -> None:
    entity = only("for two people")

    assert entity == {
        "start": 4,
        "end": 7,
        "text": "two",
        "value": 2,
        "confidence": 1.0,
        "additional_info": {"value": 2, "type": "value"},
        "entity": "number",
        "extractor": "DucklingEntityExtractor",
    }
    assert list(entity) == list(only("a@b.io"))
    assert DUCKLING == "DucklingEntityExtractor"


# -- number -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("2", 2),
        ("two", 2),
        ("Twenty five", 25),
        ("twenty-five", 25),
        ("a dozen", 12),
        ("two dozen", 24),
        ("a hundred", 100),
        ("one hundred and five", 105),
        ("two thousand three hundred", 2300),
        ("a couple", 2),
        ("2,500", 2500),
        ("3.75", 3.75),
        ("2.5k", 2500),
        ("3 million", 3_000_000),
        ("-4", -4),
    ],
)
def test_numbers_in_digits_or_english_words(text: str, number: int | float) -> None:
    entity = only(text)

    assert (entity["entity"], entity["value"], entity["text"]) == ("number", number, text)
    assert entity["additional_info"] == {"value": number, "type": "value"}


def test_whole_numbers_are_ints_as_duckling_json_gives_them() -> None:
    assert type(only("2.0")["value"]) is int
    assert type(only("2.5")["value"]) is float


def test_number_words_out_of_order_are_separate_numbers() -> None:
    assert found("five twenty") == [("number", 5), ("number", 20)]


@pytest.mark.parametrize("text", ["version 1.2.3", "mp3", "someone", "often", "a b c"])
def test_no_number_inside_words_or_versions(text: str) -> None:
    assert found(text) == []


# -- amount-of-money ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("$50", 50, "$"),
        ("50 dollars", 50, "$"),
        ("€20.5", 20.5, "EUR"),
        ("EUR 30", 30, "EUR"),
        ("30EUR", 30, "EUR"),
        ("30 euros", 30, "EUR"),
        ("1 euro", 1, "EUR"),
        ("£5", 5, "£"),
        ("2 pounds", 2, "£"),
        ("7 usd", 7, "USD"),
        ("fifty bucks", 50, "unknown"),
        ("$1,234.56", 1234.56, "$"),
        ("12,50 €", 12.5, "EUR"),
        ("30 cents", 30, "cent"),
    ],
)
def test_amount_of_money_has_ducklings_value_and_unit(
    text: str, amount: int | float, unit: str
) -> None:
    entity = only(f"it cost {text}")

    assert entity["entity"] == "amount-of-money"
    assert entity["text"] == text
    assert entity["value"] == amount
    assert entity["additional_info"] == {"value": amount, "type": "value", "unit": unit}


def test_an_amount_of_money_value_is_the_number_and_the_unit_is_in_additional_info() -> None:
    assert only("send $100 to Lisa") == {
        "start": 5,
        "end": 9,
        "text": "$100",
        "value": 100,
        "confidence": 1.0,
        "additional_info": {"value": 100, "type": "value", "unit": "$"},
        "entity": "amount-of-money",
        "extractor": "DucklingEntityExtractor",
    }


def test_a_precision_word_belongs_to_the_amount() -> None:
    assert only("about 25 euros")["text"] == "about 25 euros"


@pytest.mark.parametrize(
    ("text", "value", "info"),
    [
        (
            "between 10 and 20 dollars",
            {"from": 10, "to": 20},
            {
                "type": "interval",
                "from": {"value": 10, "unit": "$"},
                "to": {"value": 20, "unit": "$"},
            },
        ),
        (
            "€10-€20",
            {"from": 10, "to": 20},
            {
                "type": "interval",
                "from": {"value": 10, "unit": "EUR"},
                "to": {"value": 20, "unit": "EUR"},
            },
        ),
        (
            "under $50",
            {"from": None, "to": 50},
            {"type": "interval", "to": {"value": 50, "unit": "$"}},
        ),
        (
            "at least 100 euros",
            {"from": 100, "to": None},
            {"type": "interval", "from": {"value": 100, "unit": "EUR"}},
        ),
    ],
)
def test_amount_intervals_have_ducklings_from_and_to(
    text: str, value: dict[str, Any], info: dict[str, Any]
) -> None:
    entity = only(text)

    assert (entity["entity"], entity["text"]) == ("amount-of-money", text)
    assert entity["value"] == value
    assert entity["additional_info"] == info


@pytest.mark.parametrize("text", ["2 eurostar tickets", "5 dollarstore items"])
def test_a_word_that_starts_with_a_currency_is_not_money(text: str) -> None:
    assert [e for e, _ in found(text)] == ["number"]


# -- time: moments ------------------------------------------------------------------------


def test_a_time_has_an_iso_value_with_offset_and_ducklings_additional_info() -> None:
    value = at("2013-02-13")

    assert only("tomorrow please") == {
        "start": 0,
        "end": 8,
        "text": "tomorrow",
        "value": value,
        "confidence": 1.0,
        "additional_info": {
            "values": [{"value": value, "grain": "day", "type": "value"}],
            "value": value,
            "grain": "day",
            "type": "value",
        },
        "entity": "time",
        "extractor": "DucklingEntityExtractor",
    }


# (text, value, grain) as in Duckling's English corpus, against the same reference time.
MOMENTS = [
    ("today", at("2013-02-12"), "day"),
    ("yesterday", at("2013-02-11"), "day"),
    ("tomorrow", at("2013-02-13"), "day"),
    ("the day after tomorrow", at("2013-02-14"), "day"),
    ("monday", at("2013-02-18"), "day"),
    ("next monday", at("2013-02-18"), "day"),
    ("next tuesday", at("2013-02-19"), "day"),
    ("next wednesday", at("2013-02-13"), "day"),
    ("last tuesday", at("2013-02-05"), "day"),
    ("wednesday of next week", at("2013-02-20"), "day"),
    ("February 15", at("2013-02-15"), "day"),
    ("on June 5th", at("2013-06-05"), "day"),
    ("the 5th of June", at("2013-06-05"), "day"),
    ("June fifth", at("2013-06-05"), "day"),
    ("march 3rd 2015", at("2015-03-03"), "day"),
    ("2015-03-03", at("2015-03-03"), "day"),
    ("3/3/2015", at("2015-03-03"), "day"),
    ("10/31/74", at("1974-10-31"), "day"),
    ("on the first", at("2013-03-01"), "day"),
    ("at 3pm", at("2013-02-12", "15:00:00"), "hour"),
    ("3 PM", at("2013-02-12", "15:00:00"), "hour"),
    ("at 3am", at("2013-02-13", "03:00:00"), "hour"),
    ("3:18am", at("2013-02-13", "03:18:00"), "minute"),
    ("3:30", at("2013-02-12", "15:30:00"), "minute"),
    ("10:30", at("2013-02-12", "10:30:00"), "minute"),
    ("15:23:24", at("2013-02-12", "15:23:24"), "second"),
    ("at noon", at("2013-02-12", "12:00:00"), "hour"),
    ("at midnight", at("2013-02-13"), "hour"),
    ("8 tonight", at("2013-02-12", "20:00:00"), "hour"),
    ("at 9 in the morning", at("2013-02-12", "09:00:00"), "hour"),
    ("tomorrow at 5pm", at("2013-02-13", "17:00:00"), "hour"),
    ("at 5pm tomorrow", at("2013-02-13", "17:00:00"), "hour"),
    ("monday at 10:30", at("2013-02-18", "10:30:00"), "minute"),
    ("2025-06-10 14:37:00", at("2025-06-10", "14:37:00"), "second"),
    ("2025-06-10T14:37", at("2025-06-10", "14:37:00"), "minute"),
    ("now", at("2013-02-12", "04:30:00"), "second"),
    ("in 2 minutes", at("2013-02-12", "04:32:00"), "second"),
    ("in one hour", at("2013-02-12", "05:30:00"), "minute"),
    ("in 7 days", at("2013-02-19", "04:00:00"), "hour"),
    ("in a week", at("2013-02-19"), "day"),
    ("3 days from now", at("2013-02-15", "04:00:00"), "hour"),
    ("7 days ago", at("2013-02-05", "04:00:00"), "hour"),
    ("a week ago", at("2013-02-05"), "day"),
    ("three months ago", at("2012-11-12"), "day"),
    ("two years ago", at("2011-02-01"), "month"),
    ("this week", at("2013-02-11"), "week"),
    ("last week", at("2013-02-04"), "week"),
    ("next week", at("2013-02-18"), "week"),
    ("last month", at("2013-01-01"), "month"),
    ("next month", at("2013-03-01"), "month"),
    ("in March", at("2013-03-01"), "month"),
    ("October 2014", at("2014-10-01"), "month"),
    ("last year", at("2012-01-01"), "year"),
    ("in 2025", at("2025-01-01"), "year"),
]


@pytest.mark.parametrize(("text", "value", "grain"), MOMENTS)
def test_times_resolve_as_duckling_does(text: str, value: str, grain: str) -> None:
    entity = only(text)

    assert (entity["entity"], entity["text"]) == ("time", text)
    assert entity["value"] == value
    assert (entity["additional_info"]["value"], entity["additional_info"]["grain"]) == (
        value,
        grain,
    )
    assert entity["additional_info"]["type"] == "value"


def test_a_day_of_a_series_lists_the_next_ones_in_values() -> None:
    info = only("monday")["additional_info"]

    assert [v["value"] for v in info["values"]] == [
        at("2013-02-18"),
        at("2013-02-25"),
        at("2013-03-04"),
    ]
    assert {v["grain"] for v in info["values"]} == {"day"}


def test_a_date_with_a_time_is_one_time() -> None:
    assert [e["entity"] for e in extract("on 2025-06-10 at 14:37:00", now=NOW)] == ["time"]
    assert [e["entity"] for e in extract("tomorrow at 5pm", now=NOW)] == ["time"]


def test_a_time_written_with_its_own_offset_is_given_in_the_reference_zone() -> None:
    assert values("2013-02-14T10:00:00Z", "time") == [at("2013-02-14", "08:00:00")]


def test_the_offset_follows_the_reference_zone_across_daylight_saving_time() -> None:
    berlin = datetime(2024, 1, 15, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))

    assert [e["value"] for e in extract("tomorrow or June 5", now=berlin)] == [
        "2024-01-16T00:00:00.000+01:00",
        "2024-06-05T00:00:00.000+02:00",
    ]


def test_a_naive_reference_time_is_local_time() -> None:
    naive = datetime(2024, 3, 1, 12, 0)
    offset = naive.astimezone().strftime("%z")

    [value] = [e["value"] for e in extract("tomorrow", now=naive)]

    assert value == f"2024-03-02T00:00:00.000{offset[:3]}:{offset[3:]}"


def test_times_default_to_the_real_now() -> None:
    [entity] = extract("today")

    assert entity["value"].startswith(date.today().isoformat())


# -- time: intervals ----------------------------------------------------------------------


def test_an_interval_has_ducklings_from_and_to_with_to_exclusive() -> None:
    entity = only("from June 1 to June 5")
    start = {"value": at("2013-06-01"), "grain": "day"}
    end = {"value": at("2013-06-06"), "grain": "day"}

    assert entity["value"] == {"from": at("2013-06-01"), "to": at("2013-06-06")}
    assert entity["additional_info"] == {
        "type": "interval",
        "from": start,
        "to": end,
        "values": [{"type": "interval", "from": start, "to": end}],
    }


# (text, from, to) as in Duckling's English corpus.
INTERVALS = [
    ("between June 1 and June 5", at("2013-06-01"), at("2013-06-06")),
    ("July 13-15", at("2013-07-13"), at("2013-07-16")),
    ("from 13 to 15 July", at("2013-07-13"), at("2013-07-16")),
    ("Aug 8 - Aug 12", at("2013-08-08"), at("2013-08-13")),
    ("from monday to friday", at("2013-02-18"), at("2013-02-23")),
    ("last 2 days", at("2013-02-10"), at("2013-02-12")),
    ("next 3 days", at("2013-02-13"), at("2013-02-16")),
    ("last 2 weeks", at("2013-01-28"), at("2013-02-11")),
    ("next 3 months", at("2013-03-01"), at("2013-06-01")),
    ("3-4pm", at("2013-02-12", "15:00:00"), at("2013-02-12", "17:00:00")),
    ("8am - 1pm", at("2013-02-12", "08:00:00"), at("2013-02-12", "14:00:00")),
    ("9:30 - 11:00", at("2013-02-12", "09:30:00"), at("2013-02-12", "11:01:00")),
    ("8am until 6", at("2013-02-12", "08:00:00"), at("2013-02-12", "19:00:00")),
    (
        "between 9:30 and 11:00 on thursday",
        at("2013-02-14", "09:30:00"),
        at("2013-02-14", "11:01:00"),
    ),
    ("tomorrow from 9 to 5pm", at("2013-02-13", "09:00:00"), at("2013-02-13", "18:00:00")),
    ("tonight", at("2013-02-12", "18:00:00"), at("2013-02-13")),
    ("tomorrow evening", at("2013-02-13", "18:00:00"), at("2013-02-14")),
    ("monday morning", at("2013-02-18", "04:00:00"), at("2013-02-18", "12:00:00")),
    ("this week-end", at("2013-02-15", "18:00:00"), at("2013-02-18")),
    ("within 2 weeks", at("2013-02-12", "04:30:00"), at("2013-02-26")),
    ("by 2:00pm", at("2013-02-12", "04:30:00"), at("2013-02-12", "14:00:00")),
]


@pytest.mark.parametrize(("text", "start", "end"), INTERVALS)
def test_intervals_resolve_as_duckling_does(text: str, start: str, end: str) -> None:
    entity = only(text)

    assert (entity["entity"], entity["text"]) == ("time", text)
    assert entity["value"] == {"from": start, "to": end}
    assert entity["additional_info"]["type"] == "interval"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("until 2:00pm", {"from": None, "to": at("2013-02-12", "14:00:00")}),
        ("before 11 am", {"from": None, "to": at("2013-02-12", "11:00:00")}),
        ("after 2 pm", {"from": at("2013-02-12", "14:00:00"), "to": None}),
        ("after 5 days", {"from": at("2013-02-17", "04:00:00"), "to": None}),
        ("since monday", {"from": at("2013-02-11"), "to": None}),
    ],
)
def test_an_open_interval_has_one_end_and_none_for_the_other(
    text: str, value: dict[str, Any]
) -> None:
    entity = only(text)

    assert (entity["text"], entity["value"]) == (text, value)
    missing = "from" if value["from"] is None else "to"
    assert missing not in entity["additional_info"]
    assert missing not in entity["additional_info"]["values"][0]


# -- email, phone-number, ordinal, duration, distance -------------------------------------


def test_an_email_address_is_kept_as_written() -> None:
    entity = only("write to Jane.Doe+shop@Example.co.uk please")

    assert entity["entity"] == "email"
    assert entity["value"] == "Jane.Doe+shop@Example.co.uk"
    assert entity["additional_info"] == {"value": "Jane.Doe+shop@Example.co.uk"}
    assert (entity["start"], entity["end"]) == (9, 36)


def test_an_order_number_inside_an_email_address_is_part_of_the_address() -> None:
    assert [e for e, _ in found("nw10482@example.com")] == ["email"]


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("555-123-4567", "5551234567"),
        ("(650) 253-0000", "6502530000"),
        ("+1 650 253 0000", "(+1) 6502530000"),
        ("+33 1 46647998", "(+33) 146647998"),
        ("650.253.0000 ext 12", "6502530000 ext 12"),
        ("0151 23456789", "015123456789"),
        ("06501234567", "06501234567"),
    ],
)
def test_a_phone_number_has_ducklings_normalised_value(text: str, phone: str) -> None:
    entity = only(f"call me on {text}")

    assert (entity["entity"], entity["text"], entity["value"]) == ("phone-number", text, phone)
    assert entity["additional_info"] == {"value": phone}


def test_a_phone_number_is_not_three_numbers() -> None:
    assert found("call 555 123 4567") == [("phone-number", "5551234567")]


def test_plain_digits_are_a_phone_number_only_when_long_or_asked_for() -> None:
    assert found("I paid 1000000") == [("number", 1000000)]
    assert found("1234567", expecting="phone_number") == [("phone-number", "1234567")]


@pytest.mark.parametrize(
    ("text", "nth"), [("first", 1), ("2nd", 2), ("the 3rd item", 3), ("twenty-first", 21)]
)
def test_ordinals(text: str, nth: int) -> None:
    entity = only(text)

    assert (entity["entity"], entity["value"]) == ("ordinal", nth)
    assert entity["additional_info"] == {"value": nth, "type": "value"}


def test_a_duration_has_ducklings_unit_and_normalised_seconds() -> None:
    entity = only("it took 3 days")

    assert (entity["entity"], entity["text"], entity["value"]) == ("duration", "3 days", 3)
    assert entity["additional_info"] == {
        "type": "value",
        "value": 3,
        "unit": "day",
        "day": 3,
        "normalized": {"unit": "second", "value": 259200},
    }


def test_a_distance_has_ducklings_unit() -> None:
    entity = only("about 5 km away")

    assert (entity["entity"], entity["text"], entity["value"]) == ("distance", "5 km", 5)
    assert entity["additional_info"] == {"value": 5, "type": "value", "unit": "kilometre"}


# -- choosing between readings ------------------------------------------------------------


def test_dimensions_limit_the_builtins_as_a_pipelines_duckling_config_does() -> None:
    text = "NW-10482: $50 for 2 people tomorrow"

    assert found(text, dimensions=["number"]) == [
        ("order_id", "NW-10482"),
        ("number", 50),
        ("number", 2),
    ]
    assert [e for e, _ in found(text, dimensions=())] == ["order_id"]


@pytest.mark.parametrize(
    "text",
    [
        "I think 5 may be enough",
        "24/7 support",
        "we sat in the sun",
        "we'll wed",
        "march on",
        "the 2nd one",
    ],
)
def test_words_that_look_like_dates_are_not_times(text: str) -> None:
    assert "time" not in [e for e, _ in found(text)]


def test_several_entities_come_back_in_text_order() -> None:
    text = "NW-10482 cost $20 on 2024-05-01, mail me at a@b.io"

    assert found(text) == [
        ("order_id", "NW-10482"),
        ("amount-of-money", 20),
        ("time", "2024-05-01T00:00:00.000-02:00"),
        ("email", "a@b.io"),
    ]
    for entity in extract(text, now=NOW):
        assert text[entity["start"] : entity["end"]] in text


def test_text_without_entities_gives_an_empty_list() -> None:
    assert extract("hello, how are you?") == []
