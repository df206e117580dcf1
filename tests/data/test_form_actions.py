"""Specs for the demo's forms in ``data/actions.py``: what a customer may type as an answer,
what the validation actions make of it, and what the submit actions say.

The validation actions run through rasa_sdk's own ``FormValidationAction.run`` with the demo
domain, as the dialogue calls them: the candidates are the trailing ``slot`` events.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from retrieval.base.domain import Domain
from tests.data.test_actions_module import actions

DATA = Path(__file__).resolve().parents[2] / "data"
DOMAIN = Domain.load(DATA / "domain.yml").as_rasa()


def tracker(slots: dict[str, Any], candidates: dict[str, Any] | None = None) -> Tracker:
    """A tracker as the dialogue sends it to a form's validation action: the slots so far,
    and this turn's candidates as the trailing slot events."""
    candidates = candidates or {}
    events = [{"event": "slot", "name": k, "value": v} for k, v in candidates.items()]
    return Tracker(
        sender_id="customer",
        slots={**slots, **candidates},
        latest_message={"text": "", "intent": {"name": "inform"}, "entities": []},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": "return_form"},
        latest_action_name="action_listen",
    )


async def run(action: Action, state: Tracker) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What the action said (messages) and the slots it set."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, state, DOMAIN)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    return dispatcher.messages, slots


def texts(messages: list[dict[str, Any]]) -> str:
    return " ".join(str(m.get("text") or "") for m in messages)


# --- The order lines ------------------------------------------------------------------------


def test_every_order_has_lines_that_add_up_to_its_amount() -> None:
    with (DATA / "orders.csv").open(newline="", encoding="utf-8") as handle:
        amounts = {row["order_id"]: Decimal(row["amount"]) for row in csv.DictReader(handle)}
    lines = actions.load_order_items()

    assert set(lines) == set(amounts)
    for order_id, items in lines.items():
        assert sum(item.total for item in items) == amounts[order_id], order_id
        assert [item.position for item in items] == list(range(1, len(items) + 1))


# --- Which item the customer means ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("the green mug", "Stoneware Mug (Sage Green)"),
        ("MUGS", "Stoneware Mug (Sage Green)"),
        ("I’d like to send back the jar please", "Glass Storage Jar 1L"),
        ("Glass Storage Jar 1L", "Glass Storage Jar 1L"),
    ],
)
def test_an_item_is_found_on_its_order_in_part_and_in_any_case(text: str, item: str) -> None:
    found = actions.match_items(text, actions.items_of("NW-10003"))

    assert [i.name for i in found] == [item]


def test_words_on_no_item_or_on_every_item_find_nothing_or_several() -> None:
    items = actions.items_of("NW-10003")

    assert actions.match_items("the wool blanket", items) == []
    assert actions.match_items("the one I bought", items) == []
    assert len(actions.match_items("the glass mug", items)) == 2


# --- Refund methods and addresses -------------------------------------------------------


def test_the_refund_method_slot_takes_exactly_the_values_the_actions_give() -> None:
    domain = Domain.load(DATA / "domain.yml")

    assert domain.slots["refund_method"].values == actions.REFUND_METHODS


@pytest.mark.parametrize(
    ("text", "method"),
    [
        ("Original payment method", "original_payment"),
        ("refund it to my credit card", "original_payment"),
        ("back to paypal please", "original_payment"),
        ("the first one", "original_payment"),
        ("Store credit", "store_credit"),
        ("a gift card is fine", "store_credit"),
        ("a voucher", "store_credit"),
        ("2", "store_credit"),
        ("whatever is quickest", None),
        ("not store credit, back to my card", None),
    ],
)
def test_refund_methods_are_normalised_to_one_of_two_values(text: str, method: str | None) -> None:
    assert actions.normalise_refund_method(text) == method


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("14 Rosemary Lane, Bristol BS1 5AB", "14 Rosemary Lane, Bristol BS1 5AB"),
        (
            "please send it to Keizersgracht 221, 1016 DV Amsterdam.",
            "Keizersgracht 221, 1016 DV Amsterdam",
        ),
        ("My new address is Musterstraße 5\n10115 Berlin", "Musterstraße 5, 10115 Berlin"),
        ("1600 Pennsylvania Avenue NW, Washington, DC 20500", None),
        ("7 Mill Road Cambridge", None),
    ],
)
def test_a_full_address_is_cleaned_and_accepted(text: str, address: str | None) -> None:
    cleaned = actions.clean_address(text)

    assert cleaned == (address or text)
    assert actions.address_problem(cleaned) is None


@pytest.mark.parametrize(
    ("text", "missing"),
    [("12 Baker Street", "town"), ("Baker Street, London", "street"), ("my new flat", "both")],
)
def test_an_incomplete_address_says_what_it_lacks(text: str, missing: str) -> None:
    assert actions.address_problem(actions.clean_address(text)) == missing


# --- validate_return_form ------------------------------------------------------------------


async def test_a_returnable_order_is_accepted_in_its_normal_spelling() -> None:
    said, slots = await run(actions.ValidateReturnForm(), tracker({}, {"order_id": "nw10004"}))

    assert slots == {"order_id": "NW-10004"}
    assert said == []


@pytest.mark.parametrize(
    ("order_id", "why"),
    [
        ("NW-99999", "couldn't find order NW-99999"),
        ("NW-10001", "hasn't shipped yet"),
        ("NW-10006", "was cancelled"),
        ("NW-10007", "already been refunded"),
    ],
)
async def test_an_order_that_cannot_be_returned_is_refused_with_the_reason(
    order_id: str, why: str
) -> None:
    said, slots = await run(actions.ValidateReturnForm(), tracker({}, {"order_id": order_id}))

    assert slots == {"order_id": None}
    assert why in texts(said)


