"""``frontdesk import rasa PATH --out DIR``: a Rasa 3 project written as the data directory
Frontdesk's dialogue engine serves, unchanged in meaning.

The engine reads Rasa's own formats, so the project is merged, not converted:

- ``domain.yml``: the domain (``domain.yml`` or the files of ``domain/``, plus the responses
  kept in data files) with every Rasa key as written: intents and their ``use_entities``,
  entities, slots with their mappings and conditions, forms, responses with all their
  variants, actions, session_config; then Frontdesk's ``categories:`` (intent -> dashboard
  topic), left empty with a comment, because only a person knows the topics.
- ``nlu.yml``: every intent's examples with their entity annotations, synonyms, regexes and
  lookup tables, merged from all data files.
- ``rules.yml`` and ``stories.yml``: every rule and story of the data files.
- ``tests/``: the test story files, copied as they are.

YAML is read and written with YAML 1.2 booleans, as Rasa reads it (``value: yes`` stays the
text "yes"). Only what Frontdesk really does differently is a warning (config.yml's pipeline
and policies, TED-only end-to-end steps, custom slot classes, what a Frontdesk reader
refuses); warnings of one kind are grouped (:mod:`.report`), and the notes say what to set up
next (the action server, the channels, training). Odd content never stops an import; a file
that is not YAML, a section of the wrong shape or a domain entry Frontdesk's domain reader
refuses raises :class:`DataFileError` with the file, the line and the fix. The files are
written only after all of them load with Frontdesk's own readers, and then each by a
rename, so a failed import leaves ``DIR`` as it was.

The modules, in the order an import runs them: :mod:`.project` (finding and reading the
files), :mod:`.domain`, :mod:`.nlu`, :mod:`.flows` (rules and stories), :mod:`.checks` (what
the names tell: intents nothing teaches, actions the domain lacks), :mod:`.responses`,
:mod:`.story_tests`, :mod:`.settings` (config, endpoints, credentials), :mod:`.output`
(writing) and :mod:`.importer` (all of it, in order); :mod:`.known_names` holds the names Rasa
gives a meaning of its own.
"""

from __future__ import annotations

from bot.importers.rasa.importer import import_rasa_project
from bot.importers.rasa.output import OUTPUT_FILES
from bot.importers.rasa.report import Kind, Report
from retrieval.base.datafiles import DataFileError

__all__ = ["OUTPUT_FILES", "DataFileError", "Kind", "Report", "import_rasa_project"]
