"""The dialogue engine: after each customer message, choose and run actions until the bot
listens again.

The next action is chosen in this order (Rasa's order, with Frontdesk's single-turn routes
for a domain without stories):

1. a follow-up action an action asked for;
2. the active form, right after the customer spoke (unless it just rejected the message);
3. rules (``rules.yml``), then memoized stories (``stories.yml``);
4. the active form again, after an interruption was answered;
5. right after the customer spoke: the intent's custom action (asking for its required
   slots first), the intent's response, the nearest historical answer, then the fallback
   and, after repeated misunderstandings, a person;
6. otherwise: listen.

Every action's events go onto the tracker as Rasa would record them, so custom actions see a
real tracker and ``frontdesk test stories`` can compare actions one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.chat.actions import ActionRunner
from bot.chat.builtin_actions import (
    BUILTIN_ACTIONS,
    DEFAULT_INTENT_ACTIONS,
    session_start_events,
)
from bot.chat.execution import (
    ActionExecution,
    Outcome,
)
from bot.chat.forms import FormRunner, extract_slots
from bot.chat.handoff import HandoffPolicy
from bot.chat.nlu import ParseResult
from bot.chat.policies.memoization import MemoizationPolicy
from bot.chat.policies.rules import RulePolicy
from bot.chat.policies.states import StateReader
from bot.chat.responses import Responder, message_of
from bot.chat.tracker import (
    ACTION_LISTEN,
    ACTION_SESSION_START,
    REQUESTED_SLOT,
    Event,
    Tracker,
    action_executed,
    followup,
    simple,
    slot_set,
)
from retrieval.base.domain import Domain, FormSpec
from retrieval.base.labels import FALLBACK_INTENT
from retrieval.index import Hit

log = logging.getLogger(__name__)

HANDOFF_INTENT = "human_handoff"
MAX_ACTIONS = 10


class Retriever(Protocol):
    async def search(self, text: str, k: int = 5) -> list[Hit]: ...


@dataclass(frozen=True, slots=True)
class EngineSettings:
    retrieval_threshold: float = 0.55
    # A near-verbatim match of a historical question beats a lukewarm intent.
    retrieval_strong_threshold: float = 0.85
    intent_confident: float = 0.8


@dataclass(frozen=True, slots=True)
class Decision:
    action: str
    policy: str  # "followup", "form", "rule", "story", "intent", "retrieval", ...
    source: str | None = None
    hit: Hit | None = None  # the answer found while deciding, so it is not searched twice


class DialogueEngine:
    def __init__(
        self,
        domain: Domain,
        responder: Responder,
        *,
        rules: RulePolicy,
        stories: MemoizationPolicy,
        retriever: Retriever | None = None,
        actions: ActionRunner | None = None,
        settings: EngineSettings | None = None,
        handoff: HandoffPolicy | None = None,
    ) -> None:
        self.domain = domain
        self.responder = responder
        self.rules = rules
        self.stories = stories
        self.retriever = retriever
        self.actions = actions
        self.settings = settings or EngineSettings()
        self.handoff = handoff or HandoffPolicy()
        self.reader = StateReader(domain)
        self.act = ActionExecution(domain, responder, actions)
        self.forms = FormRunner(domain)
        # Frontdesk's short form: an intent mapped to an action with required slots asks for
        # them like a form named after the action.
        self.implicit_forms: dict[str, tuple[str, FormSpec]] = {
            f"{action}_slots": (action, FormSpec(f"{action}_slots", slots))
            for action, slots in domain.required_slots.items()
        }

    # Sessions ----------------------------------------------------------------------------

    def needs_session_start(self, tracker: Tracker, now: float) -> bool:
        if not tracker.applied_events():
            return True
        minutes = self.domain.session.expiration_minutes
        last = tracker.state.latest_event_time
        return bool(minutes) and last is not None and now - last > minutes * 60

    async def start_session(
        self, tracker: Tracker, outcome: Outcome, metadata: Mapping[str, Any]
    ) -> None:
        """``action_session_start``: the project's own, when it has one, else Rasa's."""
        carried = dict(tracker.slots) if self.domain.session.carry_over_slots else {}
        if self.actions is not None and self.actions.known(ACTION_SESSION_START):
            await self.act.custom(ACTION_SESSION_START, tracker, outcome, metadata)
            if not any(e.get("event") == "session_started" for e in outcome.events):
                self.act.add(tracker, outcome, simple("session_started"))
        else:
            for event in session_start_events(carried):
                self.act.add(tracker, outcome, event)
            self.act.add(tracker, outcome, action_executed(ACTION_SESSION_START))
        self.act.add(tracker, outcome, action_executed(ACTION_LISTEN))

    # One customer message ----------------------------------------------------------------

    async def handle(
        self,
        tracker: Tracker,
        user_event: Event,
        parse: ParseResult | None,
        *,
        metadata: Mapping[str, Any] | None = None,
        recent_misunderstandings: int = 0,
    ) -> Outcome:
        """Apply the customer's message (already understood) and run actions until the bot
        listens. ``tracker`` is changed in place; the outcome lists what was added."""
        outcome = Outcome()
        metadata = dict(metadata or {})
        if self.needs_session_start(tracker, float(user_event.get("timestamp") or 0)):
            await self.start_session(tracker, outcome, metadata)
        self.act.add(tracker, outcome, user_event)
        if parse is None:
            await self._without_models(tracker, outcome, user_event)
            return outcome
        for name, value in extract_slots(self.domain, tracker).items():
            if tracker.slots.get(name) != value:
                self.act.add(tracker, outcome, slot_set(name, value))
        for _ in range(MAX_ACTIONS):
            decision = await self.decide(tracker, parse, outcome, recent_misunderstandings)
            if decision.action == ACTION_LISTEN:
                self.act.add(tracker, outcome, action_executed(ACTION_LISTEN, decision.policy))
                break
            await self.run(decision, tracker, outcome, parse, metadata)
            if outcome.escalation_reason or tracker.state.paused:
                # A person takes over; the bot listens, should it be handed the chat back.
                self.act.add(tracker, outcome, action_executed(ACTION_LISTEN))
                break
            last = outcome.events[-1] if outcome.events else {}
            if last.get("name") == ACTION_LISTEN or last.get("event") == "restart":
                break
        else:
            log.warning("stopped after %d actions without listening", MAX_ACTIONS)
            self.act.add(tracker, outcome, action_executed(ACTION_LISTEN))
        return outcome

    def escalate(self, tracker: Tracker, outcome: Outcome, user_event: Event, reason: str) -> None:
        """Hand the conversation to a person before the dialogue runs (the hand-off policy
        decided it from the message itself)."""
        self.act.add(tracker, outcome, user_event)
        self.act.handoff(tracker, outcome, reason)
        self.act.add(tracker, outcome, action_executed(ACTION_LISTEN))

    async def _without_models(self, tracker: Tracker, outcome: Outcome, user_event: Event) -> None:
        # Without the classifier, the index may still know the answer; else a person.
        text = str(user_event.get("text") or "")
        if await self._retrieve(text, tracker, outcome):
            self.act.add(tracker, outcome, action_executed(ACTION_LISTEN))
            return
        self.act.handoff(tracker, outcome, "bot_error")
        self.act.add(tracker, outcome, action_executed(ACTION_LISTEN))

    # Choosing ----------------------------------------------------------------------------

    async def decide(
        self, tracker: Tracker, parse: ParseResult, outcome: Outcome, misunderstood: int
    ) -> Decision:
        state = tracker.state
        if state.followup_action:
            return Decision(state.followup_action, "followup")
        prev = state.latest_action_name
        # Nothing ran since the customer spoke (whatever ran before their message).
        just_heard = not any(e.get("event") == "action" for e in tracker.since_last_user())
        loop = tracker.active_loop_name
        rejected = bool(state.active_loop and state.active_loop.get("rejected"))
        if loop and just_heard and not rejected:
            form = self._form(loop)
            if form is None or parse.intent.label not in form.ignored_intents:
                return Decision(loop, "form")
        if loop and prev == loop:
            return Decision(ACTION_LISTEN, "form")  # it asked its question
        applied = tracker.applied_events()
        states = self.reader.from_events(applied, tracker.initial_slots)
        # Right after the form rejected the message, something else must answer it.
        exclude = frozenset({loop}) if loop and rejected and just_heard else frozenset()
        ruled = self.rules.predict(states, user_turns=_session_user_turns(tracker), exclude=exclude)
        if ruled is not None:
            if loop and ruled.action == ACTION_LISTEN and ruled.general and not just_heard:
                # An interruption answered by a general rule: the form asks its question again.
                return Decision(loop, "form")
            return Decision(ruled.action, "rule", ruled.rule)
        remembered = self.stories.predict_for(applied, tracker.initial_slots, states)
        if remembered is not None and remembered[0] not in exclude:
            return Decision(remembered[0], "story", remembered[1])
        if loop and not just_heard:
            return Decision(loop, "form")  # the interruption was answered: ask again
        if just_heard and not outcome.actions:
            return await self._single_turn(tracker, parse, outcome, misunderstood)
        return Decision(ACTION_LISTEN, "default")

    async def _single_turn(
        self, tracker: Tracker, parse: ParseResult, outcome: Outcome, misunderstood: int
    ) -> Decision:
        """Frontdesk's routes for a message no rule, story or form claimed."""
        intent = parse.intent.label
        if intent in DEFAULT_INTENT_ACTIONS:
            return Decision(DEFAULT_INTENT_ACTIONS[intent], "intent", f"template:{intent}")
        if intent == HANDOFF_INTENT:
            return Decision("action_handoff", "intent")
        if intent != FALLBACK_INTENT:
            action = self.domain.intent_actions.get(intent)
            if action and self.actions is not None and self.actions.known(action):
                form_name = f"{action}_slots"
                if form_name in self.implicit_forms and self.domain.missing_slots(
                    action, tracker.slots
                ):
                    return Decision(form_name, "intent", f"action:{action}")
                return Decision(action, "intent", f"action:{action}")
            if parse.intent.confidence < self.settings.intent_confident:
                found = await self._search(parse.text, self.settings.retrieval_strong_threshold)
                if found is not None:
                    return Decision("action_answer_from_index", "retrieval", found.id, found)
            for key in (f"utter_{intent}", intent):
                if self.responder.has(key):
                    return Decision(key, "intent", f"template:{intent}")
        found = await self._search(parse.text, self.settings.retrieval_threshold)
        if found is not None:
            return Decision("action_answer_from_index", "retrieval", found.id, found)
        if self.handoff.after_fallback(misunderstood):
            return Decision("action_handoff", "fallback", "low_confidence")
        return Decision("action_default_fallback", "fallback")

    def _form(self, name: str) -> FormSpec | None:
        if name in self.implicit_forms:
            return self.implicit_forms[name][1]
        return self.forms.spec(name)

    # Running -----------------------------------------------------------------------------

    async def run(
        self,
        decision: Decision,
        tracker: Tracker,
        outcome: Outcome,
        parse: ParseResult,
        metadata: Mapping[str, Any],
    ) -> None:
        name = decision.action
        outcome.actions.append(name)
        self._route(outcome, decision)
        if self._form(name) is not None:
            await self._run_form(name, tracker, outcome, metadata)
            return
        if name == "action_answer_from_index":
            await self._retrieve(parse.text, tracker, outcome, decision.hit)
            self.act.add(tracker, outcome, action_executed(name, decision.policy))
            return
        if name == "action_handoff":
            self.act.add(tracker, outcome, action_executed(name, decision.policy))
            reason = "low_confidence" if decision.policy == "fallback" else "asked_for_human"
            self.act.handoff(tracker, outcome, reason)
            return
        if name in BUILTIN_ACTIONS and not (self.actions and self.actions.known(name)):
            events = BUILTIN_ACTIONS[name](tracker, self.responder, outcome.messages)
            self.act.add(tracker, outcome, action_executed(name, decision.policy))
            for event in events:
                if event.get("event") == "bot":
                    outcome.messages.append(message_of(event))
                self.act.add(tracker, outcome, event)
            if name == "action_default_fallback":
                outcome.route = "fallback"
                # The misunderstood message is reverted; the bot waits for a rephrasing.
                self.act.add(tracker, outcome, action_executed(ACTION_LISTEN))
            return
        if self.responder.has(name):
            self.act.utter(name, tracker, outcome, {})
            self.act.add(tracker, outcome, action_executed(name, decision.policy))
            return
        self.act.add(tracker, outcome, action_executed(name, decision.policy))
        await self.act.custom(name, tracker, outcome, metadata)

    def _route(self, outcome: Outcome, decision: Decision) -> None:
        if outcome.route not in ("none", "form", "rule", "story", "intent"):
            return
        if decision.policy in ("rule", "story"):
            outcome.route = decision.policy  # type: ignore[assignment]
            outcome.answer_source = f"{decision.policy}:{decision.source}"
        elif decision.policy == "intent":
            is_action = decision.source and decision.source.startswith("action:")
            outcome.route = "action" if is_action else "template"
            outcome.answer_source = decision.source
        elif decision.policy == "retrieval":
            outcome.route = "retrieval"
        elif decision.policy == "followup" and outcome.route in ("none", "form"):
            outcome.route = "action"
            outcome.answer_source = f"action:{decision.action}"
        elif decision.policy == "form" and outcome.route == "none":
            outcome.route = "form"
            outcome.answer_source = f"form:{decision.action}"

    async def _run_form(
        self, name: str, tracker: Tracker, outcome: Outcome, metadata: Mapping[str, Any]
    ) -> None:
        form = self._form(name)
        assert form is not None
        activating = tracker.active_loop_name != name
        heard = _heard_last(tracker)
        candidates = self.forms.candidates(form, tracker, activating=activating)
        requested = tracker.slots.get(REQUESTED_SLOT)
        if not activating and heard and requested and requested not in candidates:
            if name in self.implicit_forms:
                action = self.implicit_forms[name][0]
                intent = tracker.latest_intent
                if (
                    intent != FALLBACK_INTENT
                    and self.domain.intent_actions.get(intent or "") != action
                ):
                    # The customer moved on: drop the question, answer the message on its own.
                    outcome.actions.pop()
                    outcome.route, outcome.answer_source = "none", None
                    for event in self.forms.deactivate():
                        self.act.add(tracker, outcome, event)
                    return
            else:
                # The message does not answer the question: a rule or story takes it (Rasa
                # records only the rejection, not the form's run).
                outcome.actions.pop()
                if outcome.route == "form":
                    outcome.route, outcome.answer_source = "none", None
                self.act.add(tracker, outcome, simple("action_execution_rejected", name_of=name))
                return
        self.act.add(tracker, outcome, action_executed(name, "form"))
        if activating:
            for event in self.forms.activate(name):
                self.act.add(tracker, outcome, event)
        slot_events = [slot_set(k, v) for k, v in candidates.items()]
        validator = f"validate_{name}"
        asked: str | Literal[False] | None = False
        if self.actions is not None and self.actions.known(validator):
            returned = await self.act.custom(validator, tracker, outcome, metadata, slot_events)
            if returned is None:
                return
            for event in returned:
                if event.get("event") == "slot" and event.get("name") == REQUESTED_SLOT:
                    asked = event.get("value")
        else:
            for event in slot_events:
                if tracker.slots.get(str(event["name"])) != event["value"] or activating:
                    self.act.add(tracker, outcome, event)
        if tracker.active_loop_name != name:
            return  # the validation action ended the form itself
        next_slot = self.forms.next_slot(form, tracker.slots) if asked is False else asked
        if next_slot is None:
            for event in self.forms.deactivate():
                self.act.add(tracker, outcome, event)
            if name in self.implicit_forms:
                # The action the slots were asked for runs next, as its own step.
                self.act.add(tracker, outcome, followup(self.implicit_forms[name][0]))
            return
        if tracker.slots.get(REQUESTED_SLOT) != next_slot:
            self.act.add(tracker, outcome, slot_set(REQUESTED_SLOT, next_slot))
        await self._ask(name, str(next_slot), tracker, outcome, metadata)

    async def _ask(
        self, form: str, slot: str, tracker: Tracker, outcome: Outcome, metadata: Mapping[str, Any]
    ) -> None:
        if (
            outcome.route in ("none", "form", "rule", "story", "template", "action")
            and not outcome.messages
        ):
            outcome.route = "ask_slot"
            outcome.answer_source = f"slot:{slot}"
        # Rasa's order: the form's own ask action or response, then the slot's.
        for key in (
            f"action_ask_{form}_{slot}",
            f"utter_ask_{form}_{slot}",
            f"action_ask_{slot}",
            f"utter_ask_{slot}",
        ):
            if key.startswith("action_"):
                if self.actions is not None and self.actions.known(key):
                    await self.act.custom(key, tracker, outcome, metadata)
                    return
            elif self.responder.has(key):
                self.act.utter(key, tracker, outcome, {})
                return
        spec = self.domain.slots.get(slot)
        prompt = spec.prompt if spec else f"Could you tell me your {slot.replace('_', ' ')}?"
        self.act.say(prompt, tracker, outcome, f"utter_ask_{slot}")

    async def _search(self, text: str, threshold: float) -> Hit | None:
        if self.retriever is None or not text:
            return None
        try:
            hits = await self.retriever.search(text, k=5)
        except Exception:
            log.exception("answer index search failed; falling back")
            return None
        for hit in hits:
            if hit.score < threshold:
                break
            return hit
        return None

    async def _retrieve(
        self, text: str, tracker: Tracker, outcome: Outcome, found: Hit | None = None
    ) -> bool:
        hit = found or await self._search(text, self.settings.retrieval_threshold)
        if hit is None:
            return False
        answer = self.responder.fill(hit.answer, tracker)
        if not answer:
            return False
        self.act.say(answer, tracker, outcome, None)
        outcome.route = "retrieval"
        outcome.answer_source = f"qa:{hit.id}"
        outcome.retrieval_score = hit.score
        return True


def _heard_last(tracker: Tracker) -> bool:
    for event in reversed(tracker.applied_events()):
        kind = event.get("event")
        if kind == "user":
            return True
        if kind == "action":
            return event.get("name") == ACTION_LISTEN
    return False


def _session_user_turns(tracker: Tracker) -> int:
    return tracker.user_turns()
