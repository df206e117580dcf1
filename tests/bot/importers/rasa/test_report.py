"""bot.importers.rasa.report: warnings of one kind are printed as one line with a count and
the first places, and every occurrence stays in the JSON summary."""

from __future__ import annotations

import json
from pathlib import Path

from bot.importers.rasa import import_rasa_project
from bot.importers.rasa.report import SHOWN_PLACES, Kind, Report
from tests.bot.importers.rasa.helpers import write


def intent_warnings(report: Report, count: int) -> None:
    for number in range(count):
        report.warn(
            Kind.UNLEARNABLE_INTENT,
            f"domain.yml:{10 + number}",
            f"intent i{number} has no NLU examples: only a '/i{number}' message triggers it",
            f"i{number}",
        )


def test_warnings_of_one_kind_are_grouped_with_a_count_and_the_first_places() -> None:
    report = Report()
    intent_warnings(report, 5)

    assert report.warnings == [
        f"{Kind.UNLEARNABLE_INTENT.value} (5 times): domain.yml:10 (i0), domain.yml:11 (i1), "
        "domain.yml:12 (i2) and 2 more"
    ]
    assert SHOWN_PLACES == 3


def test_a_warning_met_once_is_printed_whole_with_its_place() -> None:
    report = Report()
    intent_warnings(report, 1)
    report.warn(Kind.REPEATED_EXAMPLES, "", "dropped 2 repeated examples")

    assert report.warnings == [
        "domain.yml:10: intent i0 has no NLU examples: only a '/i0' message triggers it",
        "dropped 2 repeated examples",
    ]


def test_every_occurrence_is_kept_in_the_details() -> None:
    report = Report()
    intent_warnings(report, 5)

    [group] = report.details()
    assert group["kind"] == "unlearnable_intent"
    assert group["count"] == 5
    assert group["text"] == report.warnings[0]
    assert group["occurrences"][4] == {
        "at": "domain.yml:14",
        "message": "intent i4 has no NLU examples: only a '/i4' message triggers it",
    }
    json.dumps(report.details())


def test_kinds_are_printed_in_the_order_they_were_first_met_and_repeats_dropped() -> None:
    report = Report()
    report.warn(Kind.CHANNEL, "credentials.yml:3", "channel slack not served", "slack")
    intent_warnings(report, 2)
    report.warn(Kind.CHANNEL, "credentials.yml:9", "channel telegram not served", "telegram")
    report.warn(Kind.CHANNEL, "credentials.yml:9", "channel telegram not served", "telegram")

    assert [group.kind for group in report.groups] == [Kind.CHANNEL, Kind.UNLEARNABLE_INTENT]
    assert report.warnings[0].endswith(
        "(2 times): credentials.yml:3 (slack), credentials.yml:9 (telegram)"
    )


def test_every_kind_has_a_line_of_its_own() -> None:
    # Two kinds with the same text would be one Enum member, and one group.
    assert len({kind.value for kind in Kind}) == len(Kind.__members__)
    assert all(len(kind.value) <= 200 for kind in Kind)


def test_many_channels_give_one_line(project: Path, tmp_path: Path) -> None:
    channels = ["slack", "telegram", "twilio", "facebook", "mattermost"]
    write(project / "credentials.yml", "".join(f"{name}:\n  token: x\n" for name in channels))

    summary = import_rasa_project(project, tmp_path / "out")

    [line] = [w for w in summary["warnings"] if w.startswith(Kind.CHANNEL.value)]
    assert "(5 times): credentials.yml:1 (slack), credentials.yml:3 (telegram)" in line
    assert line.endswith(" and 2 more")
    [group] = [g for g in summary["warning_details"] if g["kind"] == "channel"]
    assert group["count"] == 5
