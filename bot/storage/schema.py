"""The tables. One schema for SQLite and PostgreSQL: only portable column types."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def conversation_ref() -> Column[str]:
    """The column that ties a row to its conversation; rows go when the conversation goes."""
    return Column(
        "conversation_id",
        String(36),
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    )


conversations = Table(
    "conversations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("sender_id", String(255), nullable=False),
    # bot: the bot answers; handoff: a person owns it; resolved: closed by staff.
    Column("status", String(16), nullable=False, default="bot"),
    Column("slots", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("channel", "sender_id", name="uq_conversation_sender"),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    conversation_ref(),
    # user | bot | agent | system
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False, default=""),
    # The client's id for a user message: a retried webhook with the same id stores once.
    Column("message_id", String(128), nullable=True),
    # The user turn a bot reply answers, so a retry can return the same replies.
    Column("reply_to", Integer, ForeignKey("turns.id", ondelete="CASCADE"), nullable=True),
    Column("intent", String(128), nullable=True),
    Column("confidence", Float, nullable=True),
    Column("sentiment", String(16), nullable=True),
    Column("sentiment_score", Float, nullable=True),
    Column("route", String(32), nullable=True),
    Column("answer_source", String(255), nullable=True),
    Column("retrieval_score", Float, nullable=True),
    Column("entities", JSON, nullable=True),
    # buttons, image, custom: what the channel renders besides the text.
    Column("payload", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("conversation_id", "message_id", name="uq_turn_message_id"),
)
Index("ix_turns_conversation", turns.c.conversation_id, turns.c.id)
Index("ix_turns_reply_to", turns.c.reply_to)

# The conversation as Rasa records it: every event (user, action, slot, active_loop, ...) in
# order, written with the turn that produced it. Slots and forms are derived from these.
tracker_events = Table(
    "tracker_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    conversation_ref(),
    Column("turn_id", Integer, ForeignKey("turns.id", ondelete="CASCADE"), nullable=True),
    Column("event", JSON, nullable=False),
)
Index("ix_tracker_events_conversation", tracker_events.c.conversation_id, tracker_events.c.id)

escalations = Table(
    "escalations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    conversation_ref(),
    # asked_for_human | low_confidence | negative_sentiment | action_failed
    Column("reason", String(32), nullable=False),
    # open | claimed | resolved | handed_back
    Column("status", String(16), nullable=False, default="open"),
    Column("assignee", String(128), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
)
Index("ix_escalations_status", escalations.c.status, escalations.c.created_at)

# What staff decided about a message in the review queue (the turns the bot misunderstood):
# an intent (also written to corrections, which retraining reads), out of scope, an answer
# linked from the index, or nothing wrong. One decision per turn; a new one replaces it.
review_labels = Table(
    "review_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", Integer, ForeignKey("turns.id", ondelete="CASCADE"), nullable=False),
    # intent | out_of_scope | answer | dismissed
    Column("kind", String(16), nullable=False),
    Column("intent", String(128), nullable=True),
    Column("qa_id", String(64), nullable=True),
    Column("author", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("turn_id", name="uq_review_label_turn"),
)
