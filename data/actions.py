"""Example custom actions for the Northwind Goods demo shop.

These are ordinary ``rasa_sdk`` actions: Frontdesk can run them in-process, and a Rasa action
server can run them unchanged. They answer questions about an order by looking it up in
``orders.csv`` next to this file. A real shop would call its order system here instead; the
lookup is the only part that would change.

Every action reads the order number from the ``order_id`` slot or, when the slot is empty, from
an ``order_id`` entity in the latest message. Order numbers are accepted in loose forms
(``nw-10001``, ``NW10001``, ``10001``) and normalised to ``NW-10001``.
"""

from __future__ import annotations

import csv
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

ORDERS_CSV = Path(__file__).with_name("orders.csv")

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
