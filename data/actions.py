"""Example custom actions for the Northwind Goods demo shop.

These are ordinary ``rasa_sdk`` actions: Frontdesk can run them in-process, and a Rasa action
server can run them unchanged. They answer questions about an order by looking it up in
``orders.csv`` (and its lines in ``order_items.csv``) next to this file. A real shop would call
its order system here instead; the lookups are the only part that would change.

The single-turn actions read the order number from the ``order_id`` slot or, when the slot is
empty, from an ``order_id`` entity in the latest message. Order numbers are accepted in loose
forms (``nw-10001``, ``NW10001``, ``10001``) and normalised to ``NW-10001``.

Two forms take a task over several turns: ``return_form`` (order, item, reason, refund method;
``action_submit_return`` registers it) and ``address_form`` (order, new address;
``action_change_address`` changes it). Their ``validate_<form>`` actions turn what the customer
typed into clean values, or say what is wrong so that the form asks again.
"""

from __future__ import annotations

import csv
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

ORDERS_CSV = Path(__file__).with_name("orders.csv")
ORDER_ITEMS_CSV = Path(__file__).with_name("order_items.csv")

ASK_FOR_ORDER_ID = "Sure — what's your order number? It looks like NW-12345."

_ORDER_ID_RE = re.compile(r"(?<![A-Za-z0-9])(?:nw[\s_-]*)?(\d{5})(?!\d)", re.IGNORECASE)

_STATUS_WORDS = {
    "processing": "processing",
    "shipped": "shipped",
    "out_for_delivery": "out for delivery",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "refunded": "refunded",
}


@dataclass(frozen=True)
class Order:
    """One row of ``orders.csv``; empty cells become ``None``."""

    order_id: str
    email: str
    status: str
    carrier: str | None
    tracking_url: str | None
    eta: str | None
    amount: Decimal
    currency: str
    placed_at: str

    @property
    def status_text(self) -> str:
        return _STATUS_WORDS.get(self.status, self.status.replace("_", " "))

    @property
    def amount_text(self) -> str:
        return f"{self.amount:.2f} {self.currency}"

    @property
    def via_carrier(self) -> str:
        return f" with {self.carrier}" if self.carrier else ""

    @property
    def by_carrier(self) -> str:
        return f" by {self.carrier}" if self.carrier else ""

    @property
    def on_eta(self) -> str:
        return f" on {self.eta}" if self.eta else ""

    @property
    def tracking_sentence(self) -> str:
        return f" Track it here: {self.tracking_url}" if self.tracking_url else ""


def normalise_order_id(raw: object) -> str | None:
    """Return ``NW-NNNNN`` for loose spellings of an order number, or ``None``."""
    if raw is None:
        return None
    match = _ORDER_ID_RE.search(str(raw).strip())
    if match is None:
        return None
    return f"NW-{match.group(1)}"


def _cell(row: dict[str, str], key: str) -> str | None:
    value = (row.get(key) or "").strip()
    return value or None


@lru_cache(maxsize=4)
def load_orders(path: Path = ORDERS_CSV) -> dict[str, Order]:
    """Read ``orders.csv`` once (per path) and index the orders by number."""
    orders: dict[str, Order] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            order_id = normalise_order_id(row.get("order_id"))
            if order_id is None:
                continue
            orders[order_id] = Order(
                order_id=order_id,
                email=(row.get("email") or "").strip(),
                status=(row.get("status") or "").strip().lower(),
                carrier=_cell(row, "carrier"),
                tracking_url=_cell(row, "tracking_url"),
                eta=_cell(row, "eta"),
                amount=Decimal((row.get("amount") or "0").strip() or "0"),
                currency=(row.get("currency") or "").strip().upper(),
                placed_at=(row.get("placed_at") or "").strip(),
            )
    return orders


def _candidate_order_ids(tracker: Tracker) -> Iterator[Any]:
    yield tracker.get_slot("order_id")
    for entity in tracker.latest_message.get("entities") or []:
        if isinstance(entity, dict) and entity.get("entity") == "order_id":
            yield entity.get("value")


def requested_order_id(tracker: Tracker) -> str | None:
    """The order number from the ``order_id`` slot, else from the latest message's entities."""
    for candidate in _candidate_order_ids(tracker):
        order_id = normalise_order_id(candidate)
        if order_id is not None:
            return order_id
    return None


