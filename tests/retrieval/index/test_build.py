from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.base.datafiles import DataFileError
from retrieval.index.build import build_index
from retrieval.index.search import AnswerIndex
from retrieval.models.encoder import Encoder
from tests.retrieval.helpers import KETTLE_QUERY, NameEncoder, kettle_csv, name_csv, write


def test_build_index_merges_duplicates_saves_and_summarises(
    encoder: Encoder, tmp_path: Path
) -> None:
    data = write(
        tmp_path / "qa.csv",
        "question,answer,intent\n"
        "Where is my order?,Track it under My orders.,order_status\n"
        "How do I reset my password?,Use the Forgot password link.,reset_password\n"
        "where is my order,Ask us.,order_status\n"
        "Can I get my money back?,Refunds take 5 working days.,refund_status\n",
    )
    summary = build_index(data, tmp_path / "idx", progress=False, encoder=encoder)
    json.dumps(summary)  # the CLI prints it as JSON
    assert summary["rows"] == 4
    assert summary["count"] == 3
    assert summary["merged"] == summary["merged_exact"] == 1
    assert summary["merge_report"][0].startswith("merged qa-")
    assert summary["index_type"] == "flat"
    assert summary["dimension"] == 384
    assert summary["seconds"] >= 0

    index = AnswerIndex.load(tmp_path / "idx", encoder)
    assert index.search("where's my parcel", k=1)[0].answer == "Track it under My orders."
    assert index.build_info["provenance"]["rows"] == 4


def test_build_index_chooses_the_answer_method_on_held_out_questions(tmp_path: Path) -> None:
    data = name_csv(tmp_path / "qa.csv", 200)
    summary = build_index(data, tmp_path / "idx", progress=False, encoder=NameEncoder())
    json.dumps(summary)
    assert (summary["method"], summary["method_chosen_by"]) == ("head", "validation")
    figures = summary["validation"]["methods"]
    assert figures["head"]["hit_at_1"] > figures["plain"]["hit_at_1"]
    assert summary["method_seconds"] >= 0

    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["answering"]["method"] == "head"
    assert manifest["answering"]["validation"] == summary["validation"]
    assert (tmp_path / "idx" / "head.npz").is_file()  # fitted at build, not at first question
    assert AnswerIndex.load(tmp_path / "idx", NameEncoder()).method == "head"


def test_build_index_takes_a_requested_method_and_says_why_auto_stays_plain(
    encoder: Encoder, tmp_path: Path
) -> None:
    data = kettle_csv(tmp_path / "qa.csv")
    summary = build_index(data, tmp_path / "auto", progress=False, encoder=encoder)
    # 12 questions per intent leave 4 to compare the methods on: too few to tell.
    assert (summary["method"], summary["method_chosen_by"]) == ("plain", "default")
    assert "too few questions per intent" in summary["method_reason"]
    assert not (tmp_path / "auto" / "head.npz").exists()

    asked = build_index(data, tmp_path / "head", progress=False, encoder=encoder, method="head")
    assert (asked["method"], asked["method_chosen_by"]) == ("head", "request")
    index = AnswerIndex.load(tmp_path / "head", encoder)
    assert index.answer(KETTLE_QUERY, k=1)[0].intent == "track_order"
    with pytest.raises(ValueError, match="method must be one of auto, plain, vote, head"):
        build_index(data, tmp_path / "x", progress=False, encoder=encoder, method="best")


def test_build_index_embeds_the_intent_examples_it_is_given(
    encoder: Encoder, tmp_path: Path
) -> None:
    data = write(tmp_path / "qa.csv", "question,answer\nWhere is my order?,Track it online.\n")
    nlu = write(
        tmp_path / "nlu.yml",
        'version: "3.1"\nnlu:\n- intent: complaint\n  examples: |\n'
        "    - the courier threw my parcel over the fence\n    - your service is awful\n",
    )

    summary = build_index(data, tmp_path / "idx", progress=False, encoder=encoder, examples=nlu)

    assert summary["intent_examples"] == 2
    examples = AnswerIndex.load(tmp_path / "idx", encoder).examples
    assert examples is not None
    assert examples.intents == ("complaint", "complaint")
    assert examples.texts[1] == "your service is awful"
    assert examples.vectors.shape == (2, 384)


def test_build_index_names_an_unreadable_examples_file(encoder: Encoder, tmp_path: Path) -> None:
    data = write(tmp_path / "qa.csv", "question,answer\nWhere is my order?,Track it online.\n")
    nlu = write(tmp_path / "nlu.csv", "text\nhello\n")

    with pytest.raises(DataFileError, match=r"nlu\.csv:1: no label column") as caught:
        build_index(data, tmp_path / "idx", progress=False, encoder=encoder, examples=nlu)

    assert not (tmp_path / "idx").exists(), "nothing is written when the examples are bad"
    assert "rename the label column" in str(caught.value)


def test_the_cli_embeds_the_examples_and_names_a_file_without_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    qa = write(tmp_path / "qa.csv", "question,answer\nWhere is my order?,Track it online.\n")
    good = write(tmp_path / "nlu.csv", "text,intent\nhello,greet\nwhere is it,track\n")
    bad = write(tmp_path / "bad.csv", "text\nhello\n")

    args = ["index", "build", "--data", str(qa), "--quiet", "--examples"]
    assert main([*args, str(good), "--out", "idx"]) == 0
    assert json.loads(capsys.readouterr().out)["intent_examples"] == 2
    assert main([*args, str(bad), "--out", "idx2"]) != 0
    assert f"{bad}:1: no label column" in capsys.readouterr().err
    assert not (tmp_path / "idx2").exists()
