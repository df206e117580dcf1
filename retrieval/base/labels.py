"""Label names with a meaning of their own, shared by data files, training and serving.

They live at the bottom layer because the data readers refuse them as ordinary labels and
the classifier produces them: both must agree on the same strings.
"""

from __future__ import annotations

FALLBACK_INTENT = "nlu_fallback"
"""What a rejected prediction is called (Rasa's name), so Rasa clients and stories match."""

OOS_LABELS = frozenset({"oos", "out_of_scope"})
"""Training labels that mark out-of-scope examples; predicting one means rejecting."""
