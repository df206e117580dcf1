"""The learning loop's commands: ``frontdesk review``, ``retrain``, ``gate``, ``promote`` and
``rollback``.

    frontdesk review list|counts|label ...   the queue of misunderstood messages
    frontdesk retrain [--gate] [--promote]   a candidate beside the serving model
    frontdesk gate                            candidate against serving, same held-out set
    frontdesk promote [--force]               swap it in; every worker reloads
    frontdesk rollback                        the previous model again

Promotions and rollbacks are in the staff audit log (``model_promote``, ``model_rollback``;
client ``cli``) as well as in ``promotions.jsonl`` beside the models.

Training and the gate are offline programs (``python -m training.retrain``, ``python -m
training.gate``) that these commands run as child processes: nothing here imports
``training/`` (the import contracts keep serving code and these commands apart from it).
Nightly, from cron::

    15 3 * * *  cd /srv/frontdesk && .venv/bin/frontdesk retrain --gate --promote --if-new
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.core.config import Config, ConfigError, LearningSettings, learning_settings
from bot.learning.promotion import PromotionError, Swap, candidate_of, history, promote, rollback
from bot.server.fleet import announce_reload
from bot.server.web.feedback import corrections_csv
from bot.storage import Store
from bot.storage.audit import CLI, AuditLog
from bot.storage.escalations import EscalationStore
from bot.storage.feedback import FeedbackStore
from bot.storage.review import QueueCriteria, ReviewStore

EXIT_REFUSED = 1
CORRECTIONS_EXPORT = "corrections.csv"


def _config(args: argparse.Namespace) -> Config:
    return Config.load(args.config)


def _print(result: Any) -> None:
    print(json.dumps(result, ensure_ascii=False, default=str))


def _criteria(settings: LearningSettings) -> QueueCriteria:
    return QueueCriteria(settings.low_confidence, settings.bad_rating)


# review --------------------------------------------------------------------------------


async def review_list(config: Config, limit: int) -> list[dict[str, Any]]:
    store = await Store.open(config.database_url)
    try:
        items = await ReviewStore(store.engine).queue(
            _criteria(learning_settings(config)), limit=limit
        )
    finally:
        await store.close()
    return [
        {
            "turn_id": i.turn_id,
            "text": i.text,
            "reason": i.reason,
            "intent": i.intent,
            "confidence": i.confidence,
            "route": i.route,
            "created_at": i.created_at.isoformat(),
        }
        for i in items
    ]


async def review_label(
    config: Config, turn_ids: list[int], kind: str, intent: str | None, qa_id: str | None
) -> int:
    store = await Store.open(config.database_url)
    try:
        turns = EscalationStore(store.engine)
        reviews = ReviewStore(store.engine)
        found = []
        for turn_id in turn_ids:
            turn = await turns.get_turn(turn_id)
            if turn is None or turn.role != "user":
                raise ConfigError(f"turn {turn_id}: no customer message has that id")
            found.append(turn)
        for turn in found:
            await reviews.label(turn, kind, "cli", intent=intent, qa_id=qa_id, by=CLI)
    finally:
        await store.close()
    return len(found)


async def review_counts(config: Config, days: int) -> dict[str, Any]:
    store = await Store.open(config.database_url)
    try:
        reviews = ReviewStore(store.engine)
        criteria = _criteria(learning_settings(config))
        counts = await reviews.counts_per_day(criteria, days)
        length = await reviews.queue_length(criteria)
    finally:
        await store.close()
    return {
        "queue_length": length,
        "days": [
            {"day": c.day.isoformat(), "misunderstood": c.misunderstood, "reviewed": c.reviewed}
            for c in counts
        ],
    }


def cmd_review(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.review_command == "list":
        for item in asyncio.run(review_list(config, args.limit)):
            _print(item)
    elif args.review_command == "counts":
        _print(asyncio.run(review_counts(config, args.days)))
    else:
        kind, intent, qa_id = "intent", args.intent, args.answer
        if args.out_of_scope:
            kind = "out_of_scope"
        elif args.dismiss:
            kind = "dismissed"
        elif args.answer:
            kind = "answer"
        elif not args.intent:
            raise ConfigError(
                "review label needs one of --intent NAME, --out-of-scope, --answer QA_ID, --dismiss"
            )
        count = asyncio.run(review_label(config, args.turn_ids, kind, intent, qa_id))
        _print({"labelled": count, "kind": kind, "intent": intent, "qa_id": qa_id})
    return 0


# retrain, gate -------------------------------------------------------------------------


async def export_corrections(config: Config, out: Path) -> int:
    store = await Store.open(config.database_url)
    try:
        corrections = await FeedbackStore(store.engine).corrections()
    finally:
        await store.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(corrections_csv(corrections), encoding="utf-8")
    return len(corrections)


def _run(module: str, arguments: list[str]) -> tuple[int, dict[str, Any] | None]:
    """Run an offline ``training`` program; its progress goes to this terminal, its JSON
    summary (its last line on stdout) comes back."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments], stdout=subprocess.PIPE, text=True
    )
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    try:
        summary = json.loads(lines[-1]) if lines else None
    except ValueError:
        sys.stdout.write(completed.stdout)
        summary = None
    return completed.returncode, summary


