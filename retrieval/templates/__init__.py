"""Answer templates: the responses file, rendered the way Rasa renders its responses.

``store`` holds the responses and picks a variant, ``variants`` is one variant and its
conditions, ``parsing`` reads and validates the YAML, ``interpolation`` fills placeholders.
Other packages import from here only.
"""

from retrieval.templates.interpolation import fill_text, placeholders
from retrieval.templates.store import ResponseTemplates
from retrieval.templates.variants import Button, RenderedResponse

__all__ = ["Button", "RenderedResponse", "ResponseTemplates", "fill_text", "placeholders"]
