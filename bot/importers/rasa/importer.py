"""The import as a whole: check the folders, read the project, write the data directory and
return a summary the CLI prints as JSON."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.importers.rasa.checks import check_names
from bot.importers.rasa.domain import FORMAT_VERSION, RasaDomain, read_domain
from bot.importers.rasa.flows import read_flows
from bot.importers.rasa.nlu import read_nlu
from bot.importers.rasa.output import (
    BUG_FIX,
    OUTPUT_FILES,
    dump_yaml,
    exists_error,
    write_outputs,
)
from bot.importers.rasa.project import (
    data_sources,
    domain_sources,
    test_story_files,
    yaml_files,
)
from bot.importers.rasa.report import Kind, Report
from bot.importers.rasa.responses import check_responses
from bot.importers.rasa.settings import read_settings
from bot.importers.rasa.story_tests import read_story_tests
from retrieval.base.datafiles import DataFileError
from retrieval.base.datasets import find_conflicts, load_examples
from retrieval.base.domain import Domain
from retrieval.base.stories import read_story_files

HEADER = "# Imported by 'frontdesk import rasa' from the Rasa project in\n# {source}\n"
CATEGORIES_COMMENT = (
    "\n# categories is Frontdesk's own key, not Rasa's: the topic of each intent on the ops\n"
    "# dashboard, e.g. {check_balance: accounts, transfer_money: payments}. Intents not\n"
    '# listed count as "other".\n'
)
# Rasa's entity markup, all its forms (rasa/shared/nlu/training_data/entities_parser.py).
RASA_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]]+?)\](\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)"
    r"|\{(?P<dict>[^}]+?)\}|\[(?P<list>.*?)\])"
)
SETTINGS_FILES = ("config", "endpoints", "credentials")


def import_rasa_project(project: Path, out: Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Write the Rasa project at ``project`` into ``out`` as the data directory Frontdesk
    serves (domain.yml, nlu.yml, rules.yml, stories.yml, tests/); return a JSON-serialisable
    summary.

    ``warnings`` has one line per kind of warning (``warning_details`` has every occurrence,
    with its place), ``notes`` what to set up next. Raises :class:`DataFileError` for a
    project that cannot be read (not a folder, no NLU data, invalid YAML, a section of the
    wrong shape, a domain Frontdesk's reader refuses) and for output files that already
    exist unless ``overwrite`` is true.
    """
    project, out = Path(project), Path(out)
    _check_folders(project, out, overwrite=overwrite)
    report = Report()
    data = data_sources(project, report)
    nlu_sources = [s for s in data if "nlu" in s.data]
    if not nlu_sources:
        raise DataFileError(
            project / "data",
            "no Rasa NLU data: no .yml file under data/ has an 'nlu:' section",
            fix="put the intents' examples in data/nlu.yml ('nlu:' then '- intent: NAME')",
        )
    domain_files = domain_sources(project, report)
    domain = read_domain(domain_files, data, report)
    nlu = read_nlu(nlu_sources, report)
    intents = nlu.intents()
    if not intents:
        raise DataFileError(
            nlu_sources[0].path,
            "no intent with examples",
            fix="add '- intent: NAME' items with an 'examples: |' block",
        )
    flows = read_flows(
        [s for s in data if {"rules", "stories"} & set(s.data)], FORMAT_VERSION, report
    )
    check_names(domain, intents, flows, report)
    check_responses(domain.responses, report)
    tests = read_story_tests(project, report)
    read_settings(project, out, report)

    header = HEADER.format(source=" ".join(str(project.resolve()).split()))
    files = {
        "domain.yml": _domain_file(domain, list(intents) if not domain_files else [], header),
        "nlu.yml": dump_yaml(nlu.as_data(FORMAT_VERSION), header),
        "rules.yml": dump_yaml({"version": FORMAT_VERSION, "rules": flows.rules}, header),
        "stories.yml": dump_yaml({"version": FORMAT_VERSION, "stories": flows.stories}, header),
        **tests.files,
    }
    _refuse_own_files(project, out, files)
    stale = _stale_files(out, overwrite=overwrite, report=report)
    write_outputs(
        out, files, lambda staging: _check(staging, out, domain, report), overwrite=overwrite
    )
    for path in stale:
        path.unlink(missing_ok=True)
    _notes(out, tests.stories, report)
    slots = domain.sections["slots"]
    forms = domain.sections["forms"]
    return {
        "project": str(project),
        "out": str(out),
        "files": [str(out / name) for name in files],
        "read": report.read,
        "intents": list(intents),
        "examples": sum(len(texts) for texts in intents.values()),
        "responses": list(domain.responses),
        "actions": domain.names("actions"),
        "slots": {
            name: str(e.value.get("type", "text")) if isinstance(e.value, dict) else None
            for name, e in slots.items()
        },
        "required_slots": {name: _required(e.value) for name, e in forms.items()},
        "rules": len(flows.rules),
        "stories": len(flows.stories),
        "test_stories": tests.stories,
        "warnings": report.warnings,
        "warning_details": report.details(),
        "notes": report.notes,
    }


def _required(form: Any) -> list[str]:
    required = form.get("required_slots") if isinstance(form, dict) else None
    return [str(name) for name in required] if isinstance(required, list | dict) else []


