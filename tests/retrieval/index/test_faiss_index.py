from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.base.qa import QAPair
from retrieval.index.faiss_index import (
    IndexSettings,
    auto_nlist,
    build_faiss,
    exclude_selector,
    search_faiss,
)
from retrieval.index.search import AnswerIndex
from retrieval.models.encoder import Encoder
from tests.retrieval.helpers import SMALL_HNSW, SMALL_IVF


def _unit_vectors(count: int, dimension: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("settings", "index_type"),
    [
        (IndexSettings(), "flat"),
        (IndexSettings(hnsw_threshold=50, recall_sample=50), "hnsw"),
        (IndexSettings(hnsw_threshold=20, ivf_threshold=50, ivf_nlist=4), "ivf"),
    ],
    ids=["flat", "hnsw", "ivf"],
)
def test_build_faiss_picks_the_layout_by_size_and_finds_each_vector_itself(
    settings: IndexSettings, index_type: str
) -> None:
    vectors = _unit_vectors(100)
    keys = np.arange(100, 200, dtype=np.int64)
    index, built_type, info = build_faiss(vectors, keys, settings)
    assert built_type == index_type
    assert index.ntotal == 100
    if index_type != "flat":
        assert info[index_type]["recall_at_10"] >= settings.target_recall
    scores, found = search_faiss(index, built_type, info, vectors[:5], k=1)
    assert found[:, 0].tolist() == keys[:5].tolist()
    assert scores[:, 0] == pytest.approx(1.0, abs=0.02)


def test_search_faiss_skips_the_excluded_keys() -> None:
    vectors = _unit_vectors(100)
    keys = np.arange(100, dtype=np.int64)
    settings = IndexSettings(hnsw_threshold=50, recall_sample=50)
    index, index_type, info = build_faiss(vectors, keys, settings)
    selector = exclude_selector([0, 1])
    _, found = search_faiss(index, index_type, info, vectors[:2], k=5, selector=selector[1])
    assert not {0, 1} & set(found.ravel().tolist())


def test_build_faiss_rejects_unknown_ivf_codes() -> None:
    settings = IndexSettings(hnsw_threshold=2, ivf_threshold=3, ivf_nlist=2, ivf_codes="pq")
    with pytest.raises(ValueError, match="ivf_codes must be 'sq8' or 'flat', not 'pq'"):
        build_faiss(_unit_vectors(10), np.arange(10, dtype=np.int64), settings)


def test_auto_nlist_is_a_power_of_two_near_four_square_roots() -> None:
    assert auto_nlist(10) == 64
    assert auto_nlist(1_000_000) == 4096
    assert auto_nlist(10**12) == 65536


def test_settings_from_a_newer_manifest_ignore_unknown_keys() -> None:
    settings = IndexSettings.from_mapping({"hnsw_m": 16, "added_later": True})
    assert settings == IndexSettings(hnsw_m=16)


def test_large_collections_use_hnsw_and_record_measured_recall(
    pairs: list[QAPair], encoder: Encoder, tmp_path: Path
) -> None:
    index = AnswerIndex.build(pairs, encoder, settings=SMALL_HNSW)
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["index_type"] == "hnsw"
    assert manifest["build"]["hnsw"]["recall_at_10"] == 1.0
    assert manifest["build"]["hnsw"]["recall_sample"] == 6
    assert manifest["settings"]["hnsw_threshold"] == 3
    assert AnswerIndex.load(tmp_path / "idx", encoder).index_type == "hnsw"


def test_largest_collections_use_ivf_and_compact_drops_removed_vectors(
    pairs: list[QAPair], encoder: Encoder, tmp_path: Path
) -> None:
    index = AnswerIndex.build(pairs, encoder, settings=SMALL_IVF)
    assert index.index_type == "ivf"
    ivf = index.build_info["ivf"]
    assert ivf["nlist"] == 2
    assert ivf["recall_at_10"] == 1.0
    assert 1 <= ivf["nprobe"] <= 2
    index.remove(["hours"])
    assert "hours" not in {h.id for h in index.search("opening hours", k=6)}
    index.save(tmp_path / "idx")
    loaded = AnswerIndex.load(tmp_path / "idx", encoder)
    assert loaded.index_type == "ivf"
    assert loaded.search("I forgot my password", k=1)[0].id == "reset-password"
    loaded.compact()
    assert len(loaded) == 5
    assert "hours" not in {h.id for h in loaded.search("opening hours", k=6)}
