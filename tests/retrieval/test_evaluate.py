from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.core.config import Config
from retrieval.base.datafiles import DataFileError
from retrieval.base.qa import QAPair
from retrieval.evaluate import (
    CALIBRATION_GRID,
    calibrate_threshold,
    evaluate_retrieval,
    rank_metrics,
)
from retrieval.index import AnswerIndex, build_index
from retrieval.models.encoder import Encoder
from tests.retrieval.helpers import KETTLE_QUERY, kettle_csv, write


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


# Every text has a hand-made vector, so every score, rank and rate below is known exactly.
VECTORS = {
    # indexed questions
    "qa": _unit(1, 0, 0, 0),
    "qb": _unit(0, 1, 0, 0),
    "qc": _unit(0, 0, 1, 0),
    # queries: best hit (score), expected answer (its rank)
    "q1": _unit(1, 0, 0, 0),  # A 1.00; expects A (1)
    "q2": _unit(0, 0.78, 0.6258, 0),  # B 0.78, C 0.63; expects C (2)
    "q3": _unit(0.5, 0.1, 0.3, 0.806),  # A 0.50, C 0.30, B 0.10; expects B (3)
    "q4": _unit(0, 0.72, 0, 0.694),  # B 0.72; expects intent y (1)
    "q5": _unit(0.5, 0.49, 0.49, 0.5196),  # A 0.50 nearest, but B and C (y) outvote it
    # off-topic questions
    "o1": _unit(0, 0, 0, 1),  # nothing above 0
    "o2": _unit(0.655, 0, 0, 0.7556),  # A 0.655: answered at 0.62
}


class TableEncoder:
    name = "table"
    fingerprint = "sha256:table"
    dimension = 4

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        return np.stack([VECTORS[t] for t in texts]).astype(np.float32)


@pytest.fixture
def table_index(tmp_path: Path) -> Path:
    pairs = [
        QAPair("A", "qa", "answer a", "x"),
        QAPair("B", "qb", "answer b", "y"),
        QAPair("C", "qc", "answer c", "y"),
    ]
    AnswerIndex.build(pairs, TableEncoder()).save(tmp_path / "idx")
    return tmp_path / "idx"


def _evaluate(index_dir: Path, data: Path, **kwargs: object) -> dict:
    return evaluate_retrieval(index_dir, data, encoder=TableEncoder(), **kwargs)  # type: ignore[arg-type]


def test_evaluate_retrieval_on_known_scores(table_index: Path, tmp_path: Path) -> None:
    data = write(tmp_path / "q.csv", "text,id,intent\nq1,A,\nq2,C,\nq3,B,\nq4,,y\n")
    ood = write(tmp_path / "ood.csv", "text\no1\no2\n")
    result = _evaluate(table_index, data, out_of_domain=ood, threshold=0.62)
    json.dumps(result)  # the CLI prints it as one JSON line
    assert result["n"] == 4
    assert result["expected"] == "id+intent"
    assert result["hit_at_1"] == 0.5
    assert result["hit_at_5"] == 1.0
    assert result["mrr"] == round((1 + 1 / 2 + 1 / 3 + 1) / 4, 4)
    # Answered at 0.62: q1 (right), q2 (wrong), q4 (right); q3's best is 0.50.
    assert result["coverage"] == 0.75
    assert result["precision"] == 0.6667
    assert result["ood_n"] == 2
    assert result["ood_answered"] == 0.5
    assert set(result["latency_ms_per_query"]) == {"p50", "p99"}
    # Precision >= 0.9 needs t > 0.78 (q2 wrong); off-topic <= 5% needs t > 0.655.
    # Thresholds 0.79..0.95 all cover q1 alone; the middle one of the 17 is 0.87.
    assert result["recommended_threshold"] == 0.87
    assert result["calibration"]["met"] is True
    assert result["calibration"]["coverage"] == 0.25

    report = (table_index / "report.md").read_text()
    assert result["report"] == str(table_index / "report.md")
    assert "| 0.30 | 4 | 1.0000 | 0.5000 | 0.5000 |" in report
    assert "| 0.65 | 3 | 0.7500 | 0.6667 | 0.5000 |" in report
    assert "| 0.90 | 1 | 0.2500 | 1.0000 | 0.0000 |" in report
    assert "Recommended threshold: **0.87**" in report
    assert "| 4 | q3 | B | A | 0.500 | 3 |" in report  # a miss: line, query, expected, got


