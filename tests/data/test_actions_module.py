"""Specs for the demo domain in ``data/``: the example actions module and the shipped CSV files."""

from __future__ import annotations

import csv
import importlib.util
import inspect
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

DATA = Path(__file__).resolve().parents[2] / "data"
ACTIONS_FILE = DATA / "actions.py"
SENTIMENT_LABELS = {"negative", "neutral", "positive"}
ORDER_STATUSES = {"processing", "shipped", "delivered", "cancelled", "refunded", "out_for_delivery"}
ORDER_SLOTS = {"order_id", "order_status", "carrier", "tracking_url", "eta", "amount"}

# Columns that must be filled in on every row, per known file (paths relative to data/).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "qa.csv": ("id", "question", "answer", "intent"),
    "sentiment.csv": ("text", "label"),
    "orders.csv": ("order_id", "email", "status", "amount", "currency", "placed_at"),
    "order_items.csv": ("order_id", "item", "quantity", "unit_price"),
    "eval/intent_paraphrases.csv": ("text", "intent"),
    "eval/out_of_domain.csv": ("text",),
    "eval/sentiment_holdout.csv": ("text", "label"),
    "eval/sentiment_stream.csv": ("text", "topic", "label"),
    "eval/retrieval_queries.csv": ("text", "id"),
}


