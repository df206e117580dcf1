"""The FAISS answer index over historical Q&A: search, its on-disk form, building and tuning,
and intent voting over the nearest answers.

Other packages import from here only, so the modules inside can be rearranged freely.
"""

from retrieval.index.build import build_index
from retrieval.index.search import (
    DEFAULT_THRESHOLD,
    RECALL_K,
    AnswerIndex,
    Hit,
    IndexSettings,
    read_stamp,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "RECALL_K",
    "AnswerIndex",
    "Hit",
    "IndexSettings",
    "build_index",
    "read_stamp",
]
