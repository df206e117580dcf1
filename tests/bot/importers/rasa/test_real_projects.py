"""The three real Rasa projects (financial-demo, formbot, moodbot) imported whole: what is
written reads, with Frontdesk's own readers, exactly as the project itself does, and the
warnings are only the ones that matter for each."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.importers.rasa import import_rasa_project
from retrieval.base.datasets import load_examples
from retrieval.base.domain import Domain
from retrieval.base.stories import read_story_files
from tests.bot.importers.rasa.helpers import kinds, shapes

REPO_ROOT = Path(__file__).resolve().parents[4]
PROJECTS = REPO_ROOT.parent / "shared" / "data" / "rasa_projects"
# Kinds that depend on what Frontdesk's readers take today (its response reader, its
# annotation stripping), not on the project: checked in their own tests.
READER_KINDS = {"response_refused", "annotation_as_text"}
EXPECTED_KINDS = {
    "moodbot": {"config", "channel"},
    "formbot": {"config", "repeated_examples"},
    "financial-demo": {
        "config",
        "channel",
        "repeated_examples",
        "unlearnable_intent",
        "conflicting_example",
    },
}


@pytest.fixture(params=sorted(EXPECTED_KINDS))
def rasa_project(request: pytest.FixtureRequest) -> Path:
    path = PROJECTS / str(request.param)
    if not path.is_dir():
        pytest.skip(f"the real Rasa projects are not at {PROJECTS} (../shared/data/rasa_projects)")
    return path


def test_a_real_project_is_written_through_unchanged(rasa_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"

    summary = import_rasa_project(rasa_project, out)

    written, original = Domain.load(out / "domain.yml"), Domain.load(rasa_project / "domain.yml")
    for field in ("intents", "entities", "slots", "forms", "actions", "responses", "session"):
        assert getattr(written, field) == getattr(original, field), field
    assert written.categories == {}

    flows = read_story_files([out / "rules.yml", out / "stories.yml"])
    assert shapes(flows) == shapes(read_story_files([rasa_project / "data"]))

    def pairs(path: Path) -> set[tuple[str, str]]:
        return {(e.label, e.text) for e in load_examples(path)}

    assert pairs(out / "nlu.yml") == pairs(rasa_project / "data")

    tests = sorted((rasa_project / "tests").glob("test_*.yml"))
    for test_file in tests:
        assert (out / "tests" / test_file.name).read_bytes() == test_file.read_bytes()
    expected_tests = len(read_story_files(tests).stories) if tests else 0
    assert summary["test_stories"] == expected_tests

    assert kinds(summary) - READER_KINDS == EXPECTED_KINDS[rasa_project.name]


def test_financial_demo_keeps_its_yes_values_and_names_its_action_server(tmp_path: Path) -> None:
    project = PROJECTS / "financial-demo"
    if not project.is_dir():
        pytest.skip(f"the real Rasa projects are not at {PROJECTS} (../shared/data/rasa_projects)")

    summary = import_rasa_project(project, tmp_path / "data")

    domain = Domain.load(tmp_path / "data" / "domain.yml")
    assert [m.value for m in domain.slots["AA_CONTINUE_FORM"].mappings][:2] == ["yes", "no"]
    assert domain.session.expiration_minutes == 0
    notes = "\n".join(summary["notes"])
    assert 'action_server_url = "http://localhost:5056/webhook"' in notes
    assert "frontdesk test stories" in notes
    assert summary["test_stories"] == 48
