from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.importers.rasa import import_rasa_project
from tests.bot.importers.rasa.helpers import write_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "moodbot")


@pytest.fixture
def imported(project: Path, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    out = tmp_path / "frontdesk"
    return import_rasa_project(project, out), out
