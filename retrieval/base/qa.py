"""Historical question/answer pairs: reading them and merging duplicates.

A Q&A file is CSV/TSV with a header or JSONL with the columns ``question, answer[, intent][,
id]``. Bitext-style ``instruction``/``response`` columns are accepted as well, so a
downloaded dataset works without renaming its header.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.base.datafiles import (
    DataFileError,
    optional_text,
    pick_column,
    read_rows,
    required_text,
)

QUESTION_COLUMNS = ("question", "instruction", "query")
ANSWER_COLUMNS = ("answer", "response")
INTENT_COLUMN = "intent"
ID_COLUMN = "id"

NEAR_DUPLICATE_THRESHOLD = 0.97
"""Cosine similarity above which two questions count as the same question.

At 0.97 all-MiniLM-L6-v2 pairs differ by little more than word order or a filler word;
paraphrases proper score around 0.8-0.9 and stay separate, because they are what makes
retrieval robust."""


@dataclass(frozen=True, slots=True)
class QAPair:
    id: str
    question: str
    answer: str
    intent: str | None = None


_SPACE = re.compile(r"\s+")


def question_key(text: str) -> str:
    """The form two questions must share to be exact duplicates: case, spacing and
    punctuation do not matter ("Where's my order?" == "wheres my  order")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return _SPACE.sub(" ", text).strip()


def stable_id(question: str) -> str:
    """An id derived from the question, so rebuilding from the same file keeps the ids
    that conversations and feedback already refer to."""
    return "qa-" + hashlib.sha256(question_key(question).encode()).hexdigest()[:16]


def read_qa(path: str | Path) -> list[QAPair]:
    """Read a Q&A file; every problem is a DataFileError naming the line and the field."""
    header, rows = read_rows(path)
    question_col = pick_column(path, header, QUESTION_COLUMNS, role="question")
    answer_col = pick_column(path, header, ANSWER_COLUMNS, role="answer")
    if not rows:
        raise DataFileError(path, "no Q&A rows", fix="add at least one question,answer row")
    pairs: list[QAPair] = []
    seen_ids: dict[str, int] = {}
    for row in rows:
        question = required_text(path, row, question_col)
        answer = required_text(path, row, answer_col)
        intent = optional_text(path, row, INTENT_COLUMN)
        given_id = optional_text(path, row, ID_COLUMN)
        if given_id is not None:
            if given_id in seen_ids:
                raise DataFileError(
                    path,
                    f"id {given_id!r} is already used on line {seen_ids[given_id]}",
                    line=row.line,
                    field=ID_COLUMN,
                    fix="give each row its own id, or leave id empty to derive one",
                )
            seen_ids[given_id] = row.line
        pairs.append(
            QAPair(
                id=given_id if given_id is not None else stable_id(question),
                question=question,
                answer=answer,
                intent=intent,
            )
        )
    return pairs


def merge_duplicates(pairs: Sequence[QAPair]) -> tuple[list[QAPair], list[str]]:
    """Keep the first pair of each group whose questions are equal after :func:`question_key`.

    The first one wins, answer included, so the result follows file order and is easy to
    predict; the report says when a dropped duplicate carried a different answer, so the
    data owner can decide which one is right.
    """
    kept: list[QAPair] = []
    first_by_key: dict[str, QAPair] = {}
    report: list[str] = []
    for pair in pairs:
        key = question_key(pair.question)
        first = first_by_key.get(key)
        if first is None:
            first_by_key[key] = pair
            kept.append(pair)
            continue
        note = "" if pair.answer == first.answer else " (its different answer was dropped)"
        report.append(
            f"merged {pair.id} {pair.question!r} into {first.id} {first.question!r}: "
            f"same question{note}"
        )
    return kept, report


def merge_near_duplicates(
    pairs: Sequence[QAPair],
    vectors: np.ndarray,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
    *,
    neighbours: int = 8,
    exact_limit: int = 50_000,
) -> tuple[list[QAPair], np.ndarray, list[str]]:
    """Merge pairs whose question vectors have cosine >= ``threshold`` (vectors normalised).

    Greedy in file order: an earlier pair absorbs its later near-duplicates, and an
    absorbed pair absorbs nothing, so no chain A~B~C ever merges A with a dissimilar C.
    Pairs with different intents are never merged: near-identical wording with different
    intents is exactly the data a human should look at, not something to hide.
    Only the ``neighbours`` nearest of each question are examined; above ``exact_limit``
    pairs they come from an HNSW graph, because exact all-pairs search grows with n²
    (100k questions would take minutes on two cores).
    """
    import faiss

    if len(pairs) != len(vectors):
        raise ValueError(f"{len(pairs)} pairs but {len(vectors)} vectors")
    if len(pairs) < 2:
        return list(pairs), vectors, []
    finder: faiss.Index
    if len(pairs) <= exact_limit:
        finder = faiss.IndexFlatIP(vectors.shape[1])
    else:
        finder = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        finder.hnsw.efSearch = 64
    finder.add(vectors)
    scores, ids = finder.search(vectors, min(neighbours + 1, len(pairs)))
    absorbed_into: dict[int, int] = {}
    report: list[str] = []
    for i in range(len(pairs)):
        if i in absorbed_into:
            continue
        for score, j in zip(scores[i], ids[i], strict=True):
            j = int(j)
            if j <= i or j in absorbed_into or score < threshold:
                continue
            if pairs[j].intent != pairs[i].intent:
                continue
            absorbed_into[j] = i
            report.append(
                f"merged {pairs[j].id} {pairs[j].question!r} into {pairs[i].id} "
                f"{pairs[i].question!r}: similarity {float(score):.3f}"
            )
    keep = [i for i in range(len(pairs)) if i not in absorbed_into]
    return [pairs[i] for i in keep], vectors[keep], report
