"""The project's test stories (``tests/test_stories.yml`` and any other story file under
``tests/``), copied byte for byte into ``OUT/tests/``.

They are copied, not rewritten, so that their comments and layout stay the author's: they
are the conversations the bot must still hold after the move. A file Frontdesk's story
reader refuses is left out with its reason rather than failing the import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.importers.rasa.project import test_story_files
from bot.importers.rasa.report import Kind, Report
from retrieval.base.datafiles import DataFileError
from retrieval.base.stories import read_story_file


@dataclass(slots=True)
class StoryTests:
    files: dict[str, bytes] = field(default_factory=dict)  # "tests/<path>" -> content
    stories: int = 0


def read_story_tests(project: Path, report: Report) -> StoryTests:
    tests = StoryTests()
    for source in test_story_files(project):
        try:
            found = read_story_file(source.path)
        except DataFileError as exc:
            line = f":{exc.line}" if exc.line else ""
            fix = f" (fix: {exc.fix})" if exc.fix else ""
            report.warn(
                Kind.TEST_FILE_UNREADABLE,
                f"{source.rel}{line}",
                f"not copied: {exc.problem}{fix}",
                source.rel,
            )
            continue
        relative = source.path.relative_to(project / "tests").as_posix()
        tests.files[f"tests/{relative}"] = source.path.read_bytes()
        tests.stories += len(found.stories)
        report.read.append(source.rel)
    return tests
