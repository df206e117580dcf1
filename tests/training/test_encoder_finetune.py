from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.base.qa import QAPair
from retrieval.models.encoder import Encoder, load_encoder
from tests.retrieval.helpers import PAIRS
from training.encoder_finetune import _batches, fine_tune_encoder


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    # The bundled encoder before fine-tuning: what the tuned one must differ from.
    return load_encoder(device="cpu")


def test_batches_never_hold_two_pairs_of_one_intent() -> None:
    import random

    pairs = [QAPair(str(i), f"q{i}", f"a{i}", f"intent{i % 3}") for i in range(30)]
    by_intent: dict[str, list[QAPair]] = {}
    for pair in pairs:
        by_intent.setdefault(pair.intent or "", []).append(pair)
    batches = _batches(by_intent, 8, random.Random(0))
    assert sorted(p.id for b in batches for p in b) == sorted(p.id for p in pairs)
    assert all(len({p.intent for p in b}) == len(b) for b in batches)


def test_fine_tune_saves_an_encoder_that_loads_with_its_own_fingerprint(
    encoder: Encoder, tmp_path: Path
) -> None:
    summary = fine_tune_encoder(PAIRS, tmp_path / "enc", epochs=1, batch_size=4, device="cpu")
    assert summary["steps"] >= 1
    assert summary["stopped_by"] == "epochs"
    tuned = load_encoder(tmp_path / "enc", device="cpu")
    assert tuned.dimension == encoder.dimension
    assert tuned.fingerprint != encoder.fingerprint
    assert tuned.encode(["where is my order"]).shape == (1, 384)
