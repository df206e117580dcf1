"""Memoized stories: the next action is the one a story took from the same recent states.

As Rasa's (augmented) memoization policy: the last ``max_history`` states are the key; when
the whole window is unknown, shorter windows are tried, most recent first, and a window that
two stories continue differently is forgotten (it cannot decide) and reported.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.chat.policies.states import State, StateReader
from bot.chat.tracker import ACTION_LISTEN, Event
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
        # Actions some story takes: a rule's answer that no story knows is hidden from the
        # story lookup (Rasa's hidden rule turns), so a story survives an FAQ in between.
        self.story_actions: set[str] = set()
        # One table per (window length, entities kept); None marks an ambiguous key.
        self._tables: dict[tuple[int, bool], dict[Key, tuple[str, Story] | None]] = {}
        for story, steps in expand(stories):
            pairs = reader.from_steps(steps)
            self.story_actions.update(action for _, action in pairs)
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
        if length < self.max_history and i + 1 != length:
            # A shorter window is learned only from a story's start, as Rasa's augmented
            # memoization matches a trimmed conversation against story beginnings: a turn
            # from the middle of a story must not answer the same words anywhere.
            return
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

    def predict_for(
        self,
        events: Sequence[Event],
        initial_slots: Mapping[str, Any],
        states: Sequence[State] | None = None,
    ) -> tuple[str, str] | None:
        """Look the conversation up without the turns only rules answered, then with them;
        ``states`` are the events' states when the caller has read them already."""
        hidden = hide_rule_turns(events, self.story_actions)
        if len(hidden) != len(events):
            found = self.predict(self.reader.from_events(hidden, initial_slots))
            if found is not None:
                return found
        return self.predict(states or self.reader.from_events(events, initial_slots))

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


def hide_rule_turns(events: Sequence[Event], story_actions: set[str]) -> list[Event]:
    """The events without the customer turns that only rules answered, with actions no
    story takes (the turn's message, its actions and what they said)."""
    turns: list[list[Event]] = [[]]
    for event in events:
        if event.get("event") == "user":
            turns.append([])
        turns[-1].append(event)
    kept: list[Event] = list(turns[0])
    for turn in turns[1:]:
        actions = [e for e in turn if e.get("event") == "action" and e.get("name") != ACTION_LISTEN]
        rule_only = bool(actions) and all(
            e.get("policy") == "rule" and e.get("name") not in story_actions for e in actions
        )
        if rule_only:
            kept.extend(e for e in turn if e.get("event") in ("slot", "active_loop"))
        else:
            kept.extend(turn)
    return kept
