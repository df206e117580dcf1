"""bot.importers.rasa.project: finding and reading a Rasa project's files (data/, domain.yml
or domain/, tests/), with the file and the line of anything wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.importers.rasa import import_rasa_project
from retrieval.base.datafiles import DataFileError
from tests.bot.importers.rasa.helpers import DOMAIN, RULES, write


def test_broken_yaml_is_reported_with_the_file_and_line(project: Path, tmp_path: Path) -> None:
    broken = DOMAIN.replace('  - text: "Bye"\n', '  - text: "Bye"\n   bad: indentation\n')
    path = write(project / "domain.yml", broken)
    line = broken.splitlines().index("   bad: indentation") + 1

    with pytest.raises(DataFileError) as caught:
        import_rasa_project(project, tmp_path / "out")

    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert caught.value.fix


def test_a_section_of_the_wrong_shape_is_an_error_with_its_line(
    project: Path, tmp_path: Path
) -> None:
    path = write(project / "data" / "nlu.yml", 'version: "3.1"\n\nnlu:\n  intent: greet\n')

    with pytest.raises(DataFileError) as caught:
        import_rasa_project(project, tmp_path / "out")

    assert caught.value.path == str(path)
    assert caught.value.line == 3
    assert caught.value.field == "nlu"


def test_a_folder_without_nlu_data_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    write(root / "data" / "rules.yml", RULES)

    with pytest.raises(DataFileError, match="no Rasa NLU data"):
        import_rasa_project(root, tmp_path / "out")
    with pytest.raises(DataFileError, match="not found"):
        import_rasa_project(tmp_path / "missing", tmp_path / "out")
