"""Durable conversation state: conversations, turns and escalations, through SQLAlchemy.

The stores for the people's side (``accounts``, ``escalations``, ``feedback``) and for the ops
monitor (``ops_store``) work on the same engine and are imported from their own modules.
"""

from bot.storage.records import Conversation, Escalation, Turn, Understanding
from bot.storage.store import Store, StoreError

__all__ = ["Conversation", "Escalation", "Store", "StoreError", "Turn", "Understanding"]
