from __future__ import annotations

import threading

import pytest

from retrieval.base.qa import QAPair
from retrieval.index.faiss_index import IndexSettings
from retrieval.index.hits import Hit
from retrieval.index.search import AnswerIndex
from retrieval.models.encoder import Encoder
from tests.retrieval.helpers import KETTLE_PAIRS, KETTLE_QUERY, SMALL_HNSW, SMALL_IVF


def test_search_returns_the_paraphrased_question_first(index: AnswerIndex) -> None:
    hits = index.search("I forgot my password, how can I change it?", k=3)
    assert len(hits) == 3
    assert isinstance(hits[0], Hit)
    assert hits[0].id == "reset-password"
    assert hits[0].answer == "Use the 'Forgot password' link on the login page."
    assert hits[0].intent == "reset_password"
    assert hits[0].score > 0.6 > hits[1].score
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_many_answers_each_query_and_skips_blank_ones(index: AnswerIndex) -> None:
    results = index.search_many(["when are you open", "   ", "refund please"], k=2)
    assert [[h.id for h in hits][:1] for hits in results] == [["hours"], [], ["refund"]]
    assert len(results[0]) == 2
    with pytest.raises(TypeError, match="sequence of queries"):
        index.search_many("when are you open")


def test_search_asks_for_no_more_hits_than_there_are_entries(index: AnswerIndex) -> None:
    assert len(index.search("order", k=50)) == len(index) == 6


def test_search_vectors_matches_search(index: AnswerIndex, encoder: Encoder) -> None:
    query = "I forgot my password, how can I change it?"
    vectors = encoder.encode([query])
    assert index.search_vectors(vectors, k=3) == [index.search(query, k=3)]
    with pytest.raises(ValueError, match=r"shape \(n, 384\)"):
        index.search_vectors(vectors[:, :10], k=3)


def test_build_rejects_duplicate_ids(encoder: Encoder) -> None:
    pair = QAPair("same", "Q?", "A.")
    with pytest.raises(ValueError, match="duplicate Q&A ids: 'same'"):
        AnswerIndex.build([pair, pair], encoder)


def test_add_with_a_known_id_replaces_that_entry(index: AnswerIndex) -> None:
    before = index.stamp
    index.add([QAPair("hours", "When is the shop open?", "Every day, 9:00-18:00.", None)])
    assert len(index) == 6
    assert index.stamp != before
    hits = index.search("when are you open", k=6)
    assert [h.answer for h in hits if h.id == "hours"] == ["Every day, 9:00-18:00."]


def test_compact_drops_removed_vectors_from_an_hnsw_graph(
    pairs: list[QAPair], encoder: Encoder
) -> None:
    index = AnswerIndex.build(pairs, encoder, settings=SMALL_HNSW)
    index.remove(["hours"])
    index.compact()
    assert len(index) == 5
    assert index.index_type == "hnsw"
    assert "hours" not in {h.id for h in index.search("opening hours", k=5)}


@pytest.mark.parametrize(
    ("settings", "index_type"), [(SMALL_HNSW, "hnsw"), (SMALL_IVF, "ivf")], ids=["hnsw", "ivf"]
)
def test_removing_past_compact_ratio_compacts_and_keeps_the_revision_count(
    settings: IndexSettings, index_type: str, pairs: list[QAPair], encoder: Encoder
) -> None:
    index = AnswerIndex.build(pairs, encoder, settings=settings)
    assert index.remove(["hours", "not-there"]) == 1
    assert index.revision == 1
    # One masked vector of six is under compact_ratio: it stays, hidden from searches.
    assert "compacted_at" not in index.build_info
    assert "hours" not in {h.id for h in index.search("opening hours", k=6)}
    # A second one is over it: the index is rebuilt from the live vectors at once.
    assert index.remove(["refund"]) == 1
    assert "compacted_at" in index.build_info
    assert index.index_type == index_type
    assert index.revision == 2
    assert len(index) == len(index.search("opening hours", k=6)) == 4
    assert {"hours", "refund"}.isdisjoint(h.id for h in index.search("opening hours", k=6))


def test_searching_while_another_thread_adds_sees_consistent_entries(
    index: AnswerIndex,
) -> None:
    errors: list[BaseException] = []

    def add_many() -> None:
        try:
            for n in range(10):
                index.add([QAPair(f"extra-{n}", f"Question number {n}?", f"Answer {n}.")])
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=add_many)
    writer.start()
    while writer.is_alive():
        hits = index.search("where is my order", k=3)
        assert hits[0].id == "where-order"
    writer.join()
    assert not errors
    assert len(index) == 16


def test_answer_follows_the_method_the_index_was_built_with(encoder: Encoder) -> None:
    head = AnswerIndex.build(KETTLE_PAIRS, encoder, answering={"method": "head"})
    plain = AnswerIndex.build(KETTLE_PAIRS, encoder)
    assert (head.method, plain.method) == ("head", "plain")
    # The nearest question is a cancellation; the head reads the query as tracking.
    nearest = head.search(KETTLE_QUERY, k=len(KETTLE_PAIRS))
    assert nearest[0].intent == "cancel_order"
    answers = head.answer(KETTLE_QUERY, k=2)
    assert [h.intent for h in answers] == ["track_order", "cancel_order"]
    # Each answer keeps its own question's cosine score, so a threshold means the same.
    scores = {h.id: h.score for h in nearest}
    assert all(h.score == pytest.approx(scores[h.id]) for h in answers)
    assert plain.answer(KETTLE_QUERY, k=3) == plain.search(KETTLE_QUERY, k=3)
    assert head.answer(KETTLE_QUERY, k=3, method="plain") == nearest[:3]


def test_answer_many_answers_each_query_and_skips_blank_ones(encoder: Encoder) -> None:
    index = AnswerIndex.build(KETTLE_PAIRS, encoder, answering={"method": "head"})
    results = index.answer_many([KETTLE_QUERY, "  ", "cancel my order please"], k=1)
    assert [[h.intent for h in hits] for hits in results] == [
        ["track_order"],
        [],
        ["cancel_order"],
    ]
    by_vector = index.answer_vectors(encoder.encode([KETTLE_QUERY]), k=1)
    assert [h.id for h in by_vector[0]] == [h.id for h in results[0]]
    with pytest.raises(TypeError, match="sequence of queries"):
        index.answer_many(KETTLE_QUERY)
    with pytest.raises(ValueError, match="answer method must be one of"):
        AnswerIndex.build(KETTLE_PAIRS, encoder, answering={"method": "auto"})
