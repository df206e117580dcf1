"""The intent examples, embedded by the index's encoder and kept beside the answers.

``frontdesk index build --examples data/nlu.yml`` embeds them when it builds the index, so the
served bot never spends its model time on them: the ops monitor compares a message of a
general topic ("complaint") with them to find what it is about (bot/ops/topics.py). They live
in the index directory because they only mean something in that encoder's space, which the
index's manifest already names and checks at load.

File (plain arrays, no pickles): :data:`EXAMPLES_FILE` with ``texts`` and ``intents`` (strings)
and ``vectors`` (float16, unit rows). An index without it has no examples: a missing file is
an older or a plainer index, not an error.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXAMPLES_FILE = "intent_examples.npz"


@dataclass(frozen=True)
class IntentExamples:
    texts: tuple[str, ...]
    intents: tuple[str, ...]
    vectors: np.ndarray  # (examples, dimension), float32, unit rows

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.intents) or self.vectors.shape[:1] != (len(self.texts),):
            raise ValueError(
                f"expected one intent and one vector per text, got {len(self.texts)} texts, "
                f"{len(self.intents)} intents and vectors of shape {self.vectors.shape}"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            texts=np.array(self.texts, dtype=str),
            intents=np.array(self.intents, dtype=str),
            vectors=self.vectors.astype(np.float16),
        )
        return buffer.getvalue()

    @classmethod
    def read(cls, path: Path, dimension: int) -> IntentExamples:
        """The examples saved at ``path``; ValueError (or OSError) where they cannot be used."""
        with np.load(path, allow_pickle=False) as data:
            texts = tuple(str(t) for t in data["texts"])
            intents = tuple(str(i) for i in data["intents"])
            vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
        if vectors.ndim != 2 or (len(texts) and vectors.shape[1] != dimension):
            raise ValueError(
                f"expected vectors of dimension {dimension}, got shape {vectors.shape}"
            )
        return cls(texts, intents, vectors)
