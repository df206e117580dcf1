"""Tables for people: staff accounts, their sessions and API tokens, and what staff add to
conversations (notes, intent corrections, saved answers) and what customers add after a
hand-off (ratings), plus the widget's conversation tokens.

Defined on the conversation store's ``metadata``, so ``Store.open`` creates them with the rest.
Secrets (session ids, API tokens, conversation tokens) are stored only as SHA-256 digests:
they are long random strings, so a fast hash is enough and a database leak reveals none.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.storage.schema import conversation_ref, metadata

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    # agent | ops | admin
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

conversation_tokens = Table(
    "conversation_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    conversation_ref(),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    conversation_ref(),
    Column("author", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_notes_conversation", notes.c.conversation_id, notes.c.id)

corrections = Table(
    "corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", Integer, ForeignKey("turns.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("predicted_intent", String(128), nullable=True),
    Column("intent", String(128), nullable=False),
    Column("author", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # One correction per turn: a second one replaces the first.
    UniqueConstraint("turn_id", name="uq_correction_turn"),
)

saved_answers = Table(
    "saved_answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("qa_id", String(64), nullable=False, unique=True),
    Column("turn_id", Integer, ForeignKey("turns.id", ondelete="SET NULL"), nullable=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("intent", String(128), nullable=True),
    Column("author", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ratings = Table(
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "escalation_id",
        Integer,
        ForeignKey("escalations.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    conversation_ref(),
    Column("score", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
