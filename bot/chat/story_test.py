"""``frontdesk test stories``: hold test stories against the dialogue, as ``rasa test`` does.

Each story is replayed turn by turn with the story's own events as the truth (teacher forcing):
the dialogue predicts every action the story lists, the prediction is compared, and the
story's action is recorded whatever was predicted, so one mistake does not derail the rest.
No action runs; slots and forms change only where the story says so. Customer turns with text
are read by the intent model and compared with the story's intent (and entities), like
``rasa test`` with end-to-end checks. A form the story does not expect is rejected and the
next action predicted again, as Rasa emulates it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.chat.engine import DialogueEngine
from bot.chat.execution import Outcome
from bot.chat.nlu import ParseResult
from bot.chat.tracker import (
    ACTION_LISTEN,
    Tracker,
    action_executed,
    active_loop,
    simple,
    slot_set,
    user_uttered,
)
from retrieval.base.stories import (
    ANY_VALUE,
    ActionStep,
    LoopStep,
    PlainStep,
    SlotStep,
    Story,
    UserStep,
    expand,
)
from retrieval.models.classifier import Prediction

MAX_ACTIONS_PER_TURN = 10

Parse = Callable[[str], Awaitable[ParseResult]]


@dataclass(frozen=True, slots=True)
class Check:
    """One compared step: an action, or a customer turn's intent."""

    kind: str  # "action" or "intent"
    expected: str
    predicted: str
    line: int
    text: str | None = None

    @property
    def ok(self) -> bool:
        return self.expected == self.predicted


@dataclass
class StoryResult:
    story: Story
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def first_divergence(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)


def _parse_of(step: UserStep, text: str | None) -> ParseResult:
    intent = step.intent or "nlu_fallback"
    entities = [
        {
            k: v
            for k, v in (
                ("entity", e.entity),
                ("value", e.value),
                ("role", e.role),
                ("group", e.group),
            )
            if v is not None
        }
        for e in step.entities
    ]
    return ParseResult(
        text or "", Prediction(intent, 1.0, intent, ((intent, 1.0),)), None, entities
    )


async def replay(
    engine: DialogueEngine, story: Story, steps: Sequence[PlainStep], parse: Parse | None
) -> StoryResult:
    result = StoryResult(story)
    tracker = Tracker(
        "test", [action_executed(ACTION_LISTEN)], initial_slots=engine.domain.initial_slots()
    )
    outcome = Outcome()
    current: ParseResult = _parse_of(UserStep(None), None)
    for condition in story.condition:  # a rule held as a story starts where it applies
        _apply(tracker, condition)
    for step in steps:
        if isinstance(step, UserStep):
            if tracker.state.latest_action_name != ACTION_LISTEN:
                await _predict(engine, tracker, current, outcome, ACTION_LISTEN, step.line, result)
            text = step.text
            if parse is not None and text and step.intent:
                read = await parse(text)
                result.checks.append(
                    Check("intent", step.intent, read.intent.label, step.line, text)
                )
            elif step.intent:
                # Not compared, but kept so the failed-stories file reads as the story did.
                result.checks.append(Check("user", step.intent, step.intent, step.line, text))
            current = _parse_of(step, text)
            if not step.intent and parse is not None and text:
                current = await parse(text)
            event = user_uttered(text or "", current.to_rasa(), message_id=None, channel="test")
            tracker.add(event)
            outcome = Outcome()
        elif isinstance(step, ActionStep):
            await _predict(engine, tracker, current, outcome, step.name, step.line, result)
        elif isinstance(step, SlotStep | LoopStep):
            _apply(tracker, step)
    if tracker.state.latest_action_name != ACTION_LISTEN:
        await _predict(engine, tracker, current, outcome, ACTION_LISTEN, story.line, result)
    return result


def _apply(tracker: Tracker, step: SlotStep | LoopStep) -> None:
    if isinstance(step, LoopStep):
        tracker.add(active_loop(step.name))
        return
    for name, value in step.slots:
        tracker.add(slot_set(name, "filled" if value is ANY_VALUE else value))


async def _predict(
    engine: DialogueEngine,
    tracker: Tracker,
    parse: ParseResult,
    outcome: Outcome,
    expected: str,
    line: int,
    result: StoryResult,
) -> None:
    if len(outcome.actions) >= MAX_ACTIONS_PER_TURN:
        predicted = "circuit breaker tripped"
    else:
        decision = await engine.decide(tracker, parse, outcome, 0)
        predicted = decision.action
        loop = tracker.active_loop_name
        if predicted != expected and loop and predicted == loop:
            tracker.add(simple("action_execution_rejected", name_of=loop))
            predicted = (await engine.decide(tracker, parse, outcome, 0)).action
    result.checks.append(Check("action", expected, predicted, line))
    tracker.add(action_executed(expected, "test"))
    outcome.actions.append(expected)


@dataclass
class Report:
    results: list[StoryResult]

    def summary(self) -> dict[str, Any]:
        passed = sum(r.passed for r in self.results)
        actions = [c for r in self.results for c in r.checks if c.kind == "action"]
        intents = [c for r in self.results for c in r.checks if c.kind == "intent"]
        return {
            "stories": len(self.results),
            "passed": passed,
            "failed": len(self.results) - passed,
            "accuracy": round(passed / len(self.results), 4) if self.results else 0.0,
            "actions": len(actions),
            "actions_correct": sum(c.ok for c in actions),
            "intents": len(intents),
            "intents_correct": sum(c.ok for c in intents),
            "per_action": per_action(actions),
        }

    def failed_stories_yaml(self) -> str:
        """The failed stories with ``# predicted:`` on each wrong step, as Rasa writes
        ``failed_test_stories.yml``."""
        lines = ['version: "3.1"', "stories:"]
        failed = [r for r in self.results if not r.passed]
        if not failed:
            return "# None of the test stories failed - all good!\n"
        for result in failed:
            lines.append(f"- story: {result.story.name} ({result.story.path})")
            lines.append("  steps:")
            for check in result.checks:
                note = "" if check.ok else f"  # predicted: {check.predicted}"
                if check.kind in ("intent", "user"):
                    lines.append(f"  - intent: {check.expected}{note}")
                    if check.text:
                        lines.append(f"    user: {check.text!r}")
                elif check.expected != ACTION_LISTEN or not check.ok:
                    lines.append(f"  - action: {check.expected}{note}")
        return "\n".join(lines) + "\n"


def per_action(checks: Sequence[Check]) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 per action, over every compared action step."""
    expected = Counter(c.expected for c in checks)
    predicted = Counter(c.predicted for c in checks)
    correct = Counter(c.expected for c in checks if c.ok)
    scores: dict[str, dict[str, float]] = {}
    for name in sorted(expected):
        p = correct[name] / predicted[name] if predicted[name] else 0.0
        r = correct[name] / expected[name]
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        scores[name] = {
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f1, 4),
            "support": expected[name],
        }
    return scores


async def hold_stories(
    engine: DialogueEngine, stories: Sequence[Story], parse: Parse | None
) -> Report:
    results = [await replay(engine, story, steps, parse) for story, steps in expand(stories)]
    return Report(results)
