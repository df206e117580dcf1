"""The FAISS answer index over historical Q&A: search, its on-disk form, building and tuning,
and intent voting over the nearest answers.

- :mod:`.search`: :class:`AnswerIndex`, searched and updated while the bot serves;
- :mod:`.hits`: :class:`Hit`, what a search answers with;
- :mod:`.intents`: the intent vote and the intent head over the nearest answers, and
  :func:`~.intents.answer_hits`, the answers each method gives;
- :mod:`.methods`: choosing at build time how an index answers (plain, vote or head);
- :mod:`.faiss_index`: :class:`IndexSettings`, choosing, building and tuning the FAISS index;
- :mod:`.storage`: the index directory on disk (manifest, save/load, :func:`read_stamp`);
- :mod:`.build`: ``frontdesk index build``, from a Q&A file to a saved index.

Other packages import from here only, so the modules inside can be rearranged freely.
"""

from retrieval.index.build import build_index, torch_threads
from retrieval.index.faiss_index import RECALL_K, IndexSettings
from retrieval.index.hits import Hit
from retrieval.index.intents import ANSWER_METHODS, AnswerMethod
from retrieval.index.methods import METHOD_CHOICES, rank_figures
from retrieval.index.search import DEFAULT_THRESHOLD, AnswerIndex
from retrieval.index.storage import read_stamp

__all__ = [
    "ANSWER_METHODS",
    "DEFAULT_THRESHOLD",
    "METHOD_CHOICES",
    "RECALL_K",
    "AnswerIndex",
    "AnswerMethod",
    "Hit",
    "IndexSettings",
    "build_index",
    "rank_figures",
    "read_stamp",
    "torch_threads",
]
