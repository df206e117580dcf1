"""``frontdesk review``, ``retrain``, ``gate``, ``promote`` and ``rollback`` on a tiny real
model, through ``bot.cli.main`` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.learning.promotion import history
from bot.storage import Store
from bot.storage.audit import AuditEvent, AuditLog
from tests.conftest import FIXTURES, TinyModels

pytestmark = pytest.mark.slow


def write_config(root: Path, models: Path, holdout: Path) -> Path:
    config = root / "frontdesk.toml"
    config.write_text(
        f"""
[storage]
database_url = "sqlite+aiosqlite:///{root / "frontdesk.sqlite3"}"
[models]
models_dir = "{models}"
pid_file = "{root / "frontdesk.pid"}"
[learning]
training_data = "{FIXTURES / "tiny_nlu.csv"}"
holdout = ["{holdout}"]
out_of_scope_holdout = []
warm_start_epochs = 1
correction_holdout_share = 0.0
# A model that memorised its few rows against one retrained for an epoch: the gate's own
# tests hold it to the defaults.
accuracy_tolerance = 0.2
oos_recall_tolerance = 0.2
max_intent_drop = 0.5
""",
        encoding="utf-8",
    )
    return config


def copy_models(tiny_models: TinyModels, root: Path) -> Path:
    models = root / "models"
    shutil.copytree(tiny_models.intent, models / "intent")
    return models


async def misunderstood_turns(url: str, texts: list[str]) -> list[int]:
    store = await Store.open(url)
    try:
        ids = []
        for number, text in enumerate(texts):
            conversation = await store.conversation_for("rest", f"c-{number}")
            turn, _ = await store.add_user_turn(conversation.id, text)
            await store.record_reply(conversation.id, turn.id, [], route="fallback")
            ids.append(turn.id)
        return ids
    finally:
        await store.close()


def gated_candidate(
    tiny_models: TinyModels, models: Path, *, passed: bool, reasons: list[str], created_at: str
) -> Path:
    """A candidate beside the serving model, its card from ``created_at`` (what tells it from
    the serving copy of the same tiny model), with a gate report on it."""
    candidate = models / "intent.candidate"
    shutil.copytree(tiny_models.intent, candidate)
    card = json.loads((candidate / "frontdesk.json").read_text())
    (candidate / "frontdesk.json").write_text(json.dumps({**card, "created_at": created_at}))
    (candidate / "gate").mkdir()
    report = {"passed": passed, "reasons": reasons, "candidate_created_at": created_at}
    (candidate / "gate" / "gate.json").write_text(json.dumps(report))
    return candidate


def created_at(model: Path) -> str:
    return str(json.loads((model / "frontdesk.json").read_text())["created_at"])


async def model_events(url: str) -> list[AuditEvent]:
    """The audit log's promotions and rollbacks, oldest first."""
    store = await Store.open(url)
    try:
        return [
            event
            async for event in AuditLog(store.engine).stream()
            if event.action.startswith("model_")
        ]
    finally:
        await store.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    status = main(list(argv))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    return status, json.loads(lines[-1]) if lines else None


def test_the_loop_from_the_command_line_labels_retrains_gates_promotes_and_rolls_back(
    tmp_path: Path, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
) -> None:
    models = copy_models(tiny_models, tmp_path)
    holdout = tmp_path / "holdout.csv"
    shutil.copy(FIXTURES / "tiny_nlu.csv", holdout)
    config = str(write_config(tmp_path, models, holdout))
    url = f"sqlite+aiosqlite:///{tmp_path / 'frontdesk.sqlite3'}"
    ids = asyncio.run(misunderstood_turns(url, ["yo bot", "parcel tracking pls"]))

    status, listed = run(capsys, "--config", config, "review", "counts", "--days", "2")
    assert (status, listed["queue_length"]) == (0, 2)
    assert (
        run(capsys, "--config", config, "review", "label", str(ids[0]), "--intent", "greet")[0] == 0
    )
    run(capsys, "--config", config, "review", "label", str(ids[1]), "--intent", "order_status")
    assert run(capsys, "--config", config, "review", "counts")[1]["queue_length"] == 0

    status, result = run(capsys, "--config", config, "retrain", "--gate", "--quiet", "--no-reload")
    assert status == 0, result
    assert result["retrain"]["corrections_trained"] == 2
    assert result["retrain"]["warm_start"] is False, "from the base unless asked"
    candidate = models / "intent.candidate"
    assert (candidate / "frontdesk.json").is_file(), "written beside the serving model"
    assert (candidate / "gate" / "gate.md").is_file()
    assert result["gate"]["passed"] is True, result["gate"]["reasons"]

    before = json.loads((models / "intent" / "frontdesk.json").read_text())["created_at"]
    status, promoted = run(capsys, "--config", config, "promote")
    assert status == 0
    assert "no running server" in promoted["reload"]
    assert (models / "intent.previous" / "frontdesk.json").is_file()
    assert not candidate.exists()
    assert (
        json.loads((models / "intent.previous" / "frontdesk.json").read_text())["created_at"]
        == before
    )

    status, rolled = run(capsys, "--config", config, "rollback", "--no-reload")
    assert (status, rolled["action"]) == (0, "rollback")
    assert json.loads((models / "intent" / "frontdesk.json").read_text())["created_at"] == before
    assert [e["action"] for e in history(models / "intent")] == ["promote", "rollback"]
    promoted_event, rolled_event = asyncio.run(model_events(url))
    assert (promoted_event.action, rolled_event.action) == ("model_promote", "model_rollback")
    assert promoted_event.details["gate_passed"] is True
    assert promoted_event.details["forced"] is False


