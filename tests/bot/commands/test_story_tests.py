"""``frontdesk test stories``: the real models, domain and rules replay a story file and the
report says which step went wrong."""

from __future__ import annotations

import json
from pathlib import Path

from bot.commands.story_tests import run
from tests.conftest import TinyModels, app_config

STORIES = """
stories:
- story: a greeting is answered
  steps:
  - intent: greet
  - action: utter_greet
- story: a wrong expectation
  steps:
  - intent: greet
  - action: utter_goodbye
"""


async def test_test_stories_prints_counts_and_marks_the_wrong_step(
    tmp_path: Path, tiny_models: TinyModels
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "responses.yml").write_text(
        "utter_greet: [Hello!]\nutter_goodbye: [Bye!]\n", encoding="utf-8"
    )
    (tmp_path / "test_stories.yml").write_text(STORIES, encoding="utf-8")
    config = app_config(tmp_path, models_dir=tiny_models.models_dir, data_dir=data)

    summary = await run(
        config, [tmp_path / "test_stories.yml"], tmp_path / "results", read_text=False
    )

    assert (summary["stories"], summary["passed"], summary["failed"]) == (2, 1, 1)
    assert summary["per_action"]["utter_goodbye"]["recall"] == 0.0
    failed = (tmp_path / "results" / "failed_test_stories.yml").read_text(encoding="utf-8")
    assert "- action: utter_goodbye  # predicted: utter_greet" in failed
    assert "a greeting is answered" not in failed
    report = json.loads((tmp_path / "results" / "story_report.json").read_text(encoding="utf-8"))
    assert report["stories"] == 2
