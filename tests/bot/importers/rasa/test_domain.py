"""bot.importers.rasa.domain: the Rasa domain is written as Rasa wrote it (merged from its
files), with Frontdesk's empty categories, and read by Frontdesk's own domain reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.importers.rasa import import_rasa_project
from retrieval.base.datafiles import DataFileError, Yaml12Loader
from retrieval.base.domain import Domain
from tests.bot.importers.rasa.helpers import DOMAIN, NLU, warnings_about, write

RASA_KEYS = ("intents", "entities", "slots", "forms", "responses", "actions", "session_config")


def read(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Yaml12Loader)


def test_every_rasa_key_is_written_as_it_was(imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    written, original = read(out / "domain.yml"), yaml.load(DOMAIN, Loader=Yaml12Loader)

    for key in RASA_KEYS:
        assert written[key] == original[key], key
    assert written["version"] == "3.1"
    assert summary["responses"] == list(original["responses"])
    assert summary["actions"] == original["actions"]
    assert summary["slots"]["logged_in"] == "bool"
    assert summary["required_slots"] == {"return_form": ["order_id", "email", "return_reason"]}


def test_categories_are_left_empty_with_a_comment_saying_what_goes_there(
    imported: tuple[dict[str, Any], Path],
) -> None:
    _, out = imported
    text = (out / "domain.yml").read_text(encoding="utf-8")

    assert read(out / "domain.yml")["categories"] == {}
    comment = text[: text.index("categories: {}")].rsplit("\n\n", 1)[1]
    assert comment.startswith("# categories is Frontdesk's own key, not Rasa's")
    assert "ops" in comment and "dashboard" in comment


def test_frontdesks_domain_reader_reads_forms_mappings_and_conditions(
    imported: tuple[dict[str, Any], Path],
) -> None:
    _, out = imported
    domain = Domain.load(out / "domain.yml")

    assert domain.forms["return_form"].required_slots == ("order_id", "email", "return_reason")
    [mapping] = domain.slots["return_reason"].mappings
    assert (mapping.type, mapping.conditions) == ("from_text", (("return_form", "return_reason"),))
    assert domain.slots["logged_in"].influence_conversation is True
    assert "action_check_order_status" in domain.actions
    assert domain.session.expiration_minutes == 60
    assert domain.categories == {}
    assert domain.responses["utter_greet"][1]["condition"][0]["name"] == "logged_in"


YES_NO = """\
  confirmed:
    type: categorical
    values: [yes, no, maybe]
    influence_conversation: true
    mappings:
    - type: from_intent
      intent: affirm
      value: yes
    - type: from_intent
      intent: deny
      value: no
