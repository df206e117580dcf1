"""bot.importers.rasa.story_tests: the project's test stories are copied byte for byte into
OUT/tests/, where ``frontdesk test stories`` reads them."""

from __future__ import annotations

from pathlib import Path

from bot.importers.rasa import import_rasa_project
from retrieval.base.stories import read_story_files
from tests.bot.importers.rasa.helpers import write

TEST_STORIES = """\
# The conversations this bot must hold.
stories:
- story: happy path
  steps:
  - user: |
      hello there!
    intent: greet
  - action: utter_greet
  - user: |
      amazing
    intent: mood_great
  - action: utter_happy
"""


def test_test_story_files_are_copied_as_they_are(project: Path, tmp_path: Path) -> None:
    write(project / "tests" / "test_stories.yml", TEST_STORIES)
    write(project / "tests" / "forms" / "test_returns.yml", TEST_STORIES.replace("happy", "other"))
    write(project / "tests" / "data" / "tracker.json", "{}")
    write(project / "tests" / "conftest.py", "")
    write(project / "tests" / "settings.yml", "timeout: 5\n")
    out = tmp_path / "out"

    summary = import_rasa_project(project, out)

    assert (out / "tests" / "test_stories.yml").read_text(encoding="utf-8") == TEST_STORIES
    assert (out / "tests" / "forms" / "test_returns.yml").is_file()
    assert sorted(p.relative_to(out).as_posix() for p in (out / "tests").rglob("*.*")) == [
        "tests/forms/test_returns.yml",
        "tests/test_stories.yml",
    ]
    assert str(out / "tests" / "test_stories.yml") in summary["files"]
    assert summary["test_stories"] == 2
    assert len(read_story_files([out / "tests"]).stories) == 2
    assert any(f"frontdesk test stories {out / 'tests'}" in note for note in summary["notes"])


def test_a_test_file_the_story_reader_refuses_is_reported_not_copied(
    project: Path, tmp_path: Path
) -> None:
    write(project / "tests" / "test_broken.yml", "stories:\n- story: x\n  steps:\n  - 42\n")
    write(project / "tests" / "test_stories.yml", TEST_STORIES)

    summary = import_rasa_project(project, tmp_path / "out")

    assert not (tmp_path / "out" / "tests" / "test_broken.yml").exists()
    assert (tmp_path / "out" / "tests" / "test_stories.yml").exists()
    [group] = [g for g in summary["warning_details"] if g["kind"] == "test_file_unreadable"]
    [occurrence] = group["occurrences"]
    assert occurrence["at"] == "tests/test_broken.yml:4"
    assert occurrence["message"].startswith("not copied: a step must be a mapping")
