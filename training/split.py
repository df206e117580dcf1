"""Holding out a validation split when the user gives no validation file."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.base.datasets import Example

DEFAULT_VALIDATION_FRACTION = 0.15
MIN_TRAIN_EXAMPLES = 2


@dataclass(frozen=True, slots=True)
class Split:
    train: list[Example]
    validation: list[Example]
    method: str  # "stratified", "random" or "given"


def split_examples(
    examples: Sequence[Example],
    *,
    seed: int,
    fraction: float = DEFAULT_VALIDATION_FRACTION,
) -> Split:
    """Stratified train/validation split, random when some label is too rare to stratify.

    Stratifying keeps every intent in validation so per-label scores exist and macro-F1 is
    meaningful; it needs two examples of each label and at least one validation row per
    label, which tiny data sets cannot always give.
    """
    from sklearn.model_selection import train_test_split

    total = len(examples)
    if total < MIN_TRAIN_EXAMPLES + 1:
        raise ValueError(
            f"data: only {total} example(s); at least {MIN_TRAIN_EXAMPLES + 1} are needed to "
            "hold some out for validation (or pass a separate validation file)"
        )
    labels = [e.label for e in examples]
    counts = Counter(labels)
    size = max(1, math.ceil(total * fraction))
    # Stratifying needs a validation row per label, so tiny data may hold out a bit more.
    size = max(size, len(counts)) if min(counts.values()) >= 2 else size
    stratify = min(counts.values()) >= 2 and size <= total - len(counts)
    if not stratify:
        size = min(max(1, math.ceil(total * fraction)), total - MIN_TRAIN_EXAMPLES)
    indices = list(range(total))
    train_idx, val_idx = train_test_split(
        indices,
        test_size=size,
        random_state=seed,
        stratify=labels if stratify else None,
    )
    return Split(
        train=[examples[i] for i in sorted(train_idx)],
        validation=[examples[i] for i in sorted(val_idx)],
        method="stratified" if stratify else "random",
    )
