"""Tables for people: staff accounts, their sessions and API tokens, and what staff add to
conversations (notes, intent corrections, saved answers and those awaiting approval) and what
customers add after a hand-off (ratings), plus the widget's conversation tokens and the audit
log of what staff did.

Defined on the conversation store's ``metadata``, so ``Store.open`` creates them with the rest;
``create_all`` adds a missing table to an existing database but never a column to an existing
table, so later additions are new tables rather than new columns.
Secrets (session ids, API tokens, conversation tokens) are stored only as SHA-256 digests:
they are long random strings, so a fast hash is enough and a database leak reveals none.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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

# A staff reply saved as an answer while ``answers_need_approval`` is on: it waits here, out of
# the index, until an admin approves it (then it is copied to saved_answers) or rejects it.
pending_answers = Table(
    "pending_answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("qa_id", String(64), nullable=False),
    Column("turn_id", Integer, ForeignKey("turns.id", ondelete="SET NULL"), nullable=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("intent", String(128), nullable=True),
    Column("author", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # pending | approved | rejected
    Column("status", String(16), nullable=False, default="pending"),
    Column("reviewed_by", String(64), nullable=True),
    Column("reviewed_at", DateTime(timezone=True), nullable=True),
)
Index("ix_pending_answers_status", pending_answers.c.status, pending_answers.c.id)

# What staff did, one row per action. Plain strings rather than foreign keys: the record must
# outlive the user, token or conversation it names.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    # Who did it; empty for a failed sign-in (nobody was signed in) and for the CLI.
    Column("actor", String(64), nullable=True),
    Column("action", String(32), nullable=False),
    # What it was done to: a conversation id, a username, a token id, an answer id.
    Column("target", String(128), nullable=True),
    # The client's address, or "cli" for the command line.
    Column("client", String(64), nullable=True),
    Column("details", JSON, nullable=True),
)
Index("ix_audit_events_at", audit_events.c.at)
Index("ix_audit_events_action", audit_events.c.action, audit_events.c.id)
Index("ix_audit_events_actor", audit_events.c.actor, audit_events.c.id)

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
