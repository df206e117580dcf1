"""The checks of ``rasa data validate`` that tell what a bot will not do: intents nothing
teaches the classifier, and rules and stories that run actions the domain does not have.

They are warnings, not errors: Rasa trains such a project too, and the rest of it works.
"""

from __future__ import annotations

from collections.abc import Collection

from bot.importers.rasa.domain import RasaDomain
from bot.importers.rasa.flows import Flows
from bot.importers.rasa.known_names import RASA_DEFAULT_ACTIONS, RASA_DEFAULT_INTENTS
from bot.importers.rasa.report import Kind, Report


def check_names(domain: RasaDomain, learnt: Collection[str], flows: Flows, report: Report) -> None:
    named = {name: entry.where for name, entry in domain.sections["intents"].items()}
    for intent, where in flows.intents.items():
        named.setdefault(intent, where)
    for name, where in named.items():
        if name in learnt or name in RASA_DEFAULT_INTENTS or "/" in name:
            continue
        if not any(other.startswith(f"{name}/") for other in learnt):
            report.warn(
                Kind.UNLEARNABLE_INTENT,
                where,
                f"intent {name} has no NLU examples: only a '/{name}' message triggers it",
                name,
            )
    responses = set(domain.responses)
    listed = set(domain.names("actions")) | set(domain.names("forms"))
    for action, where in flows.actions.items():
        if action.startswith("utter_"):
            # utter_faq answers the retrieval intent faq from utter_faq/<sub-intent>.
            if action not in responses | listed and not any(
                name.startswith(f"{action}/") for name in responses
            ):
                report.warn(
                    Kind.MISSING_RESPONSE,
                    where,
                    f"{action} has no response in the domain: Frontdesk says nothing for it",
                    action,
                )
        elif action not in RASA_DEFAULT_ACTIONS and action not in listed:
            report.warn(
                Kind.UNLISTED_ACTION,
                where,
                f"custom action {action} is not listed under 'actions:' in the domain",
                action,
            )