def test_questions_are_answered_the_way_the_index_answers_them(tmp_path: Path) -> None:
    pairs = [
        QAPair("A", "qa", "answer a", "x"),
        QAPair("B", "qb", "answer b", "y"),
        QAPair("C", "qc", "answer c", "y"),
    ]
    answering = {"method": "vote", "chosen_by": "request"}
    AnswerIndex.build(pairs, TableEncoder(), answering=answering).save(tmp_path / "idx")
    data = write(tmp_path / "q.csv", "text,intent\nq5,y\nq1,x\n")
    ood = write(tmp_path / "ood.csv", "text\no1\no2\n")

    served = _evaluate(tmp_path / "idx", data, out_of_domain=ood, threshold=0.62)
    assert (served["method"], served["index_method"]) == ("vote", "vote")
    assert served["method_chosen_by"] == "request"
    assert served["hit_at_1"] == 1.0  # q5: the vote's y, not the nearest question's x
    # q5's answer B scores its own 0.49, under the threshold: the bot would not answer it.
    assert served["coverage"] == 0.5
    assert served["ood_answered"] == 0.5
    assert set(served["cpu_ms_per_query"]) == {"p50", "p99"}
    report = (tmp_path / "idx" / "report.md").read_text()
    assert "- Answered by: vote (the index's method, chosen by request)" in report

    compared = _evaluate(tmp_path / "idx", data, method="plain")
    assert (compared["method"], compared["index_method"]) == ("plain", "vote")
    assert compared["hit_at_1"] == 0.5
    report = (tmp_path / "idx" / "report.md").read_text()
    assert "- Answered by: plain (the index answers vote)" in report


def test_threshold_defaults_to_the_serving_default_and_report_dir_is_used(
    table_index: Path, tmp_path: Path
) -> None:
    data = write(tmp_path / "q.csv", "text,intent\nq1,x\nq2,y\n")
    result = _evaluate(table_index, data, report_dir=tmp_path / "reports")
    assert result["threshold"] == Config().retrieval_threshold
    assert (tmp_path / "reports" / "report.md").is_file()
    assert not (table_index / "report.md").exists()
    assert result["hit_at_1"] == 1.0  # q2's best hit B has the expected intent y
    assert "ood_n" not in result
    assert "only precision was checked" in result["calibration"]["reason"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "text\nq1\n",
            ":1: no expected answer column: expected intent or id; found text. "
            "Fix: add an intent column",
        ),
        (
            "prompt,id\nq1,A\n",
            ":1: no query text column: expected one of text, question, query; found "
            "prompt, id. Fix: rename the query text column in the header",
        ),
        ("text,id\n", ": no queries. Fix: add rows with a text and the expected"),
        (
            "text,id\nq1,A\n,B\n",
            ":3 (field 'text'): empty value. Fix: fill it in or delete the row",
        ),
        (
            "text,id,intent\nq1,A,\nq2,,\n",
            ":3 (field 'id'): no expected answer. Fix: fill in the expected intent or "
            "answer id, or delete the row",
        ),
        (
            "text,id\nq1,nope\n",
            ":2 (field 'id'): id 'nope' is not in the index ",
        ),
        (
            "text,intent\nq1,x\nq2,zzz\n",
            ":3 (field 'intent'): no entry of the index ",
        ),
    ],
    ids=["no-expected-column", "no-text-column", "no-rows", "empty-text", "empty-expected",
         "unknown-id", "unknown-intent"],
)  # fmt: skip
def test_bad_query_files_name_file_line_field_and_fix(
    table_index: Path, tmp_path: Path, text: str, message: str
) -> None:
    data = write(tmp_path / "q.csv", text)
    with pytest.raises(DataFileError) as caught:
        _evaluate(table_index, data)
    assert str(caught.value).startswith(f"{data}{message}")


def test_unknown_id_message_says_how_to_fix_it(table_index: Path, tmp_path: Path) -> None:
    data = write(tmp_path / "q.csv", "text,id\nq1,nope\n")
    with pytest.raises(DataFileError, match=r"rebuild the index from the Q&A file that has it"):
        _evaluate(table_index, data)


def test_missing_index_is_reported(tmp_path: Path) -> None:
    data = write(tmp_path / "q.csv", "text,id\nq1,A\n")
    with pytest.raises(Exception, match="does not exist"):
        _evaluate(tmp_path / "nowhere", data)


def test_rank_metrics() -> None:
    assert rank_metrics([1, 2, None, 6]) == {"hit_at_1": 0.25, "hit_at_5": 0.5, "mrr": 0.4167}
    assert rank_metrics([]) == {"hit_at_1": 0.0, "hit_at_5": 0.0, "mrr": 0.0}


