"""bot.importers.rasa.responses: responses are written with all their Rasa variants, and a
response Frontdesk's response reader refuses (the server would not start) is reported with
the reader's reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.importers.rasa import import_rasa_project
from retrieval.base.datafiles import Yaml12Loader
from tests.bot.importers.rasa.helpers import DOMAIN, warnings_about, write


def responses(out: Path) -> dict[str, Any]:
    data = yaml.load((out / "domain.yml").read_text(encoding="utf-8"), Loader=Yaml12Loader)
    found: dict[str, Any] = data["responses"]
    return found


def test_every_variant_is_kept_as_rasa_wrote_it(imported: tuple[dict[str, Any], Path]) -> None:
    _, out = imported
    written = responses(out)

    assert written["utter_greet"][1] == {
        "condition": [{"type": "slot", "name": "logged_in", "value": True}],
        "text": "Welcome back! How are you today?",
    }
    assert written["utter_goodbye"][1] == {"text": "Bye! Have a good one.", "channel": "slack"}
    assert written["utter_cheer_up"] == [
        {"text": "Here is something to cheer you up:", "image": "https://i.imgur.com/nGF1K8f.jpg"}
    ]
    assert written["utter_did_that_help"][0]["buttons"] == [
        {"title": "Yes", "payload": "/affirm"},
        {"title": "No", "payload": "/deny"},
    ]
    assert set(written) == set(yaml.load(DOMAIN, Loader=Yaml12Loader)["responses"])


BROKEN = """\
  utter_broken:
  - text:
      greeting: hello
"""


def test_a_response_the_reader_refuses_is_reported_and_kept(project: Path, tmp_path: Path) -> None:
    text = DOMAIN.replace("  utter_iamabot:\n", BROKEN + "  utter_iamabot:\n")
    write(project / "domain.yml", text)

    summary = import_rasa_project(project, tmp_path / "out")

    [refused] = warnings_about(summary, "response utter_broken:")
    line = text.splitlines().index("  utter_broken:") + 1
    assert refused.startswith(f"domain.yml:{line}: response utter_broken: Frontdesk's response")
    assert "text is a dict" in refused and "(fix: quote the text)" in refused
    assert responses(tmp_path / "out")["utter_broken"] == [{"text": {"greeting": "hello"}}]
