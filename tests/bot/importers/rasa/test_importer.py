"""bot.importers.rasa.importer and .settings: the import as a whole. Odd content is a
warning, never a crash; only what Frontdesk really does differently is a warning; the notes
say what to set up next."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.importers.rasa import import_rasa_project
from retrieval.base.datasets import load_examples
from tests.bot.importers.rasa.helpers import CONFIG, CREDENTIALS, kinds, warnings_about, write


def test_odd_content_is_a_warning_not_a_crash(project: Path, tmp_path: Path) -> None:
    write(
        project / "data" / "odd.yml",
        """\
nlu:
- intent: greet
  examples: |
    - hey there
    this line has no dash
- 42
- story: not an nlu item
stories:
- story: a story without steps
""",
    )
    write(project / "data" / "old_nlu.md", "## intent:greet\n- hey\n")
    write(project / "data" / "README.md", "## How this bot's data is organised\n")
    write(project / "data" / "notes.yml", "- just a list\n")
    write(project / "domain.yml", (project / "domain.yml").read_text() + "\nmy_plugin: {a: 1}\n")

    summary = import_rasa_project(project, tmp_path / "out")

    assert "hey there" in {e.text for e in load_examples(tmp_path / "out" / "nlu.yml")}
    for needle in (
        "data/odd.yml:5: intent greet: skipped: example line without '- '",
        "data/odd.yml:6: skipped: an nlu item that is int",
        "data/odd.yml:7: skipped: nlu item with keys story",
        "data/odd.yml:9: skipped: a story without a list of steps",
        "unknown domain section 'my_plugin:'",
        "data/old_nlu.md: not imported: Rasa 1 training data",
        "data/notes.yml: skipped: not a Rasa training data file",
    ):
        assert warnings_about(summary, needle), needle
    assert not warnings_about(summary, "README.md")


def test_what_frontdesk_runs_as_rasa_does_gives_no_warning(
    imported: tuple[dict[str, Any], Path],
) -> None:
    summary, _ = imported

    # Forms, slot mappings and their conditions, validation actions, synonyms, regexes and
    # response variants all work as in Rasa: nothing to warn about. (Whether Frontdesk's
    # response reader takes every variant is its own test's business.)
    assert kinds(summary) - {"response_refused"} == {"config", "channel"}
    for needle in ("validate_return_form", "return_reason", "synonym", "regex", "form"):
        assert not warnings_about(summary, needle), needle


def test_config_yml_is_reported_by_what_frontdesk_does_instead(
    imported: tuple[dict[str, Any], Path],
) -> None:
    summary, _ = imported

    lines = CONFIG.splitlines()
    [pipeline] = warnings_about(
        summary, f"config.yml:{lines.index('pipeline:') + 1}: pipeline not imported"
    )
    assert "(WhitespaceTokenizer, RegexFeaturizer" in pipeline
    assert "trains its own classifier on nlu.yml" in pipeline
    ted = lines.index("  - name: TEDPolicy") + 1
    assert warnings_about(summary, f"config.yml:{ted}: TEDPolicy not imported", "fallback")
    # MemoizationPolicy and RulePolicy run without settings: Frontdesk has both.
    assert not warnings_about(summary, "MemoizationPolicy")
    assert not warnings_about(summary, "RulePolicy")


def test_policy_settings_and_pretrained_extractors_are_reported(
    project: Path, tmp_path: Path
) -> None:
    write(
        project / "config.yml",
        """\
pipeline:
- name: WhitespaceTokenizer
- name: DucklingEntityExtractor
  dimensions: [number, time]
policies:
- name: AugmentedMemoizationPolicy
  max_history: 4
- name: UnexpecTEDIntentPolicy
""",
    )

    summary = import_rasa_project(project, tmp_path / "out")

    assert warnings_about(summary, "config.yml:3: DucklingEntityExtractor", "(number, time)")
    assert warnings_about(
        summary, "config.yml:6: AugmentedMemoizationPolicy settings not imported (max_history: 4)"
    )
    assert warnings_about(summary, "config.yml:8: UnexpecTEDIntentPolicy not imported")


def test_notes_say_what_to_set_up_next(
    imported: tuple[dict[str, Any], Path],
) -> None:
    summary, out = imported

    notes = "\n".join(summary["notes"])
    assert 'action_server_url = "http://localhost:5055/webhook"' in notes
    assert f"frontdesk train intent --data {out / 'nlu.yml'} --out models/intent" in notes
    assert "POST /webhooks/rest/webhook" in notes
    assert "'socketio'" in notes and "widget" in notes
    assert f'data_dir = "{out}"' in notes
    [slack] = warnings_about(summary, "channel slack")
    assert slack.startswith(f"credentials.yml:{CREDENTIALS.splitlines().index('slack:') + 1}: ")


def test_actions_without_an_endpoint_get_the_default_action_server(
    project: Path, tmp_path: Path
) -> None:
    (project / "endpoints.yml").unlink()

    summary = import_rasa_project(project, tmp_path / "out")

    notes = "\n".join(summary["notes"])
    assert "rasa run actions" in notes
    assert 'action_server_url = "http://localhost:5055/webhook"' in notes


def test_endpoint_settings_frontdesk_does_not_use_are_reported(
    project: Path, tmp_path: Path
) -> None:
    write(
        project / "endpoints.yml",
        "action_endpoint:\n  url: http://actions:5055/webhook\n"
        "tracker_store:\n  type: redis\nnlg:\n  url: http://nlg:5056\n",
    )

    summary = import_rasa_project(project, tmp_path / "out")

    assert warnings_about(summary, "endpoints.yml:3: tracker_store not used")
    assert warnings_about(summary, "endpoints.yml:5: nlg not used", "from the domain")
    assert any("http://actions:5055/webhook" in note for note in summary["notes"])
