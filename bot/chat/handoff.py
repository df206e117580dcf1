"""When a person should take over: one policy for every hand-off the bot decides itself.

The bot hands over when the customer asks for a person (unless the project answers that
itself), when it misunderstood several messages in a row, when a customer stays strongly
negative, when an action asks for it (``ConversationPaused``) or fails before saying
anything, and when it cannot understand at all (the models failed and no answer matched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.chat.nlu import ParseResult
from bot.storage import Turn

MISUNDERSTOOD_ROUTES = frozenset({"fallback"})


@dataclass(frozen=True, slots=True)
class HandoffPolicy:
    # A customer this many turns in a row negative at this confidence gets a person; 0: never.
    negative_turns: int = 0
    negative_score: float = 1.0
    # Misunderstood messages in a row, this one included, before a person; 0: never.
    fallbacks_before_handoff: int = 2

    def before_answer(self, parse: ParseResult | None, history: Sequence[Turn]) -> str | None:
        """A reason to hand over before the dialogue runs, or None."""
        if self._stays_negative(parse, history):
            return "negative_sentiment"
        return None

    def after_fallback(self, misunderstood_before: int) -> bool:
        """Whether this misunderstanding is one too many."""
        limit = self.fallbacks_before_handoff
        return bool(limit) and misunderstood_before + 1 >= limit

    @staticmethod
    def misunderstood_in_a_row(history: Sequence[Turn]) -> int:
        streak = 0
        for turn in reversed(history):
            if turn.role != "bot" or not turn.route:
                continue
            if turn.route not in MISUNDERSTOOD_ROUTES:
                break
            streak += 1
        return streak

    def _stays_negative(self, parse: ParseResult | None, history: Sequence[Turn]) -> bool:
        turns, score = self.negative_turns, self.negative_score
        sentiment = parse.sentiment if parse else None
        if not turns or sentiment is None:
            return False
        if sentiment.label != "negative" or sentiment.confidence < score:
            return False
        if turns == 1:
            return True
        # The current turn is stored but not yet annotated: look at the ones before it.
        earlier = [t for t in history if t.role == "user" and t.sentiment is not None]
        earlier = earlier[-(turns - 1) :]
        return len(earlier) == turns - 1 and all(
            t.sentiment == "negative" and (t.sentiment_score or 0) >= score for t in earlier
        )
