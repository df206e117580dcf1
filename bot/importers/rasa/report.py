"""What an import could not carry over, grouped so that a big project stays readable.

A Rasa project can trip the same limit dozens of times (financial-demo names 14 intents that
have no examples, or uses the same unsupported thing in many files). One line per occurrence
buries the one warning that matters, so warnings of one :class:`Kind` are printed as one
line: what the limit is, how often it was met and the first few places. Every occurrence
stays in :meth:`Report.details` (the JSON summary), with its place and its whole message.

Only what Frontdesk really does differently from Rasa is a warning; what to set up next
(the action server, the channels, training) is a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# How many places a grouped warning names; the others are in the JSON summary.
SHOWN_PLACES = 3


class Kind(Enum):
    """A warning's kind; its value is the line printed for all its occurrences together."""

    # Reading the project
    NOT_TRAINING_DATA = "skipped: YAML files under data/ that are not Rasa training data"
    UNKNOWN_SECTION = "not imported: sections Rasa does not read"
    RASA1_DATA = (
        "not imported: Rasa 1 training data; convert it first with "
        "'rasa data convert nlu -f yaml' (or 'rasa data convert core')"
    )
    NO_DOMAIN = "no domain: domain.yml lists only the NLU data's intents"
    DEFINED_TWICE = "defined twice: the first definition is kept"
    DOMAIN_ITEM = "skipped: domain list items that are neither a name nor a name with options"
    RASA2_FORMAT = (
        "Rasa 2 domain format (slot mappings in forms, auto_fill): Frontdesk reads Rasa 3's; "
        "migrate the project with 'rasa data migrate' and import it again"
    )
    # NLU data
    NLU_ITEM = "skipped: nlu items that are not intent, synonym, regex or lookup items"
    FALLBACK_EXAMPLES = "not imported: examples labelled nlu_fallback (label them out_of_scope)"
    ITEM_KEY = "not imported: nlu item keys other than examples and metadata"
    EXAMPLE = "skipped: examples that are not '- text' lines (Rasa skips them too)"
    ITEM_WITHOUT_EXAMPLES = "skipped: nlu items with no examples"
    REPEATED_EXAMPLES = "dropped repeated examples (same text, same nlu item)"
    UNLEARNABLE_INTENT = (
        "intents with no NLU examples: the classifier never predicts them, only a "
        "'/intent' message (a button payload) triggers them"
    )
    CONFLICTING_EXAMPLE = (
        "examples labelled with two intents: Rasa trains on both, 'frontdesk train intent' "
        "refuses them, so keep each under one intent"
    )
    RETRIEVAL_INTENT = (
        "retrieval intents (Rasa's ResponseSelector) are not supported: the classifier "
        "learns each 'base/sub' name as an intent of its own, which no rule or story names"
    )
    ANNOTATION_AS_TEXT = "examples whose entity markup Frontdesk's trainer reads as words"
    # Domain
    SLOT_CLASS = (
        "custom slot classes: Frontdesk keeps their values as type any (stored and sent "
        "to actions, never featurized; the class's own code does not run)"
    )
    RESPONSE_REFUSED = (
        "responses Frontdesk's response reader refuses: the server does not start until "
        "they are changed"
    )
    # Rules and stories
    FLOW_SHAPE = "skipped: rules, stories and steps that Rasa skips too"
    FLOW_UNREADABLE = "not imported: rules and stories Frontdesk's story reader refuses"
    END_TO_END = (
        "end-to-end steps (bot: text, user: text without an intent): Rasa learns them with "
        "TEDPolicy only, which Frontdesk does not have"
    )
    CHECKPOINT_CONDITION = (
        "checkpoints with slot_was_set conditions: Frontdesk's story reader reads the "
        "condition as a slot event and joins the checkpoint whatever the slots are"
    )
    MISSING_RESPONSE = "rules and stories run utter_ actions that have no response"
    UNLISTED_ACTION = "custom actions run in rules and stories but not listed under 'actions:'"
    TEST_FILE_UNREADABLE = "not copied: test story files Frontdesk's story reader refuses"
    # The project's settings
    CONFIG = (
        "config.yml: not imported (Frontdesk trains its own models and predicts with rules "
        "and memoized stories)"
    )
    ENDPOINT = "endpoints.yml: settings Frontdesk does not use"
    SETTINGS_UNREADABLE = "not read: settings files that are not valid YAML mappings"
    CHANNEL = (
        "credentials.yml: channels Frontdesk does not serve (it serves Rasa's REST "
        "webhook and its own chat widget)"
    )

    @property
    def id(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Occurrence:
    at: str  # "file:line", a file, or "" for the whole project
    message: str  # the whole warning, as printed when it is the only one of its kind
    subject: str  # what it is about in a few words, as printed among others of its kind

    def text(self) -> str:
        return f"{self.at}: {self.message}" if self.at else self.message

    def place(self) -> str:
        if not self.at:
            return self.subject
        return f"{self.at} ({self.subject})" if self.subject else self.at


@dataclass(slots=True)
class WarningGroup:
    kind: Kind
    occurrences: list[Occurrence] = field(default_factory=list)

    def text(self) -> str:
        if len(self.occurrences) == 1:
            return self.occurrences[0].text()
        count = len(self.occurrences)
        places = ", ".join(o.place() for o in self.occurrences[:SHOWN_PLACES])
        more = f" and {count - SHOWN_PLACES} more" if count > SHOWN_PLACES else ""
        return f"{self.kind.value} ({count} times): {places}{more}"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.id,
            "count": len(self.occurrences),
            "text": self.text(),
            "occurrences": [{"at": o.at, "message": o.message} for o in self.occurrences],
        }


class Report:
    """The warnings, the notes (what to set up next) and the files read, of one import."""

    def __init__(self) -> None:
        self._groups: dict[Kind, WarningGroup] = {}
        self._seen: set[tuple[Kind, str, str]] = set()
        self.notes: list[str] = []
        self.read: list[str] = []

    def warn(self, kind: Kind, at: str, message: str, subject: str = "") -> None:
        """Record one occurrence; ``subject`` names what it is about when grouped."""
        key = (kind, at, message)
        if key in self._seen:
            return
        self._seen.add(key)
        group = self._groups.setdefault(kind, WarningGroup(kind))
        group.occurrences.append(Occurrence(at, message, subject))

    def note(self, message: str) -> None:
        self.notes.append(message)

    @property
    def groups(self) -> list[WarningGroup]:
        return list(self._groups.values())

    @property
    def warnings(self) -> list[str]:
        """One line per kind, in the order the kinds were first met."""
        return [group.text() for group in self._groups.values()]

    def details(self) -> list[dict[str, Any]]:
        return [group.as_json() for group in self._groups.values()]
