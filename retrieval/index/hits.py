"""What a search answers with.

In a module of its own because both the search (:mod:`retrieval.index.search`) and the
intent rules (:mod:`retrieval.index.intents`) use it, and the search uses the intent rules:
with ``Hit`` here neither has to import the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hit:
    """One indexed Q&A pair found for a query; ``score`` is the cosine similarity of the
    query to the pair's question, so a serving threshold applies to it directly."""

    id: str
    question: str
    answer: str
    intent: str | None
    score: float