def test_calibrate_threshold_maximises_coverage_within_the_ood_budget() -> None:
    scores = [0.95, 0.9, 0.8, 0.7, 0.5]
    correct = [True, True, True, True, False]
    ood = [0.1] * 19 + [0.65]  # one in twenty (5%) may pass, not two
    chosen = calibrate_threshold(scores, correct, ood)
    # Every threshold in (0.50, 0.70] answers the four right ones (precision 1, coverage
    # 0.8) with at most one off-topic answer: 0.51..0.70, middle 0.61.
    assert chosen["threshold"] == 0.61
    assert chosen["coverage"] == 0.8
    assert chosen["precision"] == 1.0
    assert chosen["ood_answered"] == 0.05
    assert chosen["met"] is True


def test_calibrate_threshold_says_when_the_precision_target_is_out_of_reach() -> None:
    chosen = calibrate_threshold([0.9, 0.8], [False, True], [0.1], min_precision=0.99)
    assert chosen["met"] is False
    assert "no threshold reaches precision 0.99" in chosen["reason"]
    assert chosen["threshold"] in CALIBRATION_GRID
    with pytest.raises(ValueError, match="2 scores but 1 outcomes"):
        calibrate_threshold([0.9, 0.8], [True])


def test_tiny_real_index_end_to_end(encoder: Encoder, tmp_path: Path) -> None:
    qa = write(
        tmp_path / "qa.csv",
        "id,question,answer,intent\n"
        "order,Where is my order?,Track it under My orders.,order_status\n"
        "password,How do I reset my password?,Use the Forgot password link.,reset_password\n"
        "refund,Can I get my money back?,Refunds take 5 working days.,refund\n"
        "hours,What are your opening hours?,Monday to Friday.,\n",
    )
    build_index(qa, tmp_path / "idx", progress=False, encoder=encoder)
    queries = write(
        tmp_path / "q.csv",
        "text,id,intent\n"
        "my parcel has not arrived yet,,order_status\n"
        "I forgot my password,password,\n"
        "I want a refund,,refund\n"
        "when are you open,hours,\n",
    )
    ood = write(tmp_path / "ood.csv", "text\nwho won the world cup in 2018\nwrite me a poem\n")
    result = evaluate_retrieval(
        tmp_path / "idx", queries, encoder=encoder, out_of_domain=ood, threshold=0.5
    )
    assert result["hit_at_1"] == 1.0
    assert result["mrr"] == 1.0
    assert result["coverage"] == 1.0
    assert result["ood_answered"] == 0.0
    assert result["latency_ms_per_query"]["p50"] > 0
    assert result["method"] == result["index_method"] == "plain"  # too few to compare
    assert result["calibration"]["met"] is True
    assert (tmp_path / "idx" / "report.md").is_file()
    AnswerIndex.load(tmp_path / "idx", encoder)  # the report does not disturb the index


def test_the_cli_builds_with_the_setting_and_evaluates_what_the_bot_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)  # no settings file but the environment's
    monkeypatch.setenv("FRONTDESK_RETRIEVAL_METHOD", "head")
    qa = kettle_csv(tmp_path / "qa.csv")
    assert main(["index", "build", "--data", str(qa), "--out", "idx", "--quiet"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert (built["method"], built["method_chosen_by"]) == ("head", "request")

    queries = write(tmp_path / "q.csv", f"text,intent\n{KETTLE_QUERY},track_order\n")
    ood = write(tmp_path / "ood.csv", "text\nwho won the world cup in 2018\n")
    args = ["eval", "retrieval", "--index", "idx", "--data", str(queries)]
    assert main([*args, "--out-of-domain", str(ood)]) == 0
    served = json.loads(capsys.readouterr().out)
    assert (served["method"], served["hit_at_1"], served["ood_n"]) == ("head", 1.0, 1)
    assert served["threshold"] == Config().retrieval_threshold
    assert main([*args, "--method", "plain"]) == 0
    compared = json.loads(capsys.readouterr().out)
    assert (compared["method"], compared["hit_at_1"]) == ("plain", 0.0)

    monkeypatch.setenv("FRONTDESK_RETRIEVAL_METHOD", "best")
    assert main(["index", "build", "--data", str(qa), "--out", "idx2", "--quiet"]) == 2
    assert "setting retrieval_method='best' is invalid" in capsys.readouterr().err