def _paths(config: Config, args: argparse.Namespace) -> tuple[Path, Path]:
    serving = config.intent_model_path
    candidate = getattr(args, "candidate", None) or candidate_of(serving)
    return serving, candidate


def gate_arguments(settings: LearningSettings, serving: Path, candidate: Path) -> list[str]:
    arguments = ["--serving", str(serving), "--candidate", str(candidate)]
    for path in settings.holdout:
        if not path.is_file():
            raise ConfigError(
                f"setting learning.holdout={str(path)!r} is invalid: expected an existing "
                "text,intent file the models never trained on"
            )
        arguments += ["--holdout", str(path)]
    for path in settings.out_of_scope_holdout:
        if path.is_file():
            arguments += ["--out-of-scope", str(path)]
    return [
        *arguments,
        "--accuracy-tolerance",
        str(settings.accuracy_tolerance),
        "--oos-recall-tolerance",
        str(settings.oos_recall_tolerance),
        "--max-intent-drop",
        str(settings.max_intent_drop),
        "--min-intent-support",
        str(settings.min_intent_support),
        "--intent-significance",
        str(settings.intent_significance),
    ]


def run_gate(config: Config, serving: Path, candidate: Path) -> tuple[int, dict[str, Any] | None]:
    settings = learning_settings(config)
    return _run("training.gate", gate_arguments(settings, serving, candidate))


def _nothing_new(serving: Path, corrections: int) -> bool:
    """Whether the serving model was already trained with as many corrections."""
    record = serving / "retrain.json"
    if not record.is_file():
        return corrections == 0
    return int(json.loads(record.read_text()).get("corrections", 0)) >= corrections


def cmd_retrain(args: argparse.Namespace) -> int:
    config = _config(args)
    settings = learning_settings(config)
    serving, candidate = _paths(config, args)
    data = args.data or settings.training_data
    if not data.exists():
        raise ConfigError(
            f"setting learning.training_data={str(data)!r} is invalid: expected the intent "
            "training data the serving model was trained on (or pass --data PATH)"
        )
    export = candidate.with_name(f".{candidate.name}.{CORRECTIONS_EXPORT}")
    count = asyncio.run(export_corrections(config, export))
    if args.if_new and _nothing_new(serving, count):
        _print({"retrained": False, "reason": "no corrections since the serving model"})
        return 0
    arguments = [
        "--serving",
        str(serving),
        "--data",
        str(data),
        "--corrections",
        str(export),
        "--out",
        str(candidate),
        "--holdout-share",
        str(settings.correction_holdout_share),
        "--warm-start-epochs",
        str(settings.warm_start_epochs),
        "--warm-start-lr-factor",
        str(settings.warm_start_lr_factor),
        "--seed",
        str(settings.seed),
    ]
    max_minutes = args.max_minutes or settings.max_minutes
    if max_minutes:
        arguments += ["--max-minutes", str(max_minutes)]
    if args.warm_start or settings.warm_start:
        arguments.append("--warm-start")
    if args.quiet:
        arguments.append("--quiet")
    status, summary = _run("training.retrain", arguments)
    export.unlink(missing_ok=True)
    if status != 0 or summary is None:
        return status or 2
    result: dict[str, Any] = {"retrain": summary}
    if args.gate or args.promote:
        status, report = run_gate(config, serving, candidate)
        result["gate"] = report
        if status == 2 or report is None:
            _print(result)
            return 2
        if args.promote and (status == 0 or args.force):
            result["promote"] = _promote(config, serving, candidate, args.force, args.no_reload)
        elif status != 0:
            _print(result)
            return EXIT_REFUSED
    _print(result)
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    config = _config(args)
    serving, candidate = _paths(config, args)
    status, report = run_gate(config, serving, candidate)
    if report is not None:
        _print(report)
    return status


# promote, rollback ---------------------------------------------------------------------


