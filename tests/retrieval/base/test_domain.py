"""retrieval.base.domain: topics, action intents, slots and required slots from domain.yml."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.base.datafiles import DataFileError
from retrieval.base.domain import Domain, FormSpec, SlotMapping

REPO_DOMAIN = Path(__file__).resolve().parents[3] / "data" / "domain.yml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "domain.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_demo_domain_loads() -> None:
    domain = Domain.load(REPO_DOMAIN)

    assert domain.category("order_status") == "orders"
    assert domain.category("refund_status") == "returns"
    assert domain.intent_actions["order_status"] == "action_order_status"
    assert {"order_id", "email"} <= set(domain.slots)
    assert domain.slots["order_id"].entity == "order_id"
    assert "order number" in domain.slots["order_id"].prompt
    assert domain.required_slots["action_order_status"] == ("order_id",)
    # Every action that needs slots is one the domain routes intents to.
    assert set(domain.required_slots) <= set(domain.intent_actions.values())


def test_a_domain_file_is_read_into_typed_mappings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
categories: {order_status: orders, greet: conversation}
intent_actions: {order_status: action_order_status}
slots:
  order_id: {entity: order_id, prompt: "Your order number?"}
  email: {}
required_slots:
  action_order_status: [order_id, email]
""",
    )

    domain = Domain.load(path)

    assert domain.categories == {"order_status": "orders", "greet": "conversation"}
    assert domain.intent_actions == {"order_status": "action_order_status"}
    assert {n: (s.entity, s.prompt) for n, s in domain.slots.items()} == {
        "order_id": ("order_id", "Your order number?"),
        "email": ("email", "Could you tell me your email?"),
    }
    # The short form is a slot filled from its entity.
    assert domain.slots["order_id"].mappings == (SlotMapping("from_entity", entity="order_id"),)
    assert domain.required_slots == {"action_order_status": ("order_id", "email")}


def test_category_is_unknown_without_an_intent_and_other_for_an_unlisted_one() -> None:
    domain = Domain(categories={"greet": "conversation"})

    assert domain.category("greet") == "conversation"
    assert domain.category("weather") == "other"
    assert domain.category(None) == "unknown"
    assert domain.category("") == "unknown"


def test_missing_slots_lists_required_slots_that_are_empty_in_order() -> None:
    domain = Domain(required_slots={"action_x": ("order_id", "email")})

    assert domain.missing_slots("action_x", {}) == ["order_id", "email"]
    assert domain.missing_slots("action_x", {"order_id": "NW-1", "email": ""}) == ["email"]
    assert domain.missing_slots("action_x", {"order_id": "NW-1", "email": "a@b.io"}) == []
    assert domain.missing_slots("action_without_requirements", {}) == []


def test_as_rasa_is_the_domain_rasa_sdk_actions_receive(tmp_path: Path) -> None:
    domain = Domain.load(
        write(
            tmp_path,
            """
intents: [greet, {order_status: {use_entities: []}}]
entities: [order_id]
slots:
  order_id:
    type: text
    mappings:
    - type: from_entity
      entity: order_id
      conditions: [{active_loop: status_form, requested_slot: order_id}]
forms:
  status_form: {required_slots: [order_id]}
actions: [action_order_status]
responses:
  utter_greet: [{text: hi}]
""",
        )
    )

    rasa = domain.as_rasa()

    assert rasa == {
        "intents": ["greet", "order_status"],
        "entities": ["order_id"],
        "slots": {
            "order_id": {
                "type": "text",
                "initial_value": None,
                "influence_conversation": True,
                "mappings": [
                    {
                        "type": "from_entity",
                        "entity": "order_id",
                        "conditions": [
                            {"active_loop": "status_form", "requested_slot": "order_id"}
                        ],
                    }
                ],
            }
        },
        "actions": ["action_order_status"],
        "responses": {"utter_greet": [{"text": "hi"}]},
        "forms": {"status_form": {"required_slots": ["order_id"]}},
    }
    assert domain.forms == {"status_form": FormSpec("status_form", ("order_id",))}


def test_a_missing_domain_file_gives_an_empty_domain(tmp_path: Path) -> None:
    assert Domain.load(tmp_path / "absent.yml") == Domain()


def test_an_empty_domain_file_gives_an_empty_domain(tmp_path: Path) -> None:
    assert Domain.load(write(tmp_path, "")) == Domain()


def test_a_required_slot_that_is_not_declared_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "slots: {order_id: {entity: order_id}}\n"
        "required_slots: {action_order_status: [order_id, postcode]}\n",
    )

    with pytest.raises(DataFileError) as caught:
        Domain.load(path)

    assert str(caught.value) == (
        f"{path} (field 'required_slots'): required_slots.action_order_status names undeclared "
        "slots ['postcode']. Fix: declare them under slots:"
    )


def test_required_slots_that_are_not_a_list_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "slots: {order_id: {}}\nrequired_slots: {action_x: order_id}\n")

    with pytest.raises(DataFileError) as caught:
        Domain.load(path)

    assert str(caught.value) == (
        f"{path} (field 'required_slots'): required_slots.action_x must be a list. "
        "Fix: write [slot_a, slot_b]"
    )


def test_a_slot_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "slots: {order_id: order_id}\n")

    with pytest.raises(DataFileError) as caught:
        Domain.load(path)

    assert str(caught.value) == (
        f"{path} (field 'slots.order_id'): slot 'order_id' must be a mapping. "
        "Fix: write {type: text, mappings: [...]} (Rasa) or {entity: NAME, prompt: TEXT}"
    )


@pytest.mark.parametrize("key", ["categories", "intent_actions", "slots", "required_slots"])
def test_a_section_that_is_a_list_instead_of_a_mapping_is_an_error(
    tmp_path: Path, key: str
) -> None:
    path = write(tmp_path, f"{key}: [a, b]\n")

    with pytest.raises(DataFileError) as caught:
        Domain.load(path)

    assert str(caught.value) == (
        f"{path} (field '{key}'): {key} must be a mapping. Fix: see the 'Dialogue' section of "
        "the README for the domain.yml keys"
    )


def test_a_top_level_list_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")

    with pytest.raises(DataFileError) as caught:
        Domain.load(path)

    assert str(caught.value) == (
        f"{path}: expected a mapping at the top level. Fix: see the 'Dialogue' section of the "
        "README for the domain.yml keys"
    )


def test_invalid_yaml_in_the_domain_is_a_data_file_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "categories:\n  greet: conversation\n\tbye: x\n")

    with pytest.raises(DataFileError) as caught:
        Domain.load(path)

    assert caught.value.line == 3
