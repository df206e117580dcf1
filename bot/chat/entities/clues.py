"""What a message contains at a glance, so that rules with nothing to find are not run.

Most messages have no date, no amount and no digits; checking a set of words is much cheaper
than running a regex of month names over every position of the text.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_WORD = re.compile(r"[a-z]+")
_DIGIT = re.compile(r"\d")


class Clues(NamedTuple):
    words: frozenset[str]
    digits: bool

    def any(self, vocabulary: frozenset[str]) -> bool:
        return not self.words.isdisjoint(vocabulary)


def read(text: str) -> Clues:
    lowered = text.lower()
    return Clues(frozenset(_WORD.findall(lowered)), _DIGIT.search(text) is not None)