def order_slots(order: Order) -> list[dict[str, Any]]:
    return [
        SlotSet("order_id", order.order_id),
        SlotSet("order_status", order.status),
        SlotSet("carrier", order.carrier),
        SlotSet("tracking_url", order.tracking_url),
        SlotSet("eta", order.eta),
        SlotSet("amount", order.amount_text),
    ]


class OrderAction(Action, ABC):
    """Shared flow: find the order number, look the order up, answer about it.

    Abstract, so action scanners (``inspect.isabstract``) skip it.
    """

    @abstractmethod
    def answer(self, order: Order) -> str:
        """The reply for an order that exists."""

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[dict[str, Any]]:
        order_id = requested_order_id(tracker)
        if order_id is None:
            dispatcher.utter_message(text=ASK_FOR_ORDER_ID)
            return []
        order = load_orders().get(order_id)
        if order is None:
            dispatcher.utter_message(
                text=(
                    f"I couldn't find order {order_id}. Please check the number — "
                    "it's in your confirmation e-mail."
                )
            )
            return [SlotSet("order_id", None)]
        dispatcher.utter_message(text=self.answer(order))
        return order_slots(order)


class ActionOrderStatus(OrderAction):
    def name(self) -> str:
        return "action_order_status"

    def answer(self, order: Order) -> str:
        oid = order.order_id
        if order.status == "processing":
            eta = f" Estimated delivery: {order.eta}." if order.eta else ""
            return (
                f"Order {oid} is processing: we're getting it ready in our warehouse and "
                f"it hasn't shipped yet.{eta}"
            )
        if order.status == "shipped":
            eta = f" Estimated delivery: {order.eta}." if order.eta else ""
            return f"Order {oid} has shipped{order.via_carrier}.{eta}{order.tracking_sentence}"
        if order.status == "out_for_delivery":
            return (
                f"Order {oid} is out for delivery{order.via_carrier} and should arrive "
                f"today.{order.tracking_sentence}"
            )
        if order.status == "delivered":
            return f"Order {oid} was delivered{order.by_carrier}{order.on_eta}."
        if order.status == "cancelled":
            return f"Order {oid} was cancelled, so it won't be shipped."
        if order.status == "refunded":
            return (
                f"Order {oid} has been refunded: {order.amount_text} went back to your "
                "original payment method."
            )
        return f"The status of order {oid} is: {order.status_text}."


class ActionTrackShipment(OrderAction):
    def name(self) -> str:
        return "action_track_shipment"

    def answer(self, order: Order) -> str:
        oid = order.order_id
        if order.tracking_url:
            if order.status == "delivered":
                return (
                    f"Order {oid} was already delivered{order.by_carrier}{order.on_eta}. "
                    f"The tracking page is here: {order.tracking_url}"
                )
            if order.status == "out_for_delivery":
                lead = f"Order {oid} is out for delivery{order.via_carrier} today."
            else:
                eta = f" Estimated delivery: {order.eta}." if order.eta else ""
                lead = f"Order {oid} has shipped and is on its way{order.via_carrier}.{eta}"
            return f"{lead} Track it here: {order.tracking_url}"
        if order.status == "processing":
            return (
                f"Order {oid} is still processing and hasn't shipped yet, so there's no "
                "tracking link yet. We'll e-mail it to you as soon as the parcel leaves "
                "our warehouse."
            )
        if order.status in {"cancelled", "refunded"}:
            return f"Order {oid} was {order.status_text}, so there's no shipment to track."
        return f"Order {oid} is {order.status_text}, but there's no tracking link for it yet."


class ActionCancelOrder(OrderAction):
    """Says whether the order can be cancelled; only processing orders can.

    This demo only answers. A real shop would call its order system to cancel here.
    """

    def name(self) -> str:
        return "action_cancel_order"

    def answer(self, order: Order) -> str:
        oid = order.order_id
        if order.status == "processing":
            return (
                f"Order {oid} is still processing, so it can be cancelled. Once it's "
                f"cancelled, the full {order.amount_text} goes back to your original "
                "payment method."
            )
        if order.status in {"shipped", "out_for_delivery"}:
            return (
                f"Sorry, order {oid} can't be cancelled because it's already "
                f"{order.status_text}{order.via_carrier}. When it arrives, you can return "
                "it within 30 days for a refund."
            )
        if order.status == "delivered":
            return (
                f"Order {oid} was already delivered, so it can't be cancelled. You can "
                "return it within 30 days of delivery for a refund."
            )
        if order.status == "cancelled":
            return f"Order {oid} is already cancelled — there's nothing more to do."
        if order.status == "refunded":
            return f"Order {oid} has already been refunded, so it can't be cancelled."
        return f"Order {oid} is {order.status_text}, so it can't be cancelled."