def _domain_file(domain: RasaDomain, extra_intents: list[str], header: str) -> bytes:
    """The merged domain, then Frontdesk's ``categories`` with a comment on what goes there
    (left empty: only a person knows which topics the dashboard should show)."""
    categories = domain.single["categories"].value if "categories" in domain.single else {}
    return dump_yaml(domain.as_data(extra_intents), header) + dump_yaml(
        {"categories": categories}, CATEGORIES_COMMENT
    )


def _check_folders(project: Path, out: Path, *, overwrite: bool) -> None:
    if not project.is_dir():
        raise DataFileError(
            project,
            "not a folder" if project.exists() else "not found",
            fix="give the Rasa project folder (the one with domain.yml, config.yml and data/)",
        )
    if out.exists() and not out.is_dir():
        raise DataFileError(out, "exists and is not a folder", fix="choose a folder for --out")
    if not overwrite:
        for name in OUTPUT_FILES:
            if (out / name).exists():
                raise exists_error(out / name)


def _refuse_own_files(project: Path, out: Path, files: dict[str, bytes]) -> None:
    """Never write over a file of the project being imported (``--out`` the project itself,
    or its data/ folder)."""
    inputs = {file.resolve() for file in yaml_files(project / "data")}
    inputs |= {file.resolve() for file in yaml_files(project / "domain")}
    inputs |= {source.path.resolve() for source in test_story_files(project)}
    for name in ("domain", *SETTINGS_FILES):
        inputs |= {(project / f"{name}{suffix}").resolve() for suffix in (".yml", ".yaml")}
    for name in files:
        if (out / name).resolve() in inputs:
            raise DataFileError(
                out / name,
                "is a file of the Rasa project being imported",
                fix="choose an --out folder outside the Rasa project, e.g. a new one",
            )


def _stale_files(out: Path, *, overwrite: bool, report: Report) -> list[Path]:
    """What an earlier import or a person left in ``out`` that the server would also read:
    responses.yml from an earlier import (replaced by the domain's responses: removed with
    --force), and rules/ or stories/ folders (read beside rules.yml and stories.yml)."""
    stale = []
    responses = out / "responses.yml"
    if responses.is_file():
        with responses.open("rb") as handle:
            ours = handle.read(200).startswith(HEADER.split("\n", 1)[0].encode("utf-8"))
        if ours and not overwrite:
            raise exists_error(responses)
        if ours:
            stale.append(responses)
            report.note(
                f"removed {responses}, written by an earlier import: the responses are in "
                "domain.yml now"
            )
        else:
            report.note(f"{responses} is kept: the server merges its responses over the domain's")
    for name in ("rules", "stories"):
        if (out / name).is_dir():
            report.note(
                f"{out / name}/ is kept: the server reads it too, beside {name}.yml; remove it "
                "if it holds an older copy"
            )
    return stale


def _check(staging: Path, out: Path, domain: RasaDomain, report: Report) -> None:
    """The files must load with the readers that serve them. A domain entry Frontdesk's
    reader refuses is the project's to fix (at its own file and line); anything else would
    be the importer's bug."""
    try:
        Domain.load(staging / "domain.yml")
    except DataFileError as exc:
        place = domain.locate(exc.field)
        if place is None:
            raise _bug(out, "domain.yml", exc) from exc
        raise DataFileError(
            place[0].path,
            f"Frontdesk's domain reader refuses this: {exc.problem}",
            line=place[1],
            field=exc.field,
            fix=exc.fix,
        ) from exc
    try:
        read_story_files([staging / "rules.yml", staging / "stories.yml", staging / "tests"])
        examples = load_examples(staging / "nlu.yml")
    except DataFileError as exc:
        raise _bug(out, Path(exc.path).name, exc) from exc
    for conflict in find_conflicts(examples):
        labels = " and ".join(sorted({e.label for e in conflict.examples}))
        report.warn(
            Kind.CONFLICTING_EXAMPLE,
            f"nlu.yml:{conflict.examples[-1].line}",
            f"the example {conflict.text!r} is labelled {labels}; 'frontdesk train intent' "
            "refuses it until it is under one intent",
            f"{conflict.text!r}: {labels}",
        )
    for example in examples:
        if RASA_ANNOTATION.search(example.text):
            report.warn(
                Kind.ANNOTATION_AS_TEXT,
                f"nlu.yml:{example.line}",
                f"intent {example.label}: the trainer reads {example.text!r} with its markup",
                example.label,
            )


def _bug(out: Path, name: str, exc: DataFileError) -> DataFileError:
    return DataFileError(
        out / name,
        f"the file written does not load ({exc.problem}); nothing was written",
        line=exc.line,
        field=exc.field,
        fix=BUG_FIX,
    )


def _notes(out: Path, test_stories: int, report: Report) -> None:
    if out.resolve() != Path("data").resolve():
        report.note(f'serve it: set data_dir = "{out}" in frontdesk.toml (the default is data)')
    if test_stories:
        report.note(
            f"hold the bot to the project's {test_stories} test stories: frontdesk test "
            f"stories {out / 'tests'}"
        )
