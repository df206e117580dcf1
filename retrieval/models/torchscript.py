"""TorchScript traces for CPU serving, trusted only after they are checked.

On the CPU a traced graph runs the whole forward pass in C++: a single message costs about
half what the eager model does, and the Python interpreter lock is free meanwhile for the
event loop and the other models. Tracing records the operations run on one example,
though, and a model whose Python code branches on the input's shape would be recorded
wrongly for other shapes. So every trace is checked against its model on other batch
sizes and lengths, and dropped (with a warning in the log) if it differs or fails: a bad
trace only ever costs speed, never an answer.

Used by the intent and sentiment classifiers (``retrieval.models.classifier``) and the
answer index's encoder (``retrieval.models.encoder``).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

# warnings.catch_warnings() swaps the process-wide filter list and is not thread-safe; the
# server loads its models on several threads at once (and reloads them while serving).
WARNINGS_LOCK = threading.Lock()

TRACE_EXAMPLE = ("hello there", "where is my order")
# Other batch sizes and lengths than the example's.
TRACE_CHECKS: tuple[tuple[str, ...], ...] = (
    ("hi",),
    (
        "my card was charged twice for the same order and nobody answers my e-mails, please",
        "refund",
        "can I change the delivery address of an order that has already shipped?",
    ),
)
TRACE_TOLERANCE = 1e-4

Run = Callable[[Any, Sequence[str]], Any]


def checked_trace(what: str, trace: Callable[[], Any], model: Any, run: Run) -> Any | None:
    """``trace()``'s result if ``run(trace, texts)`` matches ``run(model, texts)`` on the
    check texts, else None.

    ``run(fn, texts)`` tokenizes ``texts``, calls ``fn`` (the model or its trace) in
    inference mode and returns the output tensor that matters (logits, embeddings).
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    try:
        # Tracing runs the forward pass outside inference mode, where transformers logs
        # remarks about training-only settings; they mean nothing here.
        hf_logging.set_verbosity_error()
        with WARNINGS_LOCK, warnings.catch_warnings():
            # torch marks TorchScript as in maintenance and warns about traced Python values
            # (shapes, which the checks below cover); the pinned release traces fine.
            warnings.simplefilter("ignore")
            traced = trace()
        # Each shape three times: TorchScript's profiling executor swaps in an optimised
        # graph after the first runs, and that graph is the one serving will use.
        for texts in TRACE_CHECKS * 3:
            difference = float((run(traced, texts) - run(model, texts)).abs().max())
            if difference > TRACE_TOLERANCE:
                log.warning(
                    "the traced %s differs from the model by %.2g on %d texts; "
                    "serving without tracing",
                    what,
                    difference,
                    len(texts),
                )
                return None
    except Exception as exc:  # any failure only costs speed, never an answer
        log.warning(
            "tracing the %s failed (%s: %s); serving without tracing",
            what,
            type(exc).__name__,
            exc,
        )
        return None
    finally:
        hf_logging.set_verbosity(verbosity)
    return traced