def test_promote_refuses_a_candidate_the_gate_refused_unless_forced_and_records_it(
    tmp_path: Path, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
) -> None:
    models = copy_models(tiny_models, tmp_path)
    candidate = gated_candidate(
        tiny_models,
        models,
        passed=False,
        reasons=["accuracy fell"],
        created_at="2030-01-01T00:00:00+00:00",
    )
    config = str(write_config(tmp_path, models, FIXTURES / "tiny_nlu.csv"))

    status = main(["--config", config, "promote", "--no-reload"])
    assert status == 2
    assert "the gate refused" in capsys.readouterr().err
    assert candidate.exists(), "nothing was swapped"

    status, promoted = run(capsys, "--config", config, "promote", "--force", "--no-reload")
    assert (status, promoted["forced"], promoted["gate_passed"]) == (0, True, False)
    [entry] = history(models / "intent")
    assert (entry["forced"], entry["reasons"]) == (True, ["accuracy fell"])


def test_promotions_and_rollbacks_are_in_the_audit_log(
    tmp_path: Path, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
) -> None:
    models = copy_models(tiny_models, tmp_path)
    serving, previous = models / "intent", models / "intent.previous"
    first = created_at(serving)
    candidate = gated_candidate(
        tiny_models,
        models,
        passed=False,
        reasons=["accuracy fell"],
        created_at="2030-01-01T00:00:00+00:00",
    )
    config = str(write_config(tmp_path, models, FIXTURES / "tiny_nlu.csv"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'frontdesk.sqlite3'}"

    assert main(["--config", config, "promote", "--no-reload"]) == 2
    assert asyncio.run(model_events(url)) == [], "a refused promotion changed nothing"
    assert run(capsys, "--config", config, "promote", "--force", "--no-reload")[0] == 0
    assert run(capsys, "--config", config, "rollback", "--no-reload")[0] == 0

    promoted, rolled_back = asyncio.run(model_events(url))
    assert (promoted.action, promoted.actor, promoted.client, promoted.target) == (
        "model_promote",
        None,
        "cli",
        str(serving),
    )
    assert promoted.details == {
        "model": str(serving),
        "model_created_at": "2030-01-01T00:00:00+00:00",
        "previous": str(previous),
        "previous_created_at": first,
        "candidate": str(candidate),
        "forced": True,
        "gate_passed": False,
        "gate_reasons": ["accuracy fell"],
        "os_user": promoted.details["os_user"],
    }
    assert (rolled_back.action, rolled_back.client, rolled_back.target) == (
        "model_rollback",
        "cli",
        str(serving),
    )
    assert rolled_back.details["model_created_at"] == first
    assert rolled_back.details["previous_created_at"] == "2030-01-01T00:00:00+00:00"
    assert (rolled_back.details["forced"], rolled_back.details["gate_passed"]) == (False, None)
    # promotions.jsonl keeps its own record beside the models.
    assert [e["action"] for e in history(serving)] == ["promote", "rollback"]


def test_a_forced_promotion_past_a_stale_gate_report_records_no_verdict(
    tmp_path: Path, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
) -> None:
    models = copy_models(tiny_models, tmp_path)
    candidate = gated_candidate(
        tiny_models, models, passed=True, reasons=[], created_at="2030-01-01T00:00:00+00:00"
    )
    # Retrained since the gate saw it: the report is about an earlier candidate.
    card = json.loads((candidate / "frontdesk.json").read_text())
    (candidate / "frontdesk.json").write_text(
        json.dumps({**card, "created_at": "2030-01-02T00:00:00+00:00"})
    )
    config = str(write_config(tmp_path, models, FIXTURES / "tiny_nlu.csv"))

    assert main(["--config", config, "promote", "--no-reload"]) == 2
    assert "is for an earlier candidate" in capsys.readouterr().err
    status, promoted = run(capsys, "--config", config, "promote", "--force", "--no-reload")
    assert (status, promoted["forced"], promoted["gate_passed"]) == (0, True, None)
    url = f"sqlite+aiosqlite:///{tmp_path / 'frontdesk.sqlite3'}"
    [event] = asyncio.run(model_events(url))
    assert (event.details["gate_passed"], event.details["gate_reasons"]) == (None, [])


def test_review_label_names_the_missing_choice(
    tmp_path: Path, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
) -> None:
    models = copy_models(tiny_models, tmp_path)
    config = str(write_config(tmp_path, models, FIXTURES / "tiny_nlu.csv"))
    assert main(["--config", config, "review", "label", "1"]) == 2
    assert "--intent NAME, --out-of-scope" in capsys.readouterr().err


@pytest.mark.redis
def test_a_promotion_is_announced_to_the_fleet_through_redis(
    tmp_path: Path,
    tiny_models: TinyModels,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from redis import Redis

    from bot.core.config import Config
    from bot.server.fleet import reload_channel

    models = copy_models(tiny_models, tmp_path)
    shutil.copytree(tiny_models.intent, models / "intent.candidate")
    config = str(write_config(tmp_path, models, FIXTURES / "tiny_nlu.csv"))
    monkeypatch.setenv("FRONTDESK_REDIS_URL", redis_url)
    client = Redis.from_url(redis_url)
    listener = client.pubsub()
    listener.subscribe(reload_channel(Config.load(config)))
    try:
        assert listener.get_message(timeout=5)["type"] == "subscribe"
        status, promoted = run(capsys, "--config", config, "promote", "--force")
        assert status == 0
        assert promoted["reload"] == "announced a reload to 1 fleet process(es)"
        message = listener.get_message(timeout=5)
        assert message is not None and message["data"] == b"reload"
    finally:
        listener.close()
        client.close()
