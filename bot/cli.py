"""``frontdesk``: one command line for training, indexing, evaluating, serving and chatting.

Serving code never imports ``training/``; only the ``train`` and ``eval`` commands do, and only
when they run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.commands import audit as audit_cli
from bot.commands import learning as learning_cli
from bot.commands import staff as staff_cli
from bot.commands import story_tests
from bot.core.config import Config, ConfigError
from retrieval.base.datafiles import DataFileError

EXIT_USAGE = 2


def _print_json(result: Any) -> None:
    print(json.dumps(result, ensure_ascii=False, default=str))


def cmd_train(args: argparse.Namespace) -> int:
    from training.train import TrainSettings, train

    settings = TrainSettings(
        task=args.task,
        data=args.data,
        out=args.out,
        base_model=args.base_model,
        validation_data=args.validation_data,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        text_column=args.text_column,
        label_column=args.label_column,
        resume=args.resume,
        max_length=args.max_length,
        peft=args.peft,
        sparse=not args.no_sparse,
        quiet=args.quiet,
        reject_target=args.reject_target,
        refit=args.refit,
    )
    result = train(settings)
    if args.task == "intent":
        result["dialogue_conflicts"] = report_dialogue_conflicts(Path(args.data))
    _print_json(result)
    return 0


def report_dialogue_conflicts(data: Path) -> int:
    """Rules and stories beside the training data that contradict each other, reported as
    ``rasa data validate`` does (file and line of both), on stderr; returns how many."""
    from bot.chat.policies.memoization import MemoizationPolicy
    from bot.chat.policies.rules import RulePolicy
    from bot.chat.policies.states import StateReader
    from retrieval.base.domain import Domain
    from retrieval.base.stories import read_story_files

    folder = data if data.is_dir() else data.parent
    names = ("rules.yml", "stories.yml", "rules", "stories")
    files = read_story_files([folder / name for name in names])
    if not files.stories and not files.rules:
        return 0
    reader = StateReader(Domain.load(folder / "domain.yml"))
    messages = [c.message() for c in RulePolicy(files.rules, reader).conflicts()]
    messages += [c.message() for c in MemoizationPolicy(files.stories, reader).contradictions]
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)
    return len(messages)


def cmd_eval(args: argparse.Namespace) -> int:
    if args.task == "retrieval":
        from bot.server.runtime import inference_threads
        from retrieval.evaluate import evaluate_retrieval

        if args.index is None:
            raise ConfigError("eval retrieval needs --index DIR (from 'frontdesk index build')")
        # The served bot's settings: its threshold, its encoder, its threads per query; the
        # method is the index's own unless --method asks to compare another.
        config = _config(args)
        result = evaluate_retrieval(
            args.index,
            args.data,
            report_dir=args.report_dir,
            threshold=config.retrieval_threshold,
            encoder_path=config.encoder,
            out_of_domain=args.out_of_domain,
            method=args.method,
            query_threads=inference_threads(config),
        )
        _print_json(result)
        return 0
    from training.evaluate import evaluate

    if args.model is None:
        raise ConfigError(f"eval {args.task} needs --model DIR (from 'frontdesk train')")
    _print_json(
        evaluate(
            args.task,
            args.model,
            args.data,
            report_dir=args.report_dir,
            text_column=args.text_column,
            label_column=args.label_column,
        )
    )
    return 0


def cmd_import_rasa(args: argparse.Namespace) -> int:
    from bot.importers.rasa import import_rasa_project

    summary = import_rasa_project(args.path, args.out, overwrite=args.force)
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for note in summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    _print_json(summary)
    return 0


def cmd_index_build(args: argparse.Namespace) -> int:
    from retrieval.index import build_index

    method = args.method or _config(args).retrieval_method
    summary = build_index(
        args.data,
        args.out,
        encoder_path=args.encoder,
        progress=not args.quiet,
        method=method,
        examples=args.examples,
    )
    _print_json(summary)
    return 0


def cmd_index_update(args: argparse.Namespace) -> int:
    """Add or remove Q&A pairs in place; `frontdesk reload` shows them to a running server."""
    from retrieval.base.qa import read_qa
    from retrieval.index import AnswerIndex
    from retrieval.models.encoder import load_encoder

    index = AnswerIndex.load(args.index, load_encoder(args.encoder))
    before = len(index)
    if args.index_command == "add":
        pairs = read_qa(args.data)
        index.add(pairs)
        changed = len(pairs)
    else:
        missing = sorted(set(args.ids) - {pair.id for pair in index.pairs()})
        if missing:
            print(f"warning: not in the index: {', '.join(missing)}", file=sys.stderr)
        changed = index.remove(args.ids)
    index.save(args.index)
    summary = {"index": str(args.index), args.index_command: changed, "before": before}
    _print_json({**summary, "count": len(index)})
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.server.serve import serve

    config = _config(args, host=args.host, port=args.port, workers=args.workers)
    if config.workers > 1:
        from bot.server.workers import check_can_share

        # Refused before any model loads or any worker starts.
        check_can_share(config, config.workers)
    serve(config)
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    import os
    import signal

    config = _config(args)
    if config.redis_url:
        # Every process of the fleet listens on Redis, on this host or another.
        from bot.server.fleet import announce_reload

        try:
            heard = asyncio.run(announce_reload(config))
        except Exception as exc:
            raise ConfigError(f"cannot reach Redis to announce the reload: {exc}") from None
        print(f"asked {heard} server processes to reload their models, index and data files")
        return 0
    try:
        pid = int(config.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        raise ConfigError(
            f"no running server: {config.pid_file} is missing or unreadable; "
            "start one with 'frontdesk serve' (or set pid_file to the one it uses)"
        ) from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ConfigError(
            f"no process {pid} (from {config.pid_file}); is the server running?"
        ) from None
    print(f"asked server {pid} to reload its models, index and data files")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.commands.chat import chat

    asyncio.run(chat(_config(args), sender=args.sender, show_decisions=not args.quiet))
    return 0


def _config(args: argparse.Namespace, **overrides: Any) -> Config:
    return Config.load(args.config, **overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frontdesk",
        description="Self-hosted customer-service bot: train, index, evaluate, serve, chat.",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="settings file (default: ./frontdesk.toml)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="fine-tune an intent or sentiment classifier")
    train.add_argument("task", choices=["intent", "sentiment"])
    train.add_argument("--data", type=Path, required=True, help="CSV, JSONL or Rasa NLU YAML")
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument("--base-model", type=Path, help="a Hugging Face BERT checkpoint directory")
    train.add_argument("--validation-data", type=Path)
    train.add_argument("--epochs", type=float)
    train.add_argument(
        "--max-minutes",
        type=float,
        help="time budget: training plans its epochs to fill it (early stopping still on)",
    )
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--text-column")
    train.add_argument("--label-column")
    train.add_argument("--max-length", type=int)
    train.add_argument("--resume", action="store_true", help="continue an interrupted run")
    train.add_argument("--peft", choices=["lora"], help="parameter-efficient tuning (GPU)")
    train.add_argument(
        "--no-sparse",
        action="store_true",
        help="the encoder alone, without the TF-IDF n-gram model fused in where it helps",
    )
    train.add_argument(
        "--reject-target",
        metavar="TARGET",
        help="out-of-scope trade-off (intent): in-scope=0.02 (or 0.02) rejects about that "
        "share of in-scope questions, recall=0.9 catches that share of out-of-scope ones; "
        "default auto: the most accurate rule where the data has out-of-scope examples, "
        "else in-scope=0.02",
    )
    train.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the served model again on training and validation examples together, "
        "with the epochs and rejection rule the run on the split chose; default: from 2000 "
        "training examples up, unless --validation-data is given",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(run=cmd_train)

    evaluate = commands.add_parser("eval", help="evaluate a model or an index; prints JSON")
    evaluate.add_argument("task", choices=["intent", "sentiment", "retrieval"])
    evaluate.add_argument("--model", type=Path, help="model directory (intent, sentiment)")
    evaluate.add_argument("--index", type=Path, help="index directory (retrieval)")
    evaluate.add_argument("--data", type=Path, required=True)
    evaluate.add_argument("--report-dir", type=Path)
    evaluate.add_argument(
        "--out-of-domain",
        type=Path,
        help="off-topic questions (a text column): how many would be answered (retrieval)",
    )
    evaluate.add_argument(
        "--method",
        choices=["plain", "vote", "head"],
        help="answer another way than the index does, to compare (retrieval; default: the "
        "method the index was built with, which the bot serves)",
    )
    evaluate.add_argument("--text-column")
    evaluate.add_argument("--label-column")
    evaluate.set_defaults(run=cmd_eval)

    index = commands.add_parser("index", help="the answer index over historical Q&A")
    index_commands = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    build = index_commands.add_parser("build", help="embed Q&A pairs and write a FAISS index")
    build.add_argument(
        "--data", type=Path, required=True, help="CSV/JSONL: question,answer[,intent][,id]"
    )
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--encoder", type=Path, help="sentence-transformers directory")
    build.add_argument(
        "--examples",
        type=Path,
        help="intent examples (nlu.yml, or CSV text,intent) to embed beside the answers: the "
        "ops monitor files messages of the domain's general_topics by the nearest of them",
    )
    build.add_argument(
        "--method",
        choices=["auto", "plain", "vote", "head"],
        help="how the index answers: auto compares plain, vote and head on held-out "
        "questions and keeps the best (default: the retrieval_method setting, auto)",
    )
    build.add_argument("--quiet", action="store_true")
    build.set_defaults(run=cmd_index_build)

    imports = commands.add_parser(
        "import", help="bring in another bot's project (Rasa's files, written through)"
    )
    import_commands = imports.add_subparsers(dest="import_command", required=True, metavar="FORMAT")
    rasa = import_commands.add_parser(
        "rasa", help="a Rasa 3 project: NLU data, responses, rules, stories, slots, forms"
    )
    rasa.add_argument("path", type=Path, help="the Rasa project folder (domain.yml, data/)")
    rasa.add_argument(
        "--out",
        type=Path,
        default=Path("data"),
        help="data folder to write (domain.yml, nlu.yml, rules.yml, stories.yml, tests/)",
    )
    rasa.add_argument("--force", action="store_true", help="overwrite those files if they exist")
    rasa.set_defaults(run=cmd_import_rasa)

    add = index_commands.add_parser("add", help="add Q&A pairs to an index (no rebuild)")
    add.add_argument("--index", type=Path, required=True)
    add.add_argument(
        "--data", type=Path, required=True, help="CSV/JSONL: question,answer[,intent][,id]"
    )
    add.add_argument("--encoder", type=Path, help="sentence-transformers directory")
    add.set_defaults(run=cmd_index_update)
    remove = index_commands.add_parser("remove", help="remove Q&A pairs from an index by id")
    remove.add_argument("--index", type=Path, required=True)
    remove.add_argument("ids", nargs="+", help="ids of the pairs to remove")
    remove.add_argument("--encoder", type=Path, help="sentence-transformers directory")
    remove.set_defaults(run=cmd_index_update)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, help="server processes on the port (default 1; see README)"
    )
    serve.set_defaults(run=cmd_serve)

    reload = commands.add_parser("reload", help="make a running server re-read models and data")
    reload.set_defaults(run=cmd_reload)

    staff_cli.add_parsers(commands)
    audit_cli.add_parsers(commands)
    story_tests.add_parsers(commands)
    learning_cli.add_parsers(commands)

    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--sender", help="conversation id to continue")
    chat.add_argument("--quiet", action="store_true", help="hide intent/route annotations")
    chat.set_defaults(run=cmd_chat)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (DataFileError, ConfigError) as exc:
        print(f"frontdesk {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
