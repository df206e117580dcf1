"""The project's settings files (``config.yml``, ``endpoints.yml``, ``credentials.yml``) and
its action code: what Frontdesk takes from them, as notes saying what to set up, and what it
does not, as warnings.

Nothing here is written to the data directory: Frontdesk's settings live in frontdesk.toml,
and the notes say which of them to set there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.importers.rasa.project import Source, settings_file
from bot.importers.rasa.report import Kind, Report

# Pipeline components whose entities come from a model or a service, not from the NLU data.
PRETRAINED_EXTRACTORS = frozenset({"DucklingEntityExtractor", "SpacyEntityExtractor"})
RULE_AND_MEMO_POLICIES = frozenset(
    {"RulePolicy", "MemoizationPolicy", "AugmentedMemoizationPolicy"}
)
ENDPOINT_REASONS = {
    "tracker_store": "Frontdesk keeps conversations in its own database (database_url)",
    "lock_store": "Frontdesk locks conversations itself",
    "event_broker": "Frontdesk publishes no events to a broker",
    "models": "Frontdesk loads its models from models_dir",
    "nlg": "Frontdesk takes responses from the domain, not from an NLG server",
}


def read_settings(project: Path, out: Path, report: Report) -> None:
    _config(project, out, report)
    url = _endpoints(project, report)
    _credentials(project, report)
    if url:
        report.note(
            f"custom actions: endpoints.yml names the action server {url}: run it as before "
            f'(rasa run actions) and set action_server_url = "{url}" in frontdesk.toml [actions]'
        )
    elif (project / "actions").is_dir() or (project / "actions.py").is_file():
        report.note(
            "custom actions: run them on an action server as before (rasa run actions) and "
            'set action_server_url = "http://localhost:5055/webhook" in frontdesk.toml '
            '[actions], or run one module in-process with actions_module = "PATH/actions.py"'
        )


def _name(component: Any) -> str:
    name = component.get("name") if isinstance(component, dict) else component
    return str(name)


def _config(project: Path, out: Path, report: Report) -> None:
    source = settings_file(project, "config.yml", report)
    report.note(
        "train the intent classifier on the imported examples: frontdesk train intent "
        f"--data {out / 'nlu.yml'} --out models/intent"
    )
    if source is None:
        return
    pipeline = source.data.get("pipeline")
    if isinstance(pipeline, list) and pipeline:
        report.warn(
            Kind.CONFIG,
            source.at("pipeline"),
            f"pipeline not imported ({', '.join(_name(c) for c in pipeline)}): Frontdesk "
            "trains its own classifier on nlu.yml and calibrates its own confidence threshold",
            "pipeline",
        )
        for index, component in enumerate(pipeline):
            name = _name(component)
            if name in PRETRAINED_EXTRACTORS:
                found = component.get("dimensions") if isinstance(component, dict) else None
                what = f" ({', '.join(map(str, found))})" if isinstance(found, list) else ""
                report.warn(
                    Kind.CONFIG,
                    source.at("pipeline", index),
                    f"{name} not imported: its entities{what} do not come from the NLU data, "
                    "so slots filled from them stay empty unless Frontdesk's entity "
                    "extraction finds them",
                    name,
                )
    policies = source.data.get("policies")
    for index, policy in enumerate(policies if isinstance(policies, list) else []):
        _policy(source, index, policy, report)


def _policy(source: Source, index: int, policy: Any, report: Report) -> None:
    name = _name(policy)
    where = source.at("policies", index)
    settings = {k: v for k, v in policy.items() if k != "name"} if isinstance(policy, dict) else {}
    if name == "TEDPolicy":
        message = (
            "TEDPolicy not imported: Frontdesk predicts with rules and memoized stories only, "
            "so a conversation no rule or story covers gets the fallback instead of TED's guess"
        )
    elif name in RULE_AND_MEMO_POLICIES:
        if not settings:
            return
        listed = ", ".join(f"{k}: {v}" for k, v in settings.items())
        message = f"{name} settings not imported ({listed}): Frontdesk's policy has none"
    else:
        message = f"{name} not imported: Frontdesk has no such policy"
    report.warn(Kind.CONFIG, where, message, name)


def _endpoints(project: Path, report: Report) -> str | None:
    """The action server's URL, if endpoints.yml names one."""
    source = settings_file(project, "endpoints.yml", report)
    if source is None:
        return None
    url = None
    for key, value in source.data.items():
        if key == "action_endpoint":
            found = value.get("url") if isinstance(value, dict) else None
            url = str(found) if found else None
        elif key in ENDPOINT_REASONS and value:
            report.warn(
                Kind.ENDPOINT,
                source.at(key),
                f"{key} not used: {ENDPOINT_REASONS[key]}",
                str(key),
            )
    return url


def _credentials(project: Path, report: Report) -> None:
    source = settings_file(project, "credentials.yml", report)
    if source is None:
        return
    for key in source.data:
        if key == "rest":
            report.note(
                "credentials.yml 'rest': Rasa REST clients work unchanged with Frontdesk's "
                "POST /webhooks/rest/webhook"
            )
        elif key == "socketio":
            report.note(
                "credentials.yml 'socketio': Frontdesk has no Socket.IO channel; its own chat "
                'widget takes its place (<script src="https://YOUR-HOST/widget.js">, see '
                "'Embed the widget' in the README)"
            )
        elif key == "rasa":
            report.warn(
                Kind.CHANNEL,
                source.at(key),
                "channel rasa (Rasa X's and Rasa Enterprise's own) not served",
                "rasa",
            )
        elif key != "version":
            report.warn(
                Kind.CHANNEL,
                source.at(key),
                f"channel {key} not served: connect it through the REST webhook instead",
                str(key),
            )
