"""When a person should take over: one policy for every hand-off the bot decides itself.

The bot hands over when the customer asks for a person (unless the project answers that
itself), when it misunderstood several messages in a row, when a customer stays strongly
negative, when an action asks for it (``ConversationPaused``) or fails before saying
anything, and when it cannot understand at all (the models failed and no answer matched).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.nlu import ParseResult
from bot.chat.tracker import Tracker

FALLBACK_ACTIONS = frozenset({"action_default_fallback", "action_two_stage_fallback"})


@dataclass(frozen=True, slots=True)
class HandoffPolicy:
    # A customer this many turns in a row negative at this confidence gets a person; 0: never.
    negative_turns: int = 0
    negative_score: float = 1.0
    # Misunderstood messages in a row, this one included, before a person; 0: never.
    fallbacks_before_handoff: int = 2

    def before_answer(self, parse: ParseResult | None, tracker: Tracker) -> str | None:
        """A reason to hand over before the dialogue runs, or None."""
        if self._stays_negative(parse, tracker):
            return "negative_sentiment"
        return None

    def after_fallback(self, misunderstood_before: int) -> bool:
        """Whether this misunderstanding is one too many."""
        limit = self.fallbacks_before_handoff
        return bool(limit) and misunderstood_before + 1 >= limit

    @staticmethod
    def misunderstood_in_a_row(tracker: Tracker) -> int:
        """Customer messages before this one that the bot fell back on, in a row, read from
        the tracker (a fallback reverts its message, but its events stay recorded)."""
        streak = 0
        fell_back = False
        for event in reversed(tracker.events):
            kind = event.get("event")
            if kind == "action" and event.get("name") in FALLBACK_ACTIONS:
                fell_back = True
            elif kind == "user":
                if streak == 0 and not fell_back and event is tracker.events[-1]:
                    continue  # the message being answered now
                if not fell_back:
                    break
                streak += 1
                fell_back = False
        return streak

    def _stays_negative(self, parse: ParseResult | None, tracker: Tracker) -> bool:
        turns, score = self.negative_turns, self.negative_score
        sentiment = parse.sentiment if parse else None
        if not turns or sentiment is None:
            return False
        if sentiment.label != "negative" or sentiment.confidence < score:
            return False
        if turns == 1:
            return True
        earlier: list[tuple[str, float]] = []
        for event in tracker.events:
            if event.get("event") == "user":
                read = (event.get("parse_data") or {}).get("sentiment")
                if isinstance(read, dict) and "label" in read:
                    earlier.append((str(read["label"]), float(read.get("score") or 0.0)))
        earlier = earlier[-(turns - 1) :]
        return len(earlier) == turns - 1 and all(
            label == "negative" and value >= score for label, value in earlier
        )
