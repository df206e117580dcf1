"""Tables for ops monitoring: one sentiment event per customer turn, and the alerts.

Defined on the conversation store's ``metadata`` so ``Store.open`` creates them with the rest.
Events carry their time as whole epoch seconds (``ts``) so bucketing by time is integer
arithmetic that SQLite and PostgreSQL do the same way. They are pruned after the configured
retention; the turns they come from are not (those belong to the conversations).

An event is written in the transaction that stores the bot's reply to its turn (see
``Store.record_reply``), so a crash loses both or neither; a unique index on ``turn_id`` keeps it
to one event per turn whoever writes it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    inspect,
    select,
)

from bot.storage.schema import metadata

sentiment_events = Table(
    "sentiment_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # No foreign keys: retention of events and of conversations are separate decisions.
    Column("turn_id", Integer, nullable=False),
    Column("conversation_id", String(36), nullable=False),
    Column("channel", String(32), nullable=False, default=""),
    Column("intent", String(128), nullable=True),
    Column("topic", String(128), nullable=False),
    Column("sentiment", String(16), nullable=False),
    Column("score", Float, nullable=True),
    Column("negative", Boolean, nullable=False),
    Column("ts", BigInteger, nullable=False),
)
Index("ix_sentiment_events_ts", sentiment_events.c.ts)
Index("ix_sentiment_events_topic_ts", sentiment_events.c.topic, sentiment_events.c.ts)
ONE_EVENT_PER_TURN = Index("uq_sentiment_events_turn", sentiment_events.c.turn_id, unique=True)

ops_alerts = Table(
    "ops_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # negative_share | surge
    Column("rule", String(32), nullable=False),
    # a topic, or "*" for all topics together
    Column("scope", String(128), nullable=False),
    # open | acknowledged | resolved
    Column("state", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("share", Float, nullable=False),
    Column("peak_share", Float, nullable=False),
    Column("baseline", Float, nullable=True),
    Column("volume", Integer, nullable=False),
    Column("details", JSON, nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolved_by", String(64), nullable=True),
)
Index("ix_ops_alerts_state", ops_alerts.c.state, ops_alerts.c.rule, ops_alerts.c.scope)


def upgrade(conn: Connection) -> None:
    """Give a database made before the unique index on ``turn_id`` its index.

    ``metadata.create_all`` creates missing tables with their indexes but leaves an existing
    table as it is. Should an older database hold two events for one turn (two processes
    answering the same message at once could do that), the later copies go: the index could
    not be made otherwise.
    """
    present = {index["name"] for index in inspect(conn).get_indexes(sentiment_events.name)}
    if ONE_EVENT_PER_TURN.name in present:
        return
    first = select(func.min(sentiment_events.c.id)).group_by(sentiment_events.c.turn_id)
    conn.execute(delete(sentiment_events).where(sentiment_events.c.id.not_in(first)))
    ONE_EVENT_PER_TURN.create(conn)
