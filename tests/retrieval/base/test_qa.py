from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.base.datafiles import DataFileError
from retrieval.base.qa import (
    QAPair,
    merge_duplicates,
    merge_near_duplicates,
    question_key,
    read_qa,
    stable_id,
)
from tests.retrieval.helpers import write


def test_read_qa_csv_derives_stable_ids_from_the_question(tmp_path: Path) -> None:
    path = write(
        tmp_path / "qa.csv",
        "question,answer,intent\n"
        "Where is my order?,Track it under My orders.,order_status\n"
        '"Can I pay by card, or cash?",Card only.,\n',
    )
    pairs = read_qa(path)
    assert pairs == [
        QAPair(
            stable_id("Where is my order?"),
            "Where is my order?",
            "Track it under My orders.",
            "order_status",
        ),
        QAPair(
            stable_id("Can I pay by card, or cash?"),
            "Can I pay by card, or cash?",
            "Card only.",
            None,
        ),
    ]
    assert pairs[0].id == stable_id("where is my ORDER") == read_qa(path)[0].id


def test_read_qa_jsonl_keeps_given_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path / "qa.jsonl",
        '{"id": 7, "question": "Hi?", "answer": "Hello!"}\n\n'
        '{"id": "b", "question": "Bye?", "answer": "Bye!", "intent": "goodbye"}\n',
    )
    assert read_qa(path) == [QAPair("7", "Hi?", "Hello!"), QAPair("b", "Bye?", "Bye!", "goodbye")]


def test_read_qa_accepts_bitext_instruction_and_response_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "qa.csv", "instruction,response,intent\nWhere?,Here.,track\n")
    assert read_qa(path)[0].question == "Where?"


def test_read_qa_reports_the_line_and_field_of_an_empty_answer(tmp_path: Path) -> None:
    path = write(tmp_path / "qa.csv", "question,answer\nWhere?,Here.\nWhen?,\n")
    with pytest.raises(DataFileError) as caught:
        read_qa(path)
    assert (caught.value.line, caught.value.field) == (3, "answer")
    assert str(caught.value).startswith(f"{path}:3 (field 'answer'): empty value")


def test_read_qa_names_the_missing_answer_column(tmp_path: Path) -> None:
    path = write(tmp_path / "qa.csv", "question,reply\nWhere?,Here.\n")
    with pytest.raises(DataFileError, match=r"no answer column: expected one of answer, response"):
        read_qa(path)


def test_read_qa_rejects_a_repeated_id_on_its_second_line(tmp_path: Path) -> None:
    path = write(tmp_path / "qa.csv", "id,question,answer\na,One?,1\nb,Two?,2\na,Three?,3\n")
    with pytest.raises(DataFileError, match="already used on line 2") as caught:
        read_qa(path)
    assert (caught.value.line, caught.value.field) == (4, "id")


def test_read_qa_rejects_a_file_without_rows(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no Q&A rows"):
        read_qa(write(tmp_path / "qa.csv", "question,answer\n"))


def test_question_key_ignores_case_spacing_and_punctuation() -> None:
    assert question_key("  Where's my ORDER?? ") == question_key("wheres my order")


def test_merge_duplicates_keeps_the_first_and_reports_a_dropped_answer() -> None:
    pairs = [
        QAPair("a", "Where is my order?", "Track it."),
        QAPair("b", "How do I pay?", "By card."),
        QAPair("c", "where is my order", "Ask us."),
        QAPair("d", "WHERE IS MY ORDER!", "Track it."),
    ]
    kept, report = merge_duplicates(pairs)
    assert [p.id for p in kept] == ["a", "b"]
    assert len(report) == 2
    assert report[0].startswith("merged c 'where is my order' into a 'Where is my order?'")
    assert "different answer was dropped" in report[0]
    assert "dropped" not in report[1]


def test_merge_near_duplicates_merges_close_vectors_of_the_same_intent_only() -> None:
    base = np.eye(4, dtype=np.float32)
    close = base[0] + np.array([0, 0.05, 0, 0], dtype=np.float32)
    vectors = np.vstack([base[0], base[1], close / np.linalg.norm(close), base[0]])
    pairs = [
        QAPair("a", "q a", "A", "x"),
        QAPair("b", "q b", "B", "x"),
        QAPair("c", "q c", "C", "x"),
        QAPair("d", "q d", "D", "other-intent"),
    ]
    kept, kept_vectors, report = merge_near_duplicates(pairs, vectors, threshold=0.97)
    assert [p.id for p in kept] == ["a", "b", "d"]
    assert kept_vectors.shape == (3, 4)
    assert report == ["merged c 'q c' into a 'q a': similarity 0.999"]
