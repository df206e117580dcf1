"""bot.chat.pii: masking cards, IBANs, security codes, e-mail addresses and phone numbers
before logs or storage, and leaving dates, times, amounts and order numbers alone."""

from __future__ import annotations

import csv
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.chat.pii import PiiFilter, mask_entities, mask_pii, pii_spans
from tests.conftest import REPO


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # 15-digit Amex
        "4111.1111.1111.1111",
    ],
)
def test_a_luhn_valid_card_number_is_masked_keeping_the_last_four_digits(card: str) -> None:
    last4 = card.replace(" ", "").replace("-", "")[-4:]

    assert mask_pii(f"my card is {card}, ok?") == f"my card is [card ****{last4}], ok?"


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1112", "4111-1111-1111-1112", "4111.1111.1111.1112", "3782 822463 10006"],
)
def test_a_card_grouped_like_one_is_masked_even_when_a_typo_breaks_luhn(card: str) -> None:
    assert mask_pii(f"card {card} please") == f"card [card ****{card[-4:]}] please"


def test_a_long_number_without_separators_that_fails_luhn_is_left_untouched() -> None:
    text = "reference 1234567890123456 attached"

    assert mask_pii(text) == text


def test_short_numbers_order_ids_and_dates_are_left_untouched() -> None:
    text = "order NW-10482, 3 items, delivered 2024-05-03, total 19.99"

    assert mask_pii(text) == text


def test_a_run_of_twenty_grouped_digits_is_not_a_card_and_not_cut_into_one() -> None:
    text = "ref 4111 1111 1111 1111 1111"

    assert mask_pii(text) == text


@pytest.mark.parametrize(
    ("iban", "last4"),
    [
        ("DE89 3704 0044 0532 0130 00", "3000"),
        ("DE89370400440532013000", "3000"),
        ("GB82WEST12345698765432", "5432"),
        ("GB82 WEST 1234 5698 7654 32", "5432"),
        ("nl91abna0417164300", "4300"),
        # A wrong check digit: the country's length still makes it an account number.
        ("DE00 3704 0044 0532 0130 00", "3000"),
    ],
)
def test_an_iban_is_masked_keeping_the_last_four_characters(iban: str, last4: str) -> None:
    assert mask_pii(f"refund to {iban}, thanks") == f"refund to [iban ****{last4}], thanks"


def test_letters_and_digits_that_are_no_country_iban_are_left_untouched() -> None:
    text = "parcel JD0146000038271 and code XX12 ABCD EFGH"

    assert mask_pii(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("cvv 123", "cvv [cvv]"),
        ("CVC2: 456", "CVC2: [cvv]"),
        ("security code: 1234", "security code: [cvv]"),
        ("my cvv is 987, exp 12/27", "my cvv is [cvv], exp 12/27"),
        ("Card verification value = 321", "Card verification value = [cvv]"),
    ],
)
def test_a_named_card_security_code_is_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


def test_three_digits_without_a_security_code_label_are_left_untouched() -> None:
    text = "I ordered 123 mugs, code 456"

    assert mask_pii(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "paid at 2025-06-10 14:37:00",
        "placed 2025-06-08T14:37:00Z",
        "delivered on 10.06.2025 at 14.37",
        "due 06/12/2025 10:30",
        "orders NW-10001 and NW-10002",
        "orders 10001 10002",
        "return RT-10004-02",
        "total 1234567.89 EUR",
        "refund of 1,234,567.00",
        "€ 1 299,00 charged twice",
    ],
)
def test_dates_times_order_numbers_and_amounts_are_left_untouched(text: str) -> None:
    assert mask_pii(text) == text


def test_the_demo_orders_dates_amounts_and_tracking_numbers_are_left_untouched() -> None:
    with (REPO / "data" / "orders.csv").open(newline="") as file:
        orders = list(csv.DictReader(file))
    assert orders
    for order in orders:
        tracking = urlsplit(order["tracking_url"]).path.rsplit("/", 1)[-1]
        for value in (
            order["order_id"],
            order["tracking_url"],
            tracking,
            order["eta"],
            order["amount"],
            order["placed_at"],
        ):
            assert mask_pii(f"see {value} please") == f"see {value} please"


