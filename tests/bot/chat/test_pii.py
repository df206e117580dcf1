"""bot.chat.pii: masking cards, e-mail addresses and phone numbers before logs or storage."""

from __future__ import annotations

import logging

import pytest

from bot.chat.pii import PiiFilter, mask_pii


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # 15-digit Amex
    ],
)
def test_a_luhn_valid_card_number_is_masked_keeping_the_last_four_digits(card: str) -> None:
    last4 = card.replace(" ", "").replace("-", "")[-4:]

    assert mask_pii(f"my card is {card}, ok?") == f"my card is [card ****{last4}], ok?"


def test_a_long_number_that_fails_luhn_is_left_untouched() -> None:
    text = "reference 1234567890123456 attached"

    assert mask_pii(text) == text


def test_short_numbers_order_ids_and_dates_are_left_untouched() -> None:
    text = "order NW-10482, 3 items, delivered 2024-05-03, total 19.99"

    assert mask_pii(text) == text


def test_email_addresses_are_masked() -> None:
    assert mask_pii("mail jane.doe+x@example.co.uk now") == "mail [email] now"


@pytest.mark.parametrize(
    "phone", ["+44 20 7946 0958", "(555) 123-4567", "+1 (555) 123-4567", "0171 234 5678"]
)
def test_phone_numbers_are_masked_whole(phone: str) -> None:
    assert mask_pii(f"call {phone} now") == "call [phone] now"


def test_a_number_with_fewer_than_nine_digits_is_not_a_phone_number() -> None:
    assert mask_pii("call 123-4567") == "call 123-4567"


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
