"""The ``frontdesk`` command line: clear errors for bad input, and a terminal chat."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import REPO, TinyModels


def run_cli(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def test_train_reports_file_line_field_and_fix_for_a_bad_row(tmp_path: Path, capsys) -> None:
    data = tmp_path / "nlu.csv"
    data.write_text("text,intent\nhello,greet\n,greet\n")
    code = main(["train", "intent", "--data", str(data), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{data}:3" in err
    assert "'text'" in err
    assert "Fix:" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("flag", "refit"), [([], None), (["--refit"], True), (["--no-refit"], False)]
)
def test_train_passes_the_refit_choice_or_leaves_it_to_the_data_size(
    flag: list[str], refit: bool | None
) -> None:
    from bot.cli import build_parser

    args = build_parser().parse_args(["train", "intent", "--data", "d.csv", "--out", "m", *flag])

    assert args.refit is refit


def test_index_build_reports_a_missing_answer_column(tmp_path: Path, capsys) -> None:
    data = tmp_path / "qa.csv"
    data.write_text("question,reply\nhi,hello\n")
    code = main(["index", "build", "--data", str(data), "--out", str(tmp_path / "index")])
    assert code == 2
    err = capsys.readouterr().err
    assert str(data) in err
    assert "answer" in err


def test_bad_setting_stops_with_key_value_and_expected_form(capsys) -> None:
    code = main(["--config", "/nonexistent/frontdesk.toml", "chat"])
    assert code == 2
    assert "config file /nonexistent/frontdesk.toml does not exist" in capsys.readouterr().err


def test_chat_talks_to_the_same_pipeline_in_a_terminal(
    tmp_path: Path, tiny_models: TinyModels
) -> None:
    result = run_cli(
        "chat",
        "--sender",
        "terminal-test",
        stdin="hello there\nI want to talk to a human\n",
        env={
            "FRONTDESK_MODELS_DIR": str(tiny_models.models_dir),
            "FRONTDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.sqlite3'}",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "bot> Hi! I'm the Northwind Goods assistant" in result.stdout or (
        "bot> Hello and welcome to Northwind Goods" in result.stdout
    )
    assert "bot> I'm connecting you with a member of our team" in result.stdout
    assert "[greet" in result.stderr
    assert "→ handoff]" in result.stderr


def test_index_add_and_remove_change_the_index_without_a_rebuild(
    tmp_path: Path, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from retrieval.index import AnswerIndex
    from retrieval.models.encoder import load_encoder

    index_dir = tmp_path / "index"
    shutil.copytree(tiny_models.index, index_dir)
    new = tmp_path / "new.csv"
    new.write_text(
        "id,question,answer\n"
        "qa-umbrella,Do you sell umbrellas?,Not yet: rain gear is coming in spring.\n"
    )

    assert main(["index", "add", "--index", str(index_dir), "--data", str(new)]) == 0
    index = AnswerIndex.load(index_dir, load_encoder())
    assert index.search("do you have umbrellas", k=1)[0].id == "qa-umbrella"
    assert len(index) == 9

    assert main(["index", "remove", "--index", str(index_dir), "qa-umbrella", "qa-nope"]) == 0
    assert "not in the index: qa-nope" in capsys.readouterr().err
    index = AnswerIndex.load(index_dir, load_encoder())
    assert "qa-umbrella" not in {pair.id for pair in index.pairs()}
    assert len(index) == 8


def test_training_reports_stories_that_contradict_each_other_with_both_places(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import report_dialogue_conflicts

    (tmp_path / "nlu.yml").write_text("nlu: []\n", encoding="utf-8")
    (tmp_path / "stories.yml").write_text(
        "stories:\n"
        "- story: happy\n"
        "  steps:\n"
        "  - intent: greet\n"
        "  - action: utter_hello\n"
        "- story: grumpy\n"
        "  steps:\n"
        "  - intent: greet\n"
        "  - action: utter_go_away\n",
        encoding="utf-8",
    )

    assert report_dialogue_conflicts(tmp_path / "nlu.yml") == 1
    stderr = capsys.readouterr().err
    assert f"{tmp_path / 'stories.yml'}:2 story 'happy' continues with 'utter_hello'" in stderr
    assert f"{tmp_path / 'stories.yml'}:6 story 'grumpy' continues with 'utter_go_away'" in stderr


def test_audit_export_writes_the_log_as_json_lines_from_a_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import json

    from bot.storage import Store
    from bot.storage.audit import Actor, AuditLog

    url = f"sqlite+aiosqlite:///{tmp_path / 'frontdesk.sqlite3'}"
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)

    async def record() -> None:
        store = await Store.open(url)
        try:
            log = AuditLog(store.engine)
            await log.record("login", by=Actor("ann", "10.0.0.1"))
            await log.record("login_failed", by=Actor(None, "10.0.0.2"), target="mallory")
        finally:
            await store.close()

    asyncio.run(record())
    out = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--since", "2000-01-01", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["action"], e["actor"], e["client"]) for e in lines] == [
        ("login", "ann", "10.0.0.1"),
        ("login_failed", None, "10.0.0.2"),
    ]
    assert '"events": 2' in capsys.readouterr().err

    assert main(["audit", "export", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == "", "nothing that recent"
    assert main(["audit", "export", "--since", "last week"]) == 2
    assert "--since: expected an ISO 8601 date or time" in capsys.readouterr().err
