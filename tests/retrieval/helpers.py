"""Test data and stand-ins shared by the retrieval tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.base.qa import QAPair
from retrieval.index import IndexSettings
from retrieval.models.encoder import Encoder

PAIRS = (
    QAPair("where-order", "Where is my order?", "Track it under My orders.", "order_status"),
    QAPair(
        "reset-password",
        "How do I reset my password?",
        "Use the 'Forgot password' link on the login page.",
        "reset_password",
    ),
    QAPair("refund", "Can I get my money back?", "Refunds take 5 working days.", "refund_status"),
    QAPair("hours", "What are your opening hours?", "Monday to Friday, 8:00-20:00.", None),
    QAPair("ship-abroad", "Do you ship to other countries?", "We ship to 30 countries.", None),
    QAPair("cancel", "How can I cancel my order?", "Cancel it from My orders.", "cancel_order"),
)


class OtherEncoder:
    """Looks like another model to the index: the same vectors under another identity."""

    def __init__(self, real: Encoder, *, dimension: int | None = None) -> None:
        self._real = real
        self.name = "some-other-model"
        self.fingerprint = "sha256:0000"
        self.dimension = dimension or real.dimension

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        return self._real.encode(texts, batch_size=batch_size, progress=progress)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# Tiny thresholds push six pairs through the HNSW code path a large index takes ...
SMALL_HNSW = IndexSettings(hnsw_threshold=3, recall_sample=6)
# ... and the inverted lists the largest ones take.
SMALL_IVF = IndexSettings(hnsw_threshold=2, ivf_threshold=3, ivf_nlist=2, recall_sample=6)
