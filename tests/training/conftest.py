"""One tiny trained model per test session, shared by the training and evaluation tests.

Training even a tiny model takes seconds on a small CPU, so it happens once, with the
smallest settings that still exercise the real pipeline end to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TINY_INTENTS = {
    "greet": ["hi there", "hello", "good morning", "hey", "hi bot", "hello friend"],
    "goodbye": ["goodbye", "bye now", "see you", "farewell", "bye bye", "see you later"],
    "track_order": [
        "where is my order",
        "track my parcel",
        "order status",
        "my package is late",
        "has my order shipped",
        "delivery status",
    ],
    "out_of_scope": [
        "what is the weather",
        "tell me a joke",
        "who won the game",
        "sing a song",
        "what is love",
        "recommend a movie",
    ],
}


def write_intents_csv(path: Path, intents: dict[str, list[str]]) -> Path:
    lines = ["text,intent"] + [
        f"{text},{label}" for label, texts in intents.items() for text in texts
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_settings(data: Path, out: Path, **overrides: Any) -> Any:
    from training.train import TrainSettings

    options: dict[str, Any] = {"task": "intent", "epochs": 1, "max_length": 16, "quiet": True}
    return TrainSettings(data=data, out=out, **{**options, **overrides})


@dataclass(frozen=True)
class TrainedModel:
    data: Path
    out: Path
    result: dict[str, Any]


@pytest.fixture(scope="session")
def tiny_intent_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    from training.train import train

    root = tmp_path_factory.mktemp("tiny-intent")
    data = write_intents_csv(root / "nlu.csv", TINY_INTENTS)
    out = root / "models" / "intent"
    result = train(tiny_settings(data, out))
    return TrainedModel(data=data, out=out, result=result)
