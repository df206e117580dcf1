"""The domain's responses, checked with the reader the server loads them with.

Responses are written as Rasa wrote them (conditions, channels, buttons, images, custom
payloads): the dialogue engine reads Rasa's variants. What that reader refuses would stop the
server from starting, so each response is tried on its own and every one it refuses is
reported with the reader's own reason; the import goes on, because the fix belongs in the
project (or in the reader), not in a silent rewrite.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.importers.rasa.domain import Entry
from bot.importers.rasa.report import Kind, Report
from retrieval.base.datafiles import DataFileError
from retrieval.templates import ResponseTemplates


def check_responses(responses: Mapping[str, Entry], report: Report) -> None:
    for name, entry in responses.items():
        try:
            ResponseTemplates.from_mapping({name: entry.value}, source="<rasa>")
        except DataFileError as exc:
            fix = f" (fix: {exc.fix})" if exc.fix else ""
            report.warn(
                Kind.RESPONSE_REFUSED,
                entry.where,
                f"response {name}: Frontdesk's response reader refuses it: {exc.problem}{fix}",
                name,
            )