def reload_servers(config: Config) -> str:
    """Tell every running server to re-read its models, as ``frontdesk reload`` does: on the
    fleet's Redis channel where there is one (it reaches replicas on other hosts), else (or
    when nobody heard it) SIGHUP to the pid file's process, a server or the ``--workers``
    parent."""
    told = ""
    if config.redis_url:
        try:
            heard = asyncio.run(announce_reload(config))
        except Exception as exc:
            told = f"could not announce the reload on Redis ({type(exc).__name__}); "
        else:
            if heard:
                return f"announced a reload to {heard} fleet process(es)"
            told = "no process listens on Redis; "
    try:
        pid = int(config.pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return told + (
            f"no running server (no live pid in {config.pid_file}); it loads the model at start"
        )
    return told + f"asked server {pid} to reload"


async def audited(config: Config, swap: Callable[[], Swap]) -> Swap:
    """Run ``swap`` (a promotion or a rollback) and put it in the audit log.

    The store opens first, so a database that cannot be reached stops the command before
    anything is renamed, rather than leaving a swap that the audit log lacks.
    """
    store = await Store.open(config.database_url)
    try:
        done = swap()
        await AuditLog(store.engine).record(
            f"model_{done.action}", by=CLI, target=str(done.serving), details=done.audit_details()
        )
    finally:
        await store.close()
    return done


def _swap(config: Config, swap: Callable[[], Swap], no_reload: bool) -> dict[str, Any]:
    try:
        done = asyncio.run(audited(config, swap))
    except PromotionError as exc:
        raise ConfigError(str(exc)) from None
    result = done.public()
    result["reload"] = "not asked (--no-reload)" if no_reload else reload_servers(config)
    return result


def _promote(
    config: Config, serving: Path, candidate: Path, force: bool, no_reload: bool
) -> dict[str, Any]:
    return _swap(config, lambda: promote(serving, candidate, force=force), no_reload)


def cmd_promote(args: argparse.Namespace) -> int:
    config = _config(args)
    serving, candidate = _paths(config, args)
    _print(_promote(config, serving, candidate, args.force, args.no_reload))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    config = _config(args)
    serving = config.intent_model_path
    if args.history:
        for entry in history(serving):
            _print(entry)
        return 0
    _print(_swap(config, lambda: rollback(serving), args.no_reload))
    return 0


# Wiring --------------------------------------------------------------------------------


def add_parsers(commands: Any) -> None:
    """Register the learning commands on ``frontdesk``'s subcommand parser."""
    review = commands.add_parser("review", help="the queue of messages the bot misunderstood")
    actions = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the queue, newest first (JSON lines)")
    listing.add_argument("--limit", type=int, default=100)
    counts = actions.add_parser("counts", help="misunderstood and reviewed per day (JSON)")
    counts.add_argument("--days", type=int, default=14)
    label = actions.add_parser("label", help="label customer turns by id")
    label.add_argument("turn_ids", type=int, nargs="+")
    choice = label.add_mutually_exclusive_group()
    choice.add_argument("--intent", help="the intent the customer meant")
    choice.add_argument("--out-of-scope", action="store_true", help="nothing the bot handles")
    choice.add_argument("--answer", metavar="QA_ID", help="an answer in the index fits")
    choice.add_argument("--dismiss", action="store_true", help="the bot was right")
    review.set_defaults(run=cmd_review)

    retrain = commands.add_parser(
        "retrain", help="train a candidate intent model with the reviewed corrections"
    )
    retrain.add_argument("--data", type=Path, help="default: [learning] training_data")
    retrain.add_argument("--candidate", type=Path, help="default: beside the serving model")
    retrain.add_argument("--max-minutes", type=float, help="stop training after this long")
    retrain.add_argument(
        "--warm-start",
        action="store_true",
        help="from the serving model's weights: faster, less sound (see [learning] warm_start)",
    )
    retrain.add_argument("--gate", action="store_true", help="then run the regression gate")
    retrain.add_argument("--promote", action="store_true", help="then promote if it passes")
    retrain.add_argument("--force", action="store_true", help="promote even if refused")
    retrain.add_argument("--no-reload", action="store_true", help="do not signal servers")
    retrain.add_argument(
        "--if-new", action="store_true", help="only when there are corrections not yet used"
    )
    retrain.add_argument("--quiet", action="store_true", help="no progress bars")
    retrain.set_defaults(run=cmd_retrain)

    gate = commands.add_parser(
        "gate", help="compare the candidate with the serving model (exit 1: refused)"
    )
    gate.add_argument("--candidate", type=Path, help="default: beside the serving model")
    gate.set_defaults(run=cmd_gate)

    promote_parser = commands.add_parser(
        "promote", help="serve the gated candidate; every server reloads"
    )
    promote_parser.add_argument("--candidate", type=Path)
    promote_parser.add_argument(
        "--force", action="store_true", help="even if the gate refused it (audited)"
    )
    promote_parser.add_argument("--no-reload", action="store_true")
    promote_parser.set_defaults(run=cmd_promote)

    rollback_parser = commands.add_parser("rollback", help="serve the previous model again")
    rollback_parser.add_argument("--no-reload", action="store_true")
    rollback_parser.add_argument(
        "--history", action="store_true", help="print the promotions and rollbacks instead"
    )
    rollback_parser.set_defaults(run=cmd_rollback)
