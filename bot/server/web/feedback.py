"""What staff taught the bot, in the training formats.

- Corrections: CSV ``text,intent``, the intent training format (``frontdesk train intent``).
- Saved answers: CSV ``question,answer,intent``, the Q&A format (``frontdesk index build``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from bot.storage.staff import Correction, SavedAnswer

CORRECTIONS_FILE = "corrections.csv"
ANSWERS_FILE = "answers.csv"


def corrections_csv(corrections: Sequence[Correction]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "intent"])
    for correction in corrections:
        writer.writerow([correction.text, correction.intent])
    return buffer.getvalue()


def answers_csv(answers: Sequence[SavedAnswer]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["question", "answer", "intent"])
    for answer in answers:
        writer.writerow([answer.question, answer.answer, answer.intent or ""])
    return buffer.getvalue()