"""


def test_yes_and_no_stay_text_as_rasa_reads_them(project: Path, tmp_path: Path) -> None:
    text = DOMAIN.replace("  logged_in:\n", YES_NO + "  logged_in:\n")
    write(project / "domain.yml", text)

    import_rasa_project(project, tmp_path / "out")

    written = (tmp_path / "out" / "domain.yml").read_text(encoding="utf-8")
    # Quoted, so that even a YAML 1.1 reader (PyYAML's safe_load) reads text.
    for data in (yaml.safe_load(written), yaml.load(written, Loader=Yaml12Loader)):
        slot = data["slots"]["confirmed"]
        assert slot["values"] == ["yes", "no", "maybe"]
        assert [m["value"] for m in slot["mappings"]] == ["yes", "no"]
        buttons = data["responses"]["utter_did_that_help"][0]["buttons"]
        assert [b["title"] for b in buttons] == ["Yes", "No"]
    domain = Domain.load(tmp_path / "out" / "domain.yml")
    assert [m.value for m in domain.slots["confirmed"].mappings] == ["yes", "no"]


def test_a_domain_folder_is_merged_and_the_first_definition_wins(
    project: Path, tmp_path: Path
) -> None:
    data = yaml.load(DOMAIN, Loader=Yaml12Loader)
    (project / "domain.yml").unlink()
    responses = {"responses": data.pop("responses")}
    later = {
        "intents": ["greet", "ask_refund"],
        "responses": {
            "utter_happy": [{"text": "Great, carry on!"}],  # the same: nothing to report
            "utter_goodbye": [{"text": "Farewell"}],  # another text: reported, not kept
            "utter_refund": [{"text": "Refunds take 5 days."}],
        },
    }
    write(project / "domain" / "core.yml", yaml.safe_dump(data))
    write(project / "domain" / "responses.yml", yaml.safe_dump(responses))
    write(project / "domain" / "z_more.yml", yaml.safe_dump(later))

    summary = import_rasa_project(project, tmp_path / "out")

    written = read(tmp_path / "out" / "domain.yml")
    assert written["intents"] == [*data["intents"], "ask_refund"]
    assert written["responses"]["utter_goodbye"] == responses["responses"]["utter_goodbye"]
    assert written["responses"]["utter_refund"] == [{"text": "Refunds take 5 days."}]
    assert written["forms"] == data["forms"]
    assert {"domain/core.yml", "domain/responses.yml", "domain/z_more.yml"} <= set(summary["read"])
    [twice] = warnings_about(summary, "defined twice")
    assert twice.startswith("domain/z_more.yml:")
    assert "response utter_goodbye" in twice and "kept the one at domain/responses.yml:" in twice


def test_responses_kept_in_data_files_join_the_domain(project: Path, tmp_path: Path) -> None:
    write(
        project / "data" / "faq.yml",
        'version: "3.1"\nresponses:\n  utter_faq/opening_hours:\n  - text: "9 to 5."\n',
    )

    import_rasa_project(project, tmp_path / "out")

    written = read(tmp_path / "out" / "domain.yml")
    assert written["responses"]["utter_faq/opening_hours"] == [{"text": "9 to 5."}]


CUSTOM_SLOT = """\
  loyalty:
    type: addons.slots.LoyaltySlot
    influence_conversation: false
    mappings:
    - type: custom
"""


def test_custom_slot_classes_and_rasa_2_forms_are_reported(project: Path, tmp_path: Path) -> None:
    text = DOMAIN.replace("  logged_in:\n", CUSTOM_SLOT + "  logged_in:\n")
    text = text.replace(
        "    required_slots:\n      - order_id\n      - email\n      - return_reason\n",
        "    required_slots:\n      order_id:\n"
        "      - type: from_entity\n        entity: order_id\n",
    )
    write(project / "domain.yml", text)

    summary = import_rasa_project(project, tmp_path / "out")

    assert warnings_about(summary, "domain.yml:", "slot loyalty: type addons.slots.LoyaltySlot")
    assert Domain.load(tmp_path / "out" / "domain.yml").slots["loyalty"].type == "any"
    assert warnings_about(summary, "form return_form: required_slots maps slots")


def test_a_domain_entry_frontdesk_refuses_is_an_error_at_the_projects_line(
    project: Path, tmp_path: Path
) -> None:
    text = DOMAIN.replace("      - return_reason\n", "      - return_reason\n      - size\n")
    path = write(project / "domain.yml", text)

    with pytest.raises(DataFileError) as caught:
        import_rasa_project(project, tmp_path / "out")

    assert caught.value.path == str(path)
    assert caught.value.line == text.splitlines().index("    required_slots:") + 1
    assert caught.value.field == "forms.return_form.required_slots"
    assert caught.value.fix == "declare them under slots:"
    assert not (tmp_path / "out" / "domain.yml").exists()


def test_a_project_without_a_domain_gets_one_listing_its_intents(tmp_path: Path) -> None:
    root = tmp_path / "nodomain"
    write(root / "data" / "nlu.yml", NLU)

    summary = import_rasa_project(root, tmp_path / "out")

    assert warnings_about(summary, "domain.yml: not found")
    domain = Domain.load(tmp_path / "out" / "domain.yml")
    assert domain.intents == tuple(summary["intents"])
