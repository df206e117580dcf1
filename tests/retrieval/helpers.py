"""Test data and stand-ins shared by the retrieval tests."""

from __future__ import annotations

import csv
import zlib
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


# Two intents where the words that tell them apart are not the words the nearest question
# shares: "the blue kettle" appears only in cancel_order questions, so to plain search
# "where is the blue kettle I ordered" is nearest to a cancellation, while the intent head
# (fitted on these 24 questions by the real encoder) reads it as tracking.
_TRACK = (
    "where is my order",
    "where is my parcel",
    "has my package shipped yet",
    "when will my order arrive",
    "track my delivery",
    "what is the status of my order",
    "my order has not arrived",
    "can you tell me where my package is",
    "how do I track my shipment",
    "is my order on its way",
    "I am still waiting for my delivery",
    "where's my stuff",
)
_CANCEL = (
    "cancel my order",
    "I want to cancel the purchase",
    "please cancel order for the blue kettle",
    "how do I cancel an order",
    "stop my order from shipping",
    "I changed my mind, cancel it",
    "cancel the blue kettle order",
    "can I still cancel my order",
    "I need to cancel a purchase",
    "cancel my purchase of the blue kettle please",
    "help me cancel an order",
    "I don't want the order anymore",
)
KETTLE_PAIRS = tuple(
    QAPair(f"track-{n}", q, "Follow it under My orders.", "track_order")
    for n, q in enumerate(_TRACK)
) + tuple(
    QAPair(f"cancel-{n}", q, "Cancel it under My orders.", "cancel_order")
    for n, q in enumerate(_CANCEL)
)
KETTLE_QUERY = "where is the blue kettle I ordered"


def kettle_csv(path: Path) -> Path:
    """:data:`KETTLE_PAIRS` as a Q&A file for ``build_index``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "answer", "intent"])
        writer.writerows([p.id, p.question, p.answer, p.intent] for p in KETTLE_PAIRS)
    return path


class NameEncoder:
    """Questions ``"<intent>|<name>|<n>"`` (intent get or check, name ann or bob) as vectors
    whose intent is one small coordinate and whose customer name is a large one, with noise.

    Nearest questions follow the name, a linear head the intent: the case the head exists
    for, made exact so tests can count on it.
    """

    name = "names"
    fingerprint = "sha256:names"
    dimension = 8

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        rows = []
        for text in texts:
            intent, name, _ = text.lstrip("?").split("|")
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            vector = np.concatenate(
                [[0.2 if intent == "get" else -0.2, 2.0 if name == "ann" else -2.0],
                 rng.normal(0, 0.7, self.dimension - 2)]
            )  # fmt: skip
            rows.append(vector / np.linalg.norm(vector))
        return np.array(rows, dtype=np.float32)


def name_pairs(count: int) -> list[QAPair]:
    """``count`` Q&A pairs for :class:`NameEncoder`, intents and names alternating."""
    pairs = []
    for n in range(count):
        intent = ("get", "check")[n % 2]
        name = ("ann", "bob")[(n // 2) % 2]
        pairs.append(QAPair(f"{intent}-{n}", f"{intent}|{name}|{n}", f"{intent} it", intent))
    return pairs


def name_csv(path: Path, count: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "answer", "intent"])
        writer.writerows([p.id, p.question, p.answer, p.intent] for p in name_pairs(count))
    return path
