"""What staff teach the bot: intent corrections of customer turns and staff replies saved as
answers, kept for the training exports (``frontdesk feedback export``), and saved answers
waiting for an admin's approval (``answers_need_approval``).

Works on the conversation store's async engine (``FeedbackStore(store.engine)``): these rows
point at turns but never change them. Each write records its audit event in its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.storage.audit import Actor, record
from bot.storage.records import Turn
from bot.storage.rows import record_from_row
from bot.storage.schema import turns
from bot.storage.staff_schema import corrections, pending_answers, saved_answers
from bot.storage.store import utcnow


class ReviewError(ValueError):
    """An approval or rejection of an answer that is no longer pending."""


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


@dataclass(frozen=True, slots=True)
class PendingAnswer:
    id: int
    qa_id: str
    turn_id: int | None
    question: str
    answer: str
    intent: str | None
    author: str
    created_at: datetime
    status: str
    reviewed_by: str | None
    reviewed_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "qa_id": self.qa_id,
            "turn_id": self.turn_id,
            "question": self.question,
            "answer": self.answer,
            "intent": self.intent,
            "author": self.author,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "reviewed_by": self.reviewed_by,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
        }


def _pending(row: Any) -> PendingAnswer:
    return record_from_row(PendingAnswer, row)


def _correction(row: Any) -> Correction:
    return record_from_row(Correction, row)


def _saved(row: Any) -> SavedAnswer:
    return record_from_row(SavedAnswer, row)


class FeedbackStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def correct(
        self, turn: Turn, intent: str, author: str, *, by: Actor | None = None
    ) -> Correction:
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
            await record(
                conn,
                "intent_correction",
                by=by or Actor(author),
                target=turn.conversation_id,
                details={"turn": turn.id, "from": turn.intent, "to": intent},
            )
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
        *,
        by: Actor | None = None,
    ) -> SavedAnswer:
        """Store a Q&A pair taught by staff (replacing an earlier one with the same id)."""
        async with self.engine.begin() as conn:
            saved = await _save(conn, qa_id, question, answer, intent, author, turn_id)
            await record(
                conn,
                "answer_saved",
                by=by or Actor(author),
                target=qa_id,
                details={"turn": turn_id, "status": "live"},
            )
        return saved

    # Answers waiting for approval ------------------------------------------------------

    async def add_pending(
        self,
        qa_id: str,
        question: str,
        answer: str,
        intent: str | None,
        author: str,
        turn_id: int | None,
        *,
        by: Actor | None = None,
    ) -> PendingAnswer:
        """Keep a staff answer out of the index until an admin approves it."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    insert(pending_answers)
                    .values(
                        qa_id=qa_id,
                        turn_id=turn_id,
                        question=question,
                        answer=answer,
                        intent=intent,
                        author=author,
                        created_at=utcnow(),
                        status="pending",
                    )
                    .returning(pending_answers)
                )
            ).one()
            await record(
                conn,
                "answer_saved",
                by=by or Actor(author),
                target=qa_id,
                details={"turn": turn_id, "status": "pending", "pending_id": row.id},
            )
        return _pending(row)

    async def pending(self, answer_id: int) -> PendingAnswer | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(pending_answers).where(pending_answers.c.id == answer_id))
            ).first()
        return _pending(row) if row else None

    async def pending_answers(self, status: str = "pending") -> list[PendingAnswer]:
        query = (
            select(pending_answers)
            .where(pending_answers.c.status == status)
            .order_by(pending_answers.c.id)
        )
        async with self.engine.connect() as conn:
            return [_pending(r) for r in await conn.execute(query)]

    async def approve(self, answer_id: int, by: Actor) -> tuple[PendingAnswer, SavedAnswer]:
        """Mark a pending answer approved by ``by`` and store it as a saved answer, in one
        transaction; ReviewError when it was already approved or rejected."""
        async with self.engine.begin() as conn:
            reviewed = await _review(conn, answer_id, "approved", by)
            saved = await _save(
                conn,
                reviewed.qa_id,
                reviewed.question,
                reviewed.answer,
                reviewed.intent,
                reviewed.author,
                reviewed.turn_id,
            )
            await record(
                conn,
                "answer_approved",
                by=by,
                target=reviewed.qa_id,
                details={"pending_id": answer_id, "author": reviewed.author},
            )
        return reviewed, saved

    async def reject(self, answer_id: int, by: Actor) -> PendingAnswer:
        async with self.engine.begin() as conn:
            reviewed = await _review(conn, answer_id, "rejected", by)
            await record(
                conn,
                "answer_rejected",
                by=by,
                target=reviewed.qa_id,
                details={"pending_id": answer_id, "author": reviewed.author},
            )
        return reviewed

    async def saved_answer(self, qa_id: str) -> SavedAnswer | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(saved_answers).where(saved_answers.c.qa_id == qa_id))
            ).first()
        return _saved(row) if row is not None else None

    async def reopen(
        self, answer_id: int, saved: SavedAnswer, replaced: SavedAnswer | None = None
    ) -> None:
        """Undo an approval whose answer could not be put into the index, so it can be
        approved again: its saved row goes, the live answer it replaced (the same question
        saved earlier) comes back; the approval's audit event stays, and this one follows."""
        qa_id = saved.qa_id
        async with self.engine.begin() as conn:
            await conn.execute(
                update(pending_answers)
                .where(pending_answers.c.id == answer_id)
                .values(status="pending", reviewed_by=None, reviewed_at=None)
            )
            await conn.execute(delete(saved_answers).where(saved_answers.c.id == saved.id))
            if replaced is not None:
                await _save(
                    conn,
                    replaced.qa_id,
                    replaced.question,
                    replaced.answer,
                    replaced.intent,
                    replaced.author,
                    replaced.turn_id,
                )
            await record(
                conn,
                "answer_reopened",
                by=None,
                target=qa_id,
                details={"pending_id": answer_id, "reason": "the index refused it"},
            )

    async def saved_answers(self) -> list[SavedAnswer]:
        async with self.engine.connect() as conn:
            return [
                _saved(r)
                for r in await conn.execute(select(saved_answers).order_by(saved_answers.c.id))
            ]


async def _save(
    conn: AsyncConnection,
    qa_id: str,
    question: str,
    answer: str,
    intent: str | None,
    author: str,
    turn_id: int | None,
) -> SavedAnswer:
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


async def _review(conn: AsyncConnection, answer_id: int, status: str, by: Actor) -> PendingAnswer:
    # The status test in the UPDATE makes two admins' clicks race safely: one wins, the
    # other finds nothing pending.
    row = (
        await conn.execute(
            update(pending_answers)
            .where(pending_answers.c.id == answer_id, pending_answers.c.status == "pending")
            .values(status=status, reviewed_by=by.username, reviewed_at=utcnow())
            .returning(pending_answers)
        )
    ).first()
    if row is None:
        found = (
            await conn.execute(
                select(pending_answers.c.status, pending_answers.c.reviewed_by).where(
                    pending_answers.c.id == answer_id
                )
            )
        ).first()
        if found is None:
            raise LookupError(f"no pending answer {answer_id}")
        raise ReviewError(
            f"answer {answer_id} was already {found.status} by {found.reviewed_by or 'someone'}"
        )
    return _pending(row)
