"""Rules (``rules.yml``): short conversation pieces that must always go the same way.

As Rasa's rule policy: a rule names only what matters (an intent, some slots, the active
form), and applies when those few features match the most recent states, aligned from the
end. A rule that starts with an action uses it as context only; ``conversation_start`` rules
apply only from the first customer message; a rule ends by listening unless
``wait_for_user_input: false``. When several rules apply, the one that matched more states
wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.chat.policies.states import State, StateReader, featurize_slot
from bot.chat.tracker import ACTION_LISTEN
from retrieval.base.stories import (
    ANY_VALUE,
    ActionStep,
    LoopStep,
    SlotStep,
    Story,
    UserStep,
    expand,
)

_UNSET = object()


@dataclass(frozen=True, slots=True)
class RuleState:
    """The features a rule asks for in one state; anything else may be anything."""

    prev_action: str | None = None
    intent: str | None = None
    entities: frozenset[str] = frozenset()
    # A loop name, None for "no form may be active", or _UNSET for "any".
    active_loop: Any = _UNSET
    slots: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, state: State, reader: StateReader) -> bool:
        if self.prev_action is not None and state.prev_action != self.prev_action:
            return False
        if self.intent is not None and state.intent != self.intent:
            return False
        if self.entities and self.entities != state.entities:
            return False  # a rule that names entities wants exactly those
        if self.active_loop is not _UNSET and state.active_loop != self.active_loop:
            return False
        for name, wanted in self.slots.items():
            spec = reader.domain.slots.get(name)
            have = featurize_slot(spec, state.slots.get(name))
            if wanted is ANY_VALUE:
                if have is None:
                    return False
            elif featurize_slot(spec, wanted) != have:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Rule:
    story: Story
    states: tuple[RuleState, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RuleConflict:
    first: Story
    second: Story
    first_action: str
    second_action: str

    def message(self) -> str:
        return (
            f"{self.first.where} rule {self.first.name!r} predicts {self.first_action!r} "
            f"where {self.second.where} rule {self.second.name!r} predicts "
            f"{self.second_action!r} in the same situation; give one of them a condition "
            "or a different intent"
        )


def compile_rule(story: Story, steps: Sequence[Any]) -> Rule:
    states: list[RuleState] = []
    actions: list[str] = []
    slots: dict[str, Any] = {}
    loop: Any = _UNSET
    for condition in story.condition:
        if isinstance(condition, SlotStep):
            slots.update(dict(condition.slots))
        elif isinstance(condition, LoopStep):
            loop = condition.name
    prev: str | None = ACTION_LISTEN if story.conversation_start else None
    intent: str | None = None
    entities: frozenset[str] = frozenset()
    started = False
    for step in steps:
        if isinstance(step, UserStep):
            if started and prev != ACTION_LISTEN:
                states.append(RuleState(prev, None, frozenset(), loop, dict(slots)))
                actions.append(ACTION_LISTEN)
            intent = step.intent
            entities = frozenset(
                f"{e.entity}#{e.role}" if e.role else e.entity for e in step.entities
            )
            prev = ACTION_LISTEN
            started = True
        elif isinstance(step, ActionStep):
            if not started and prev is None and intent is None:
                # A rule snippet that opens with an action: context, not a prediction.
                prev = step.name
                started = True
                continue
            states.append(RuleState(prev, intent, entities, loop, dict(slots)))
            actions.append(step.name)
            prev, intent, entities = step.name, None, frozenset()
            started = True
        elif isinstance(step, SlotStep):
            slots.update(dict(step.slots))
        elif isinstance(step, LoopStep):
            loop = step.name
    if story.wait_for_user_input and prev not in (ACTION_LISTEN, None):
        states.append(RuleState(prev, None, frozenset(), loop, dict(slots)))
        actions.append(ACTION_LISTEN)
    return Rule(story, tuple(states), tuple(actions))


@dataclass(frozen=True, slots=True)
class RulePrediction:
    action: str
    rule: str
    # The rule says nothing about forms: listening after it must not leave a form waiting.
    general: bool


class RulePolicy:
    def __init__(self, rules: Sequence[Story], reader: StateReader) -> None:
        self.reader = reader
        self.rules = [compile_rule(story, steps) for story, steps in expand(rules)]

    def predict(
        self, states: Sequence[State], *, user_turns: int, exclude: frozenset[str] = frozenset()
    ) -> RulePrediction | None:
        """The next action and the rule that says so, or None."""
        best: tuple[int, str, Rule, int] | None = None
        for rule in self.rules:
            for j, action in enumerate(rule.actions):
                if action in exclude:
                    continue
                length = self._matched(rule, j, states, user_turns)
                if length and (best is None or length > best[0]):
                    best = (length, action, rule, j)
        if best is None:
            return None
        _, action, rule, j = best
        general = rule.states[j].active_loop is _UNSET
        return RulePrediction(action, rule.story.name, general)

    def _matched(self, rule: Rule, j: int, states: Sequence[State], user_turns: int) -> int:
        if j + 1 > len(states):
            return 0
        for k in range(j + 1):
            if not rule.states[j - k].matches(states[-1 - k], self.reader):
                return 0
        if rule.story.conversation_start:
            # Only from the very first customer message of the session.
            first_user = next((i for i, s in enumerate(rule.states) if s.intent is not None), None)
            if first_user is None or user_turns != 1:
                return 0
            if len(states) - (j + 1) + first_user != 0:
                return 0
        # Prefer the rule that checked more: states, plus the features in them; a
        # conversation_start rule also checked that nothing came before (Rasa's longer key).
        weight = sum(
            1 + bool(s.intent) + len(s.slots) + (s.active_loop is not _UNSET)
            for s in rule.states[: j + 1]
        )
        return weight + (1 if rule.story.conversation_start else 0)

    def conflicts(self) -> list[RuleConflict]:
        """Rules that predict different actions from identical features (a static check,
        like ``rasa data validate``)."""
        seen: dict[tuple[Any, ...], tuple[Rule, str]] = {}
        found: list[RuleConflict] = []
        for rule in self.rules:
            for j, action in enumerate(rule.actions):
                key = (
                    rule.story.conversation_start,
                    tuple(
                        (
                            s.prev_action,
                            s.intent,
                            s.entities,
                            repr(s.active_loop),
                            tuple(sorted((k, repr(v)) for k, v in s.slots.items())),
                        )
                        for s in rule.states[: j + 1]
                    ),
                )
                other = seen.get(key)
                if other is None:
                    seen[key] = (rule, action)
                elif other[1] != action and other[0].story is not rule.story:
                    found.append(RuleConflict(other[0].story, rule.story, other[1], action))
        return found