async def test_the_only_item_of_an_order_is_chosen_without_asking() -> None:
    said, slots = await run(actions.ValidateReturnForm(), tracker({}, {"order_id": "NW-10009"}))

    assert slots == {"order_id": "NW-10009", "return_item": "Bluetooth Speaker"}
    assert "Bluetooth Speaker" in texts(said)


async def test_an_item_is_stored_by_its_name_on_the_order() -> None:
    state = tracker({"order_id": "NW-10011"}, {"return_item": "the grey towels"})

    said, slots = await run(actions.ValidateReturnForm(), state)

    assert slots == {"return_item": "Cotton Bath Towel (Grey)"}
    assert said == []


async def test_an_item_not_on_the_order_is_refused_and_asked_for_again() -> None:
    state = tracker({"order_id": "NW-10011"}, {"return_item": "the kettle"})

    said, slots = await run(actions.ValidateReturnForm(), state)

    assert slots == {"return_item": None}
    assert texts(said) == "I can't find “the kettle” on order NW-10011."


async def test_an_order_number_kept_from_earlier_is_checked_before_its_items() -> None:
    state = tracker({"order_id": "NW-10001"}, {"return_item": "the milk pan"})

    said, slots = await run(actions.ValidateReturnForm(), state)

    assert slots == {"order_id": None, "return_item": None}
    assert "hasn't shipped yet" in texts(said)


@pytest.mark.parametrize(
    ("answer", "kept"),
    [("  it wobbles on the table ", "it wobbles on the table"), ("??", None)],
)
async def test_a_reason_is_kept_in_the_customers_words_unless_it_has_none(
    answer: str, kept: str | None
) -> None:
    state = tracker({"order_id": "NW-10004"}, {"return_reason": answer})

    said, slots = await run(actions.ValidateReturnForm(), state)

    assert slots == {"return_reason": kept}
    assert bool(said) == (kept is None)


async def test_an_unclear_refund_method_is_refused_with_a_message() -> None:
    state = tracker({"order_id": "NW-10004"}, {"refund_method": "whatever is quickest"})

    said, slots = await run(actions.ValidateReturnForm(), state)

    assert slots == {"refund_method": None}
    assert said


# --- validate_address_form -----------------------------------------------------------------


async def test_an_order_that_has_not_shipped_can_get_a_new_address() -> None:
    said, slots = await run(actions.ValidateAddressForm(), tracker({}, {"order_id": "NW-10008"}))

    assert (said, slots) == ([], {"order_id": "NW-10008"})


@pytest.mark.parametrize(
    ("order_id", "why"),
    [
        ("NW-10002", "Order NW-10002 has already shipped with DHL, so its address can't"),
        ("NW-10005", "Order NW-10005 has already left our warehouse with DPD, so"),
        ("NW-10004", "Order NW-10004 has already been delivered with PostNL, so"),
        ("NW-10006", "Order NW-10006 was cancelled, so there's no delivery to change."),
    ],
)
async def test_an_order_on_its_way_or_closed_keeps_its_address(order_id: str, why: str) -> None:
    said, slots = await run(actions.ValidateAddressForm(), tracker({}, {"order_id": order_id}))

    assert slots == {"order_id": None}
    assert texts(said).startswith(why)


async def test_an_incomplete_address_is_refused_with_what_it_lacks() -> None:
    state = tracker({"order_id": "NW-10008"}, {"new_address": "12 Baker Street"})

    said, slots = await run(actions.ValidateAddressForm(), state)

    assert slots == {"new_address": None}
    assert texts(said) == "Which town or postcode is that in?"


# --- Asking, submitting, stopping -------------------------------------------------------


async def test_the_item_question_offers_the_orders_items_as_buttons() -> None:
    said, _ = await run(actions.ActionAskReturnItem(), tracker({"order_id": "NW-10004"}))

    assert said[0]["text"] == "Which item from order NW-10004 would you like to return?"
    assert [b["payload"] for b in said[0]["buttons"]] == [
        "Wool Throw (Charcoal)",
        "Scented Soy Candle (Fig)",
    ]


async def test_a_submitted_return_gets_a_reference_and_the_form_answers_are_cleared() -> None:
    state = tracker(
        {
            "order_id": "NW-10004",
            "return_item": "Scented Soy Candle (Fig)",
            "return_reason": "too strong",
            "refund_method": "store_credit",
        }
    )

    said, slots = await run(actions.ActionSubmitReturn(), state)

    assert "RT-10004-02" in texts(said)
    assert "26.90 EUR in store credit" in texts(said)
    assert slots == {
        "return_reference": "RT-10004-02",
        "return_item": None,
        "return_reason": None,
        "refund_method": None,
    }


async def test_a_changed_address_is_confirmed_and_forgotten() -> None:
    state = tracker({"order_id": "NW-10001", "new_address": "9 Harbour View, Whitby YO21 3PU"})

    said, slots = await run(actions.ActionChangeAddress(), state)

    assert "NW-10001 will now be delivered to 9 Harbour View, Whitby YO21 3PU" in texts(said)
    assert slots == {"new_address": None}


async def test_stopping_a_form_says_so_and_forgets_its_answers_but_not_the_order() -> None:
    said, slots = await run(actions.ActionStopForm(), tracker({"order_id": "NW-10004"}))

    assert said[0]["response"] == "utter_form_stopped"
    assert "order_id" not in slots
    assert set(slots.values()) == {None}