def test_email_addresses_are_masked() -> None:
    assert mask_pii("mail jane.doe+x@example.co.uk now") == "mail [email] now"


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",
        "(555) 123-4567",
        "+1 (555) 123-4567",
        "0171 234 5678",
        "0044 20 7946 0958",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "0171.234.5678",
    ],
)
def test_phone_numbers_are_masked_whole(phone: str) -> None:
    assert mask_pii(f"call {phone} now") == "call [phone] now"


def test_a_number_with_fewer_than_nine_digits_is_not_a_phone_number() -> None:
    assert mask_pii("call 123-4567") == "call 123-4567"


def test_a_long_digit_run_without_a_plus_is_a_reference_not_a_phone_number() -> None:
    assert mask_pii("parcel 01905508214477") == "parcel 01905508214477"


def test_a_phone_number_next_to_a_date_and_time_is_masked_alone() -> None:
    assert (
        mask_pii("call 0171 234 5678 after 2025-06-10 14:37")
        == "call [phone] after 2025-06-10 14:37"
    )


def test_text_without_pii_is_returned_unchanged() -> None:
    assert mask_pii("where is my parcel?") == "where is my parcel?"


def test_pii_filter_masks_the_formatted_message_of_a_log_record() -> None:
    record = logging.LogRecord(
        "frontdesk",
        logging.INFO,
        __file__,
        1,
        "card %s from %s",
        ("4111111111111111", "a@b.io"),
        None,
    )

    assert PiiFilter().filter(record) is True
    assert record.getMessage() == "card [card ****1111] from [email]"
    assert record.args is None


def test_pii_filter_leaves_a_clean_record_alone() -> None:
    record = logging.LogRecord("frontdesk", logging.INFO, __file__, 1, "hello %s", ("bob",), None)

    assert PiiFilter().filter(record) is True
    assert record.msg == "hello %s"
    assert record.args == ("bob",)


def test_pii_filter_on_a_handler_masks_what_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.bot.pii")
    caplog.handler.addFilter(PiiFilter())
    try:
        with caplog.at_level(logging.INFO, logger="tests.bot.pii"):
            logger.info("customer %s paid with %s", "jane@example.com", "4111 1111 1111 1111")
    finally:
        caplog.handler.removeFilter(caplog.handler.filters[-1])

    assert caplog.messages == ["customer [email] paid with [card ****1111]"]


def test_pii_spans_point_into_the_original_text() -> None:
    text = "card 4111 1111 1111 1111, cvv 123, mail ada@example.com, order NW-10001"

    assert [text[a:b] for a, b in pii_spans(text)] == [
        "4111 1111 1111 1111",
        "123",
        "ada@example.com",
    ]


def test_entities_inside_masked_text_are_dropped_and_the_others_masked() -> None:
    text = "card 4111 1111 1111 1111 for NW-10001, mail ada@example.com"
    order = text.index("NW-10001")
    entities: list[dict[str, Any]] = [
        # A number extractor reads a card's groups as numbers: together they are the card.
        {"entity": "number", "start": 5, "end": 9, "value": 4111},
        {"entity": "number", "start": 10, "end": 14, "value": 1111},
        {"entity": "order_id", "start": order, "end": order + 8, "value": "NW-10001"},
        {"entity": "email", "start": text.index("ada"), "end": len(text), "value": "ada@..."},
        {"entity": "note", "value": "call 0171 234 5678", "extra": {"raw": "a@b.io"}},
    ]

    assert mask_entities(text, entities) == [
        {"entity": "order_id", "start": order, "end": order + 8, "value": "NW-10001"},
        {"entity": "note", "value": "call [phone]", "extra": {"raw": "[email]"}},
    ]


def test_a_url_user_at_host_or_an_ip_address_is_not_taken_for_an_email() -> None:
    line = "store postgresql+asyncpg://postgres@127.0.0.1:5432/frontdesk"
    assert mask_pii(line) == line
    assert mask_pii("postgresql://app@db.example.com/x") == "postgresql://app@db.example.com/x"
    assert mask_pii("write to ada@example.com.") == "write to [email]."
