"""Fixtures for the retrieval tests: the real bundled encoder, loaded once per session."""

from __future__ import annotations

import pytest

from retrieval.base.qa import QAPair
from retrieval.index import AnswerIndex
from retrieval.models.encoder import Encoder, load_encoder
from tests.retrieval.helpers import PAIRS


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    # Loading takes seconds; every test shares one instance, as the server does.
    return load_encoder(device="cpu")


@pytest.fixture
def pairs() -> list[QAPair]:
    return list(PAIRS)


@pytest.fixture
def index(pairs: list[QAPair], encoder: Encoder) -> AnswerIndex:
    return AnswerIndex.build(pairs, encoder)
