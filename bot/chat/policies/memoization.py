"""Memoized stories: the next action is the one a story took from the same recent states.

As Rasa's (augmented) memoization policy: the last ``max_history`` states are the key; when
the whole window is unknown, shorter windows are tried, most recent first, and a window that
two stories continue differently is forgotten (it cannot decide) and reported.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from bot.chat.policies.states import State, StateReader
from retrieval.base.stories import Story, expand

MAX_HISTORY = 5

Key = tuple[Hashable, ...]


@dataclass(frozen=True, slots=True)
class Contradiction:
    """Two stories that continue the same states with different actions."""

    first: Story
    first_action: str
    second: Story
    second_action: str

    def message(self) -> str:
        return (
            f"{self.first.where} story {self.first.name!r} continues with "
            f"{self.first_action!r} where {self.second.where} story {self.second.name!r} "
            f"continues with {self.second_action!r} after the same turns; make the turns "
            "before them differ (an intent, an entity or a slot_was_set) or make them agree"
        )


def _freeze(state: State | None, reader: StateReader, with_entities: bool) -> Hashable:
    if state is None:
        return None
    slots = tuple(sorted(reader.influencing(state.slots).items(), key=lambda kv: kv[0]))
    entities = tuple(sorted(state.entities)) if with_entities else ()
    return (state.prev_action, state.intent, entities, state.active_loop, slots)


class MemoizationPolicy:
    def __init__(
        self, stories: Sequence[Story], reader: StateReader, max_history: int = MAX_HISTORY
    ) -> None:
        self.reader = reader
        self.max_history = max_history
        self.contradictions: list[Contradiction] = []
        # One table per (window length, entities kept); None marks an ambiguous key.
        self._tables: dict[tuple[int, bool], dict[Key, tuple[str, Story] | None]] = {}
        for story, steps in expand(stories):
            pairs = reader.from_steps(steps)
            states = [s for s, _ in pairs]
            for i, (_, action) in enumerate(pairs):
                for length in range(1, max_history + 1):
                    for entities in (True, False):
                        self._learn(states, i, length, entities, action, story)

    def _learn(
        self,
        states: Sequence[State],
        i: int,
        length: int,
        entities: bool,
        action: str,
        story: Story,
    ) -> None:
        key = self._key(states[: i + 1], length, entities, padded=length == self.max_history)
        if key is None:
            return
        table = self._tables.setdefault((length, entities), {})
        known = table.get(key, ...)
        if known is ...:
            table[key] = (action, story)
        elif known is not None and known[0] != action:
            table[key] = None
            if length == self.max_history and entities:
                self.contradictions.append(Contradiction(known[1], known[0], story, action))

    def _key(
        self, states: Sequence[State], length: int, entities: bool, *, padded: bool
    ) -> Key | None:
        window: list[State | None] = list(states[-length:])
        if len(window) < length:
            if not padded:
                return None
            window = [*([None] * (length - len(window))), *window]
        return tuple(_freeze(s, self.reader, entities) for s in window)

    def predict(self, states: Sequence[State]) -> tuple[str, str] | None:
        """The memoized next action and the story it comes from, or None."""
        for length in range(self.max_history, 0, -1):
            for entities in (True, False):
                key = self._key(states, length, entities, padded=length == self.max_history)
                if key is None:
                    continue
                found = self._tables.get((length, entities), {}).get(key)
                if found is not None:
                    return found[0], found[1].name
        return None
