"""Real Rasa projects, as a Rasa user would bring them: import, train with the defaults, hold
their own test stories.

For each project in ../shared/data/rasa_projects/ (financial-demo, formbot, moodbot), through
the CLI only:
1. ``frontdesk import rasa PROJECT --out WORK/data``
2. ``frontdesk train intent --data WORK/data/nlu.yml --out WORK/models/intent`` (timed)
3. ``frontdesk test stories`` on the project's ``tests/test_stories.yml`` (moodbot has none:
   its stories and rules), once reading each customer turn's text with the trained model,
   once with the story's intents (as ``/intent{...}`` payloads would give them).

Prints one JSON line. Usage: python bench/rasa_projects.py [--projects formbot moodbot]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PROJECTS = REPO.parent / "shared" / "data" / "rasa_projects"
FRONTDESK = [sys.executable, "-m", "bot"]


def run(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [*FRONTDESK, *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"frontdesk {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def bench_project(name: str, work: Path) -> dict[str, Any]:
    project = PROJECTS / name
    data, models = work / "data", work / "models"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "FRONTDESK_DATA_DIR": str(data),
        "FRONTDESK_MODELS_DIR": str(models),
        # Replay runs no action; the URL only tells the dialogue which actions exist.
        "FRONTDESK_ACTION_SERVER_URL": "http://127.0.0.1:9/webhook",
    }
    imported = run(["import", "rasa", str(project), "--out", str(data)], env)
    started = time.perf_counter()
    run(
        [
            "train",
            "intent",
            "--data",
            str(data / "nlu.yml"),
            "--out",
            str(models / "intent"),
            "--quiet",
        ],
        env,
    )
    train_s = time.perf_counter() - started
    tests = project / "tests" / "test_stories.yml"
    paths = [str(tests)] if tests.exists() else [str(project / "data")]
    read = run(["test", "stories", *paths, "--out", str(work / "text"), "--no-fail"], env)
    given = run(
        ["test", "stories", *paths, "--out", str(work / "intents"), "--no-fail", "--intents-only"],
        env,
    )
    return {
        "warnings": len(imported.get("warnings", [])),
        "train_s": round(train_s, 1),
        "stories": read["stories"],
        "passed_reading_text": read["passed"],
        "passed_with_intents": given["passed"],
        "intents_correct": f"{read['intents_correct']}/{read['intents']}",
        "actions_correct_with_intents": f"{given['actions_correct']}/{given['actions']}",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", nargs="+", default=["financial-demo", "formbot", "moodbot"])
    args = parser.parse_args()
    if not PROJECTS.is_dir():
        print(json.dumps({"bench": "rasa_projects", "skipped": f"{PROJECTS} is absent"}))
        return
    result: dict[str, Any] = {"bench": "rasa_projects"}
    total = passed_text = passed_intents = 0
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.projects:
            figures = bench_project(name, Path(scratch) / name)
            result[name] = figures
            total += figures["stories"]
            passed_text += figures["passed_reading_text"]
            passed_intents += figures["passed_with_intents"]
    result["stories"] = total
    result["pass_rate_reading_text"] = round(passed_text / total, 4) if total else 0.0
    result["pass_rate_with_intents"] = round(passed_intents / total, 4) if total else 0.0
    print(json.dumps(result))


if __name__ == "__main__":
    main()