class ActionRefundStatus(OrderAction):
    def name(self) -> str:
        return "action_refund_status"

    def answer(self, order: Order) -> str:
        oid = order.order_id
        if order.status == "refunded":
            return (
                f"Order {oid} has been refunded: {order.amount_text} went back to your "
                "original payment method. Depending on your bank, it can take up to 5 "
                "business days to show."
            )
        if order.status == "cancelled":
            return (
                f"Order {oid} was cancelled, so {order.amount_text} goes back to your "
                "original payment method automatically."
            )
        if order.status == "delivered":
            return (
                f"There's no refund on order {oid} yet — it was delivered and nothing has "
                "been returned. You can return it within 30 days of delivery; the refund "
                "follows once the return reaches our warehouse."
            )
        state = "still processing" if order.status == "processing" else order.status_text
        return (
            f"There's no refund on order {oid}: it's {state}. If you cancel or return it, "
            "the refund goes to your original payment method."
        )


# --- Order lines ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderItem:
    """One line of ``order_items.csv``: what was bought, how many, at what unit price."""

    order_id: str
    name: str
    quantity: int
    unit_price: Decimal
    position: int  # 1-based place on its order, used in return references

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@lru_cache(maxsize=4)
def load_order_items(path: Path = ORDER_ITEMS_CSV) -> dict[str, tuple[OrderItem, ...]]:
    """Read ``order_items.csv`` once (per path): the lines of each order, in file order."""
    lines: dict[str, list[OrderItem]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            order_id = normalise_order_id(row.get("order_id"))
            name = (row.get("item") or "").strip()
            if order_id is None or not name:
                continue
            on_order = lines.setdefault(order_id, [])
            on_order.append(
                OrderItem(
                    order_id=order_id,
                    name=name,
                    quantity=int((row.get("quantity") or "1").strip() or "1"),
                    unit_price=Decimal((row.get("unit_price") or "0").strip() or "0"),
                    position=len(on_order) + 1,
                )
            )
    return {order_id: tuple(items) for order_id, items in lines.items()}


def items_of(order_id: str | None) -> tuple[OrderItem, ...]:
    if order_id is None:
        return ()
    return load_order_items().get(order_id, ())


# Words that say nothing about which item is meant ("I'd like to return the mug, please").
_FILLER_WORDS = """a an and are back both bought can could for from get got i i'd i'm id im is it
it's its just like me mine my of on one order please pls return returning s send sending that
the them these they thing this those to want wanted which would item items product products
yes"""
_FILLER = frozenset(_FILLER_WORDS.split())
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def _stem(word: str) -> str:
    # "mugs" and "mug", "candles" and "candle": enough plural folding for item names.
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _words(text: str) -> set[str]:
    plain = text.lower().replace("’", "'")  # a phone's curly apostrophe
    return {_stem(w) for w in _WORD.findall(plain) if w not in _FILLER}


def match_items(text: str, items: Sequence[OrderItem]) -> list[OrderItem]:
    """The items of an order that ``text`` names best, case-insensitively and in part: every
    item sharing the most words with it ("the green mug" names "Stoneware Mug (Sage
    Green)"). Empty when no item shares a word; several when the text does not decide."""
    wanted = _words(text)
    if not wanted:
        return []
    for item in items:
        if item.name.lower() == text.strip().lower():
            return [item]  # a button's payload, or the name typed out
    scored = [(len(wanted & _words(item.name)), item) for item in items]
    best = max((score for score, _ in scored), default=0)
    return [item for score, item in scored if score == best] if best else []


# --- Refund methods -------------------------------------------------------------------------

ORIGINAL_PAYMENT = "original_payment"
STORE_CREDIT = "store_credit"
REFUND_METHODS = (ORIGINAL_PAYMENT, STORE_CREDIT)  # the slot's values in domain.yml
_STORE_CREDIT = re.compile(
    r"store[\s-]*credit|\bcredit\b(?![\s-]*card)|voucher|gift[\s-]*card|coupon|account balance"
    r"|\bbalance\b|shop credit|on (?:my|the) (?:northwind )?account",
    re.IGNORECASE,
)
_ORIGINAL_PAYMENT = re.compile(
    r"original|same (?:way|method|card|account)|(?<!gift )(?<!gift)\bcard\b|paypal|klarna"
    r"|apple pay|google pay|\bbank\b|money back|\bcash\b|back to (?:my|the)"
    r"|\brefund (?:it|me)\b|how i paid",
    re.IGNORECASE,
)
_FIRST = re.compile(r"^\W*(?:1|the first(?: one)?|first(?: one)?|option 1)\W*$", re.IGNORECASE)
_SECOND = re.compile(r"^\W*(?:2|the second(?: one)?|second(?: one)?|option 2)\W*$", re.IGNORECASE)


def normalise_refund_method(raw: object) -> str | None:
    """``original_payment`` or ``store_credit`` for the ways customers say either; None when
    the text names neither, or both ("not a voucher, back to my card" is asked again)."""
    if raw is None:
        return None
    text = str(raw).strip()
    if text in REFUND_METHODS:
        return text
    # The question offers the original payment method first and store credit second.
    if _FIRST.match(text):
        return ORIGINAL_PAYMENT
    if _SECOND.match(text):
        return STORE_CREDIT
    credit = bool(_STORE_CREDIT.search(text))
    original = bool(_ORIGINAL_PAYMENT.search(text))
    if credit == original:
        return None
    return STORE_CREDIT if credit else ORIGINAL_PAYMENT


# --- Addresses ------------------------------------------------------------------------------

_ADDRESS_LEAD = re.compile(
    r"^\s*(?:(?:ok(?:ay)?|sure|yes|so)[\s,]+)?"
    r"(?:(?:please\s+)?(?:send|ship|deliver|post)\s+(?:it|them|the\s+order|my\s+order|"
    r"the\s+parcel|the\s+package)?\s*to|(?:the\s+|my\s+)?new\s+(?:address|one)\s+(?:is|will\s+be)|"
    r"(?:the\s+)?address\s+is|it'?s|it\s+is|address)\s*[:,-]?\s*",
    re.IGNORECASE,
)
# UK (NW1 6XE) and Dutch (1016 DV) postcodes; others are 4-5 digits after the house number.
_LETTER_POSTCODE = re.compile(
    r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b|\b\d{4}\s?[A-Z]{2}\b", re.IGNORECASE
)
_DIGITS = re.compile(r"\d+")
# "7 Mill Road Cambridge": a word after the street's own name is the town.
_STREET_THEN_TOWN = re.compile(
    r"\b(?:street|st|road|rd|lane|ln|avenue|ave|way|drive|dr|close|court|place|square|"
    r"gardens|terrace|crescent|hill|row|walk|grove|park)\b\.?\s+[^\W\d_]{3,}",
    re.IGNORECASE,
)
_LETTERS = re.compile(r"[^\W\d_]{3,}")


def clean_address(raw: object) -> str:
    """The address without its lead-in ("please send it to ...") or line breaks."""
    text = _ADDRESS_LEAD.sub("", str(raw or ""), count=1)
    lines = [line.strip(" ,") for line in re.split(r"[\r\n]+", text)]
    return re.sub(r"\s+", " ", ", ".join(line for line in lines if line)).strip(" .,")


def address_problem(address: str) -> str | None:
    """What a delivery address lacks ("street", "town", "both"), or None when it has a street
    with a house number and a town or postcode."""
    postcode = _LETTER_POSTCODE.search(address)
    rest = address
    if postcode is not None:
        rest = address[: postcode.start()] + " " + address[postcode.end() :]
    else:
        numbers = list(_DIGITS.finditer(address))
        last = numbers[-1] if len(numbers) > 1 else None
        if last is not None and len(last.group()) in (4, 5):
            postcode = last  # the house number comes first; the last number is the code
            rest = address[: last.start()] + " " + address[last.end() :]
    parts = [p for p in re.split(r"[,;]", rest) if _LETTERS.search(p)]
    street = any(_DIGITS.search(p) for p in parts)
    town = postcode is not None or len(parts) > 1 or bool(_STREET_THEN_TOWN.search(rest))
    if street and town:
        return None
    if not street and not town:
        return "both"
    return "town" if street else "street"


_ADDRESS_PROBLEMS = {
    "both": "That doesn't look like a full delivery address yet.",
    "street": "I also need the street and house number.",
    "town": "Which town or postcode is that in?",
}


# --- Forms ----------------------------------------------------------------------------------

RETURNABLE = frozenset({"shipped", "out_for_delivery", "delivered"})


def _not_returnable(order: Order) -> str:
    oid = order.order_id
    if order.status == "processing":
        return (
            f"Order {oid} hasn't shipped yet, so there's nothing to send back — you can "
            "still cancel it instead. If you meant another order, tell me its number."
        )
    if order.status == "cancelled":
        return f"Order {oid} was cancelled, so there's nothing to return from it."
    if order.status == "refunded":
        return f"Order {oid} has already been refunded in full, so there's nothing to return."
    return f"Order {oid} is {order.status_text}, so it can't be returned."


_ON_ITS_WAY = {
    "shipped": "already shipped",
    "out_for_delivery": "already left our warehouse",
    "delivered": "already been delivered",
}


def _address_locked(order: Order) -> str:
    oid = order.order_id
    if order.status in _ON_ITS_WAY:
        return (
            f"Order {oid} has {_ON_ITS_WAY[order.status]}{order.via_carrier}, so its address "
            "can't be changed any more. If another order hasn't shipped yet, tell me its number."
        )
    return f"Order {oid} was {order.status_text}, so there's no delivery to change."


def _known_order(raw: object, dispatcher: CollectingDispatcher) -> Order | None:
    """The order the customer named, or None after saying why it can't be used."""
    order_id = normalise_order_id(raw)
    order = load_orders().get(order_id) if order_id else None
    if order_id is None:
        dispatcher.utter_message(text="That doesn't look like an order number.")
    elif order is None:
        dispatcher.utter_message(
            text=(
                f"I couldn't find order {order_id}. Please check the number — "
                "it's in your confirmation e-mail."
            )
        )
    return order


class ValidateReturnForm(FormValidationAction):
    """Checks each answer of ``return_form``; a value set to None is asked for again."""

    def name(self) -> str:
        return "validate_return_form"

    def validate_order_id(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        order = _known_order(slot_value, dispatcher)
        if order is None:
            return {"order_id": None}
        if order.status not in RETURNABLE:
            dispatcher.utter_message(text=_not_returnable(order))
            return {"order_id": None}
        filled: dict[str, Any] = {"order_id": order.order_id}
        lines = items_of(order.order_id)
        if len(lines) == 1:
            # Nothing to choose between: say which item it is instead of asking.
            filled["return_item"] = lines[0].name
            dispatcher.utter_message(
                text=f"Order {order.order_id} has just the one item, the {lines[0].name}."
            )
        return filled

    def validate_return_item(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        order = load_orders().get(normalise_order_id(tracker.get_slot("order_id")) or "")
        if order is None or order.status not in RETURNABLE:
            # An order number kept from earlier in the chat is checked only now.
            if order is not None:
                dispatcher.utter_message(text=_not_returnable(order))
            return {"order_id": None, "return_item": None}
        text = str(slot_value or "").strip()
        found = match_items(text, items_of(order.order_id))
        if len(found) == 1:
            return {"return_item": found[0].name}
        if found:
            names = " and the ".join(item.name for item in found)
            dispatcher.utter_message(text=f"Both the {names} match “{text}”.")
        else:
            dispatcher.utter_message(text=f"I can't find “{text}” on order {order.order_id}.")
        return {"return_item": None}

    def validate_return_reason(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        reason = str(slot_value or "").strip()
        if len(_LETTERS.findall(reason)) == 0:
            dispatcher.utter_message(text="Could you tell me in a few words what's wrong with it?")
            return {"return_reason": None}
        return {"return_reason": reason}

    def validate_refund_method(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        method = normalise_refund_method(slot_value)
        if method is None:
            dispatcher.utter_message(text="Sorry, I didn't catch which of the two you'd prefer.")
        return {"refund_method": method}


class ValidateAddressForm(FormValidationAction):
    """Checks the answers of ``address_form``: an order that hasn't shipped, a full address."""

    def name(self) -> str:
        return "validate_address_form"

    def validate_order_id(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        order = _known_order(slot_value, dispatcher)
        if order is None:
            return {"order_id": None}
        if order.status != "processing":
            dispatcher.utter_message(text=_address_locked(order))
            return {"order_id": None}
        return {"order_id": order.order_id}

    def validate_new_address(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        order = load_orders().get(normalise_order_id(tracker.get_slot("order_id")) or "")
        if order is None or order.status != "processing":
            if order is not None:
                dispatcher.utter_message(text=_address_locked(order))
            return {"order_id": None, "new_address": None}
        address = clean_address(slot_value)
        problem = address_problem(address)
        if problem is not None:
            dispatcher.utter_message(text=_ADDRESS_PROBLEMS[problem])
            return {"new_address": None}
        return {"new_address": address}


class ActionAskReturnItem(Action):
    """Asks which item to return, with the order's items as buttons."""

    def name(self) -> str:
        return "action_ask_return_item"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[dict[str, Any]]:
        order_id = normalise_order_id(tracker.get_slot("order_id"))
        lines = items_of(order_id)
        if not lines:
            dispatcher.utter_message(text="Which item would you like to return?")
            return []
        dispatcher.utter_message(
            text=f"Which item from order {order_id} would you like to return?",
            buttons=[{"title": item.name, "payload": item.name} for item in lines],
        )
        return []


def return_reference(item: OrderItem) -> str:
    """``RT-10004-02``: the order's digits and the item's place on it, so that registering
    the same return twice gives the same reference."""
    return f"RT-{item.order_id.removeprefix('NW-')}-{item.position:02d}"


RETURN_ANSWERS = ("return_item", "return_reason", "refund_method")


class ActionSubmitReturn(Action):
    """Registers the return the form collected and confirms it with a return reference.

    This demo only answers; a real shop would create the return in its order system here.
    The form's answers are cleared, so a second return in the same chat asks again.
    """

    def name(self) -> str:
        return "action_submit_return"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[dict[str, Any]]:
        cleared = [SlotSet(name, None) for name in RETURN_ANSWERS]
        order = load_orders().get(normalise_order_id(tracker.get_slot("order_id")) or "")
        wanted = str(tracker.get_slot("return_item") or "")
        item = next(
            (i for i in items_of(order.order_id if order else None) if i.name == wanted), None
        )
        method = normalise_refund_method(tracker.get_slot("refund_method")) or ORIGINAL_PAYMENT
        if order is None or item is None or order.status not in RETURNABLE:
            dispatcher.utter_message(
                text=(
                    "Sorry, I couldn't register that return. Please try again, or ask for a "
                    "person and our team will sort it out."
                )
            )
            return cleared
        reference = return_reference(item)
        amount = f"{item.total:.2f} {order.currency}"
        if method == STORE_CREDIT:
            refund = f"we'll add {amount} in store credit to your Northwind account"
        else:
            refund = f"we'll refund {amount} to your original payment method"
        dispatcher.utter_message(
            text=(
                f"All set! Your return of the {item.name} from order {order.order_id} is "
                f"registered as {reference}. We'll e-mail you a prepaid return label; please "
                f"send the item back within 30 days. Once it has arrived and been checked, "
                f"{refund}."
            )
        )
        return [SlotSet("return_reference", reference), *cleared]


class ActionChangeAddress(Action):
    """Changes the delivery address of an order that hasn't shipped, and confirms it.

    This demo only answers; a real shop would update the order in its order system here.
    """

    def name(self) -> str:
        return "action_change_address"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[dict[str, Any]]:
        order = load_orders().get(normalise_order_id(tracker.get_slot("order_id")) or "")
        address = str(tracker.get_slot("new_address") or "").strip()
        if order is None or not address:
            dispatcher.utter_message(
                text="Sorry, I couldn't change the address. Please try again or ask for a person."
            )
            return [SlotSet("new_address", None)]
        if order.status != "processing":
            dispatcher.utter_message(text=_address_locked(order))
            return [SlotSet("new_address", None)]
        eta = f" The estimated delivery date stays {order.eta}." if order.eta else ""
        dispatcher.utter_message(
            text=(
                f"Done — order {order.order_id} will now be delivered to {address}. "
                f"You'll get an e-mail confirming the change.{eta}"
            )
        )
        return [SlotSet("new_address", None)]


class ActionStopForm(Action):
    """After the customer chose to leave a form: say so and forget its answers, so that
    starting again later asks afresh. The order number is kept for follow-up questions."""

    def name(self) -> str:
        return "action_stop_form"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_form_stopped")
        return [SlotSet(name, None) for name in (*RETURN_ANSWERS, "new_address")]
