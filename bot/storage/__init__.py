"""Durable conversation state: conversations, turns and escalations, through SQLAlchemy."""

from bot.storage.records import Conversation, Escalation, Turn, Understanding
from bot.storage.store import Store, StoreError

__all__ = ["Conversation", "Escalation", "Store", "StoreError", "Turn", "Understanding"]
