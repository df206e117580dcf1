"""bot.importers.rasa.output: the data directory loads with Frontdesk's own readers, keeps
YAML 1.2 text as text, and is written all or nothing, never over the Rasa project's files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.importers.rasa import OUTPUT_FILES, import_rasa_project
from bot.importers.rasa.output import dump_yaml
from retrieval.base.datafiles import DataFileError, Yaml12Loader
from retrieval.base.datasets import load_examples
from retrieval.base.domain import Domain
from retrieval.base.stories import read_story_files
from tests.bot.importers.rasa.helpers import DOMAIN, NLU, write


def test_the_data_directory_loads_with_frontdesks_own_readers(
    imported: tuple[dict[str, Any], Path],
) -> None:
    summary, out = imported

    domain = Domain.load(out / "domain.yml")
    found = read_story_files([out / "rules.yml", out / "stories.yml"])
    examples = load_examples(out / "nlu.yml")

    assert set(domain.intents) == set(summary["intents"])
    assert {e.label for e in examples} == set(summary["intents"])
    assert (len(found.rules), len(found.stories)) == (6, 4)
    assert summary["files"] == [str(out / name) for name in OUTPUT_FILES]
    assert OUTPUT_FILES == ("domain.yml", "nlu.yml", "rules.yml", "stories.yml")
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    json.dumps(summary)  # the CLI prints it


@pytest.mark.parametrize("word", ["yes", "No", "on", "OFF", "y", "true", "False"])
def test_words_yaml_readers_take_for_booleans_are_quoted(word: str) -> None:
    data = {"value": word, "values": [word], "flag": True}

    text = dump_yaml(data).decode("utf-8")

    assert f"value: '{word}'" in text
    assert yaml.load(text, Loader=Yaml12Loader) == data
    assert yaml.safe_load(text) == data  # even a YAML 1.1 reader gets the text back


def test_multi_line_text_is_a_literal_block_and_items_are_spaced() -> None:
    data = {
        "nlu": [{"intent": "a", "examples": "- x\n- y\n"}, {"intent": "b", "examples": "- z\n"}]
    }

    text = dump_yaml(data, "# header\n").decode("utf-8")

    assert text == (
        "# header\nnlu:\n- intent: a\n  examples: |\n    - x\n    - y\n\n"
        "- intent: b\n  examples: |\n    - z\n"
    )


def test_existing_files_are_not_overwritten_without_force(
    project: Path, imported: tuple[dict[str, Any], Path]
) -> None:
    _, out = imported
    (out / "rules.yml").write_text("rules: []  # hand-edited\n", encoding="utf-8")

    with pytest.raises(DataFileError) as caught:
        import_rasa_project(project, out)

    assert caught.value.path == str(out / "domain.yml")
    assert "--force" in str(caught.value)
    assert "hand-edited" in (out / "rules.yml").read_text(encoding="utf-8")

    import_rasa_project(project, out, overwrite=True)
    assert "hand-edited" not in (out / "rules.yml").read_text(encoding="utf-8")


def test_the_rasa_projects_own_files_are_never_overwritten(project: Path) -> None:
    with pytest.raises(DataFileError, match="a file of the Rasa project") as caught:
        import_rasa_project(project, project, overwrite=True)

    assert caught.value.path == str(project / "domain.yml")
    assert (project / "domain.yml").read_text(encoding="utf-8") == DOMAIN
    with pytest.raises(DataFileError, match="a file of the Rasa project"):
        import_rasa_project(project, project / "data", overwrite=True)
    assert (project / "data" / "nlu.yml").read_text(encoding="utf-8") == NLU


def test_a_failed_import_writes_nothing(project: Path, tmp_path: Path) -> None:
    write(project / "data" / "stories.yml", "stories:\n- story: x\n  steps:\n  - intent: [a\n")
    out = tmp_path / "out"

    with pytest.raises(DataFileError):
        import_rasa_project(project, out)

    assert not out.exists() or list(out.iterdir()) == []


def test_responses_yml_of_an_earlier_import_is_removed_and_a_persons_is_kept(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    earlier = "# Imported by 'frontdesk import rasa' from the Rasa project in\n# x\ngreet: [Hi]\n"
    write(out / "responses.yml", earlier)

    with pytest.raises(DataFileError, match="already exists"):
        import_rasa_project(project, out)
    summary = import_rasa_project(project, out, overwrite=True)

    assert not (out / "responses.yml").exists()
    assert any("written by an earlier import" in note for note in summary["notes"])

    write(out / "responses.yml", "greet: [Hello from a person]\n")
    (out / "stories").mkdir()
    summary = import_rasa_project(project, out, overwrite=True)

    assert (out / "responses.yml").read_text(encoding="utf-8") == "greet: [Hello from a person]\n"
    notes = " ".join(summary["notes"])
    assert "responses.yml is kept: the server merges its responses over the domain's" in notes
    assert f"{out / 'stories'}/ is kept: the server reads it too" in notes
