"""What the store hands back: plain frozen records, never live ORM rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    channel: str
    sender_id: str
    status: str
    slots: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Turn:
    id: int
    conversation_id: str
    role: str
    text: str
    message_id: str | None
    reply_to: int | None
    intent: str | None
    confidence: float | None
    sentiment: str | None
    sentiment_score: float | None
    route: str | None
    answer_source: str | None
    retrieval_score: float | None
    entities: list[dict[str, Any]] | None
    payload: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Escalation:
    id: int
    conversation_id: str
    reason: str
    status: str
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class Understanding:
    """What the models made of a customer message, stored on its turn."""

    intent: str | None
    confidence: float | None
    sentiment: str | None = None
    sentiment_score: float | None = None
    entities: list[dict[str, Any]] | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "sentiment": self.sentiment,
            "sentiment_score": self.sentiment_score,
            "entities": list(self.entities) if self.entities else None,
        }
