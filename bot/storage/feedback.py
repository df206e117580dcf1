"""What staff teach the bot: intent corrections of customer turns and staff replies saved as
answers, kept for the training exports (``frontdesk feedback export``).

Works on the conversation store's async engine (``FeedbackStore(store.engine)``): these rows
point at turns but never change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.records import Turn
from bot.storage.rows import record_from_row
from bot.storage.schema import turns
from bot.storage.staff_schema import corrections, saved_answers
from bot.storage.store import utcnow


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    turn_id: int
    text: str
    predicted_intent: str | None
    intent: str
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SavedAnswer:
    id: int
    qa_id: str
    turn_id: int | None
    question: str
    answer: str
    intent: str | None
    author: str
    created_at: datetime


def _correction(row: Any) -> Correction:
    return record_from_row(Correction, row)


def _saved(row: Any) -> SavedAnswer:
    return record_from_row(SavedAnswer, row)


class FeedbackStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def correct(self, turn: Turn, intent: str, author: str) -> Correction:
        """Store the right intent for a customer turn (replacing an earlier correction)."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(corrections).where(corrections.c.turn_id == turn.id))
            row = (
                await conn.execute(
                    insert(corrections)
                    .values(
                        turn_id=turn.id,
                        text=turn.text,
                        predicted_intent=turn.intent,
                        intent=intent,
                        author=author,
                        created_at=utcnow(),
                    )
                    .returning(corrections)
                )
            ).one()
        return _correction(row)

    async def corrections(self, conversation_id: str | None = None) -> list[Correction]:
        query = select(corrections).order_by(corrections.c.id)
        if conversation_id is not None:
            query = query.join(turns, turns.c.id == corrections.c.turn_id).where(
                turns.c.conversation_id == conversation_id
            )
        async with self.engine.connect() as conn:
            return [_correction(r) for r in await conn.execute(query)]

    async def save_answer(
        self,
        qa_id: str,
        question: str,
        answer: str,
        intent: str | None,
        author: str,
        turn_id: int | None,
    ) -> SavedAnswer:
        """Store a Q&A pair taught by staff (replacing an earlier one with the same id)."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(saved_answers).where(saved_answers.c.qa_id == qa_id))
            row = (
                await conn.execute(
                    insert(saved_answers)
                    .values(
                        qa_id=qa_id,
                        turn_id=turn_id,
                        question=question,
                        answer=answer,
                        intent=intent,
                        author=author,
                        created_at=utcnow(),
                    )
                    .returning(saved_answers)
                )
            ).one()
        return _saved(row)

    async def saved_answers(self) -> list[SavedAnswer]:
        async with self.engine.connect() as conn:
            return [
                _saved(r)
                for r in await conn.execute(select(saved_answers).order_by(saved_answers.c.id))
            ]