def _load_actions_module() -> ModuleType:
    name = "frontdesk_demo_actions"
    spec = importlib.util.spec_from_file_location(name, ACTIONS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


actions = _load_actions_module()


def _tracker(
    slots: dict[str, Any] | None = None, entities: list[dict[str, Any]] | None = None
) -> Tracker:
    latest_message = {
        "text": "where is my order",
        "intent": {"name": "order_status", "confidence": 0.97},
        "entities": entities or [],
    }
    return Tracker(
        sender_id="test-customer",
        slots=slots or {},
        latest_message=latest_message,
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def _run(action: Action, tracker: Tracker) -> tuple[list[str], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    texts = [message["text"] for message in dispatcher.messages]
    return texts, events


def _slot_values(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert all(event["event"] == "slot" for event in events)
    return {event["name"]: event["value"] for event in events}


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


# --- the actions module ---------------------------------------------------------------------


def test_actions_module_exposes_the_four_order_actions_by_rasa_name() -> None:
    names = {
        cls().name()
        for cls in (
            actions.ActionOrderStatus,
            actions.ActionTrackShipment,
            actions.ActionCancelOrder,
            actions.ActionRefundStatus,
        )
    }
    assert names == {
        "action_order_status",
        "action_track_shipment",
        "action_cancel_order",
        "action_refund_status",
    }


def test_shared_base_action_is_abstract_so_action_scanners_skip_it() -> None:
    assert inspect.isabstract(actions.OrderAction)
    assert not inspect.isabstract(actions.ActionOrderStatus)


def test_orders_csv_is_read_from_next_to_the_module_and_cached() -> None:
    assert Path(actions.ORDERS_CSV) == ACTIONS_FILE.with_name("orders.csv")
    assert actions.load_orders() is actions.load_orders()
    assert len(actions.load_orders()) == 20


@pytest.mark.parametrize(
    "raw", ["NW-10003", "nw-10003", "NW10003", "nw10003", "10003", " nw 10003 ", "NW_10003"]
)
def test_order_numbers_are_normalised_from_loose_spellings(raw: str) -> None:
    assert actions.normalise_order_id(raw) == "NW-10003"


@pytest.mark.parametrize("raw", [None, "", "my order", "NW-12", "123"])
def test_text_without_an_order_number_normalises_to_none(raw: str | None) -> None:
    assert actions.normalise_order_id(raw) is None


async def test_order_status_reports_carrier_for_shipped_order() -> None:
    texts, events = await _run(actions.ActionOrderStatus(), _tracker({"order_id": "NW-10002"}))
    assert len(texts) == 1
    assert "NW-10002" in texts[0]
    assert "shipped" in texts[0]
    assert "DHL" in texts[0]
    assert "https://track.northwindgoods.example/dhl/" in texts[0]
    slots = _slot_values(events)
    assert set(slots) == ORDER_SLOTS
    assert slots["order_id"] == "NW-10002"
    assert slots["order_status"] == "shipped"
    assert slots["carrier"] == "DHL"
    assert slots["tracking_url"].startswith("https://")
    assert slots["eta"] == "2025-06-12"
    assert slots["amount"] == "129.00 EUR"


async def test_order_status_accepts_lowercase_order_number_without_dash() -> None:
    texts, events = await _run(actions.ActionOrderStatus(), _tracker({"order_id": "nw10003"}))
    assert "NW-10003" in texts[0]
    assert "shipped" in texts[0]
    assert "Royal Mail" in texts[0]
    assert _slot_values(events)["order_id"] == "NW-10003"


async def test_order_status_reads_order_number_from_entity_when_slot_is_empty() -> None:
    tracker = _tracker({"order_id": None}, [{"entity": "order_id", "value": "10004"}])
    texts, events = await _run(actions.ActionOrderStatus(), tracker)
    assert "delivered" in texts[0]
    assert _slot_values(events)["order_status"] == "delivered"


async def test_order_status_says_processing_order_has_not_shipped_and_sets_empty_slots() -> None:
    texts, events = await _run(actions.ActionOrderStatus(), _tracker({"order_id": "NW-10001"}))
    assert "processing" in texts[0]
    slots = _slot_values(events)
    assert slots["order_status"] == "processing"
    assert slots["carrier"] is None
    assert slots["tracking_url"] is None


async def test_unknown_order_gets_couldnt_find_message_and_clears_order_id() -> None:
    texts, events = await _run(actions.ActionOrderStatus(), _tracker({"order_id": "NW-99999"}))
    assert texts == [
        "I couldn't find order NW-99999. Please check the number — "
        "it's in your confirmation e-mail."
    ]
    assert _slot_values(events) == {"order_id": None}


@pytest.mark.parametrize(
    "action_class",
    [
        actions.ActionOrderStatus,
        actions.ActionTrackShipment,
        actions.ActionCancelOrder,
        actions.ActionRefundStatus,
    ],
)
async def test_every_order_action_asks_for_the_order_number_when_none_is_given(
    action_class: type[Action],
) -> None:
    texts, events = await _run(action_class(), _tracker())
    assert texts == ["Sure — what's your order number? It looks like NW-12345."]
    assert events == []


async def test_track_shipment_gives_tracking_link_for_out_for_delivery_order() -> None:
    texts, _ = await _run(actions.ActionTrackShipment(), _tracker({"order_id": "NW-10005"}))
    assert "out for delivery" in texts[0]
    assert "https://track.northwindgoods.example/dpd/" in texts[0]


async def test_track_shipment_explains_there_is_no_link_before_shipping() -> None:
    texts, _ = await _run(actions.ActionTrackShipment(), _tracker({"order_id": "NW-10001"}))
    assert "no tracking link" in texts[0]


async def test_cancel_order_allows_cancelling_a_processing_order() -> None:
    texts, events = await _run(actions.ActionCancelOrder(), _tracker({"order_id": "NW-10001"}))
    assert "can be cancelled" in texts[0]
    assert _slot_values(events)["order_status"] == "processing"


@pytest.mark.parametrize("order_id", ["NW-10002", "NW-10004", "NW-10005", "NW-10006", "NW-10007"])
async def test_cancel_order_refuses_orders_that_are_not_processing(order_id: str) -> None:
    texts, _ = await _run(actions.ActionCancelOrder(), _tracker({"order_id": order_id}))
    assert "can be cancelled" not in texts[0]
    assert "can't be cancelled" in texts[0] or "already cancelled" in texts[0]


async def test_cancel_order_does_not_modify_orders_csv() -> None:
    before = (DATA / "orders.csv").read_bytes()
    await _run(actions.ActionCancelOrder(), _tracker({"order_id": "NW-10001"}))
    assert (DATA / "orders.csv").read_bytes() == before


async def test_refund_status_reports_amount_for_refunded_order() -> None:
    texts, _ = await _run(actions.ActionRefundStatus(), _tracker({"order_id": "NW-10007"}))
    assert "refunded" in texts[0]
    assert "64.00 GBP" in texts[0]


async def test_refund_status_says_there_is_no_refund_for_shipped_order() -> None:
    texts, _ = await _run(actions.ActionRefundStatus(), _tracker({"order_id": "NW-10009"}))
    assert "no refund" in texts[0]


# --- the CSV files --------------------------------------------------------------------------

CSV_FILES = sorted(DATA.rglob("*.csv"))


def test_all_known_demo_csv_files_exist() -> None:
    present = {path.relative_to(DATA).as_posix() for path in CSV_FILES}
    assert set(REQUIRED_COLUMNS) <= present


@pytest.mark.parametrize("path", CSV_FILES, ids=lambda p: p.relative_to(DATA).as_posix())
def test_every_csv_under_data_parses_and_has_no_empty_required_fields(path: Path) -> None:
    fieldnames, rows = _read_csv(path)
    assert fieldnames, "missing header"
    assert rows, "no data rows"
    required = REQUIRED_COLUMNS.get(path.relative_to(DATA).as_posix(), tuple(fieldnames))
    assert set(required) <= set(fieldnames)
    for line, row in enumerate(rows, start=2):
        assert None not in row, f"line {line}: more fields than the header"
        assert None not in row.values(), f"line {line}: fewer fields than the header"
        for column in required:
            assert row[column].strip(), f"line {line}: empty {column!r}"


def test_qa_ids_are_unique_and_topics_have_several_questions() -> None:
    fieldnames, rows = _read_csv(DATA / "qa.csv")
    assert fieldnames == ["id", "question", "answer", "intent"]
    ids = [row["id"] for row in rows]
    assert len(rows) >= 240
    assert len(set(ids)) == len(ids)
    topics = Counter(row["intent"] for row in rows)
    assert 30 <= len(topics) <= 40
    assert min(topics.values()) >= 3
    assert len({row["question"].lower() for row in rows}) == len(rows)


def test_sentiment_labels_are_valid_and_each_class_has_at_least_200_rows() -> None:
    fieldnames, rows = _read_csv(DATA / "sentiment.csv")
    assert fieldnames == ["text", "label"]
    counts = Counter(row["label"] for row in rows)
    assert set(counts) == SENTIMENT_LABELS
    assert min(counts.values()) >= 200
    texts = [row["text"].strip().lower() for row in rows]
    assert len(set(texts)) == len(texts)


def test_sentiment_holdout_is_balanced_and_disjoint_from_training_sentiment() -> None:
    _, rows = _read_csv(DATA / "eval" / "sentiment_holdout.csv")
    assert Counter(row["label"] for row in rows) == {label: 30 for label in SENTIMENT_LABELS}
    _, train = _read_csv(DATA / "sentiment.csv")
    train_texts = {row["text"].strip().lower() for row in train}
    assert not {row["text"].strip().lower() for row in rows} & train_texts


def test_sentiment_stream_covers_every_dashboard_topic_and_tone_thirty_times() -> None:
    categories = yaml.safe_load((DATA / "domain.yml").read_text())["categories"]
    topics = set(categories.values()) - {"conversation", "feedback"}
    _, rows = _read_csv(DATA / "eval" / "sentiment_stream.csv")
    counts = Counter((row["topic"], row["label"]) for row in rows)
    assert counts == {(topic, label): 30 for topic in topics for label in SENTIMENT_LABELS}


def test_sentiment_stream_is_held_out_from_every_training_and_eval_text() -> None:
    _, rows = _read_csv(DATA / "eval" / "sentiment_stream.csv")
    texts = [row["text"].strip().lower() for row in rows]
    assert len(set(texts)) == len(texts)
    seen = {row["text"].strip().lower() for row in _read_csv(DATA / "sentiment.csv")[1]}
    seen |= {r["text"].strip().lower() for r in _read_csv(DATA / "eval/sentiment_holdout.csv")[1]}
    for block in yaml.safe_load((DATA / "nlu.yml").read_text())["nlu"]:
        for line in str(block.get("examples", "")).splitlines():
            seen.add(line.strip().removeprefix("- ").strip().lower())
    assert not set(texts) & seen


def test_orders_have_valid_statuses_and_tracking_only_once_shipped() -> None:
    fieldnames, rows = _read_csv(DATA / "orders.csv")
    assert fieldnames == [
        "order_id",
        "email",
        "status",
        "carrier",
        "tracking_url",
        "eta",
        "amount",
        "currency",
        "placed_at",
    ]
    assert [row["order_id"] for row in rows] == [f"NW-{n}" for n in range(10001, 10021)]
    for row in rows:
        assert row["status"] in ORDER_STATUSES
        has_tracking = row["status"] in {"shipped", "out_for_delivery", "delivered"}
        assert bool(row["tracking_url"]) == has_tracking, row["order_id"]
        float(row["amount"])


def test_intent_paraphrases_cover_twenty_intents_six_times_each() -> None:
    _, rows = _read_csv(DATA / "eval" / "intent_paraphrases.csv")
    counts = Counter(row["intent"] for row in rows)
    assert len(counts) == 20
    assert set(counts.values()) == {6}


def test_out_of_domain_set_has_eighty_distinct_questions() -> None:
    _, rows = _read_csv(DATA / "eval" / "out_of_domain.csv")
    assert len({row["text"].lower() for row in rows}) == len(rows) == 80


def test_retrieval_queries_target_existing_qa_rows_without_copying_the_question() -> None:
    _, qa_rows = _read_csv(DATA / "qa.csv")
    questions = {row["id"]: row["question"].strip().lower() for row in qa_rows}
    _, rows = _read_csv(DATA / "eval" / "retrieval_queries.csv")
    assert len(rows) == 60
    for row in rows:
        assert row["id"] in questions
        assert row["text"].strip().lower() != questions[row["id"]]
