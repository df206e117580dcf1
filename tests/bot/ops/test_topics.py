"""bot.ops.topics: a message whose intent says how the customer feels ("complaint") is filed
under the subject its words are about ("shipping"), and one with no subject keeps its topic."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from bot.ops.priors import LabelledText, read_chunk
from bot.ops.topics import SubjectReader, TopicBank
from bot.server.app import create_app
from bot.server.appkeys import RUNTIME, STORE, SUBJECTS
from bot.storage.ops_schema import sentiment_events
from retrieval.base.datafiles import DataFileError
from retrieval.base.domain import Domain
from retrieval.index import build_index
from retrieval.index.examples import IntentExamples
from retrieval.models.encoder import load_encoder
from tests.conftest import FIXTURES, TinyModels, app_config

GENERAL = frozenset({"feedback"})
SHIPPING = [
    "where is my parcel",
    "the courier has not delivered my package",
    "my delivery is a week late",
    "the parcel was left out in the rain",
]
FEEDBACK = ["your service is awful", "i want to make a complaint", "you people are useless"]


def unit(*rows: tuple[float, float]) -> np.ndarray:
    matrix = np.asarray(rows, dtype="float32")
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_a_message_is_filed_under_the_topic_most_of_its_nearest_examples_share() -> None:
    bank = TopicBank(
        unit((1, 0), (1, 0.1), (1, -0.1), (0, 1), (0.1, 1)),
        ("shipping", "shipping", "orders", "feedback", "feedback"),
        GENERAL,
    )

    assert bank.subjects(unit((1, 0.05)), k=3) == ["shipping"]


def test_a_message_nearest_the_general_examples_has_no_subject() -> None:
    bank = TopicBank(
        unit((1, 0), (0, 1), (0.1, 1), (-0.1, 1)),
        ("shipping", "feedback", "feedback", "feedback"),
        GENERAL,
    )

    assert bank.subjects(unit((0, 1)), k=3) == [None]


def test_a_message_far_from_every_example_has_no_subject() -> None:
    bank = TopicBank(unit((1, 0), (1, 0.1), (0, 1)), ("shipping", "shipping", "feedback"), GENERAL)
    far = unit((0.3, -1))  # cosine 0.29 and 0.19 to the shipping examples

    assert bank.subjects(far, k=2) == [None]
    assert bank.subjects(far, k=2, min_similarity=-1.0) == ["shipping"]


def test_a_tie_goes_to_the_topic_of_the_nearest_example() -> None:
    bank = TopicBank(unit((1, 0.2), (1, 0), (1, -0.3), (1, 0.35)), ("a", "b", "a", "b"), GENERAL)

    assert bank.subjects(unit((1, 0.01)), k=4) == ["b"]


def test_a_bank_refuses_vectors_that_do_not_match_its_topics() -> None:
    with pytest.raises(ValueError, match=r"expected one vector per topic, got \(2, 2\) for 3"):
        TopicBank(unit((1, 0), (0, 1)), ("a", "b", "c"), GENERAL)


def test_the_bundled_encoder_files_a_courier_complaint_under_shipping() -> None:
    encoder = load_encoder()
    examples = [(t, "shipping") for t in SHIPPING] + [(t, "feedback") for t in FEEDBACK]
    vectors = encoder.encode([text for text, _ in examples])
    bank = TopicBank(vectors, tuple(topic for _, topic in examples), GENERAL)

    found = bank.subjects(
        encoder.encode(["the courier threw my parcel over the fence", "this is awful service"]),
        k=3,
    )

    assert found == ["shipping", None]


async def test_an_uninstalled_reader_reads_no_subject_and_an_installed_one_does() -> None:
    reader = SubjectReader()
    bank = TopicBank(unit((1, 0), (0, 1)), ("shipping", "feedback"), GENERAL)
    assert await reader.subject("where is my parcel") is None

    with ThreadPoolExecutor(1) as executor:
        await reader.install(bank, lambda texts: unit(*[(1, 0.1)] * len(texts)), executor)
        try:
            found = await asyncio.gather(reader.subject("a"), reader.subject("b"))
        finally:
            await reader.close()

    assert found == ["shipping", "shipping"]
    assert not reader.ready


def test_the_priors_count_a_general_example_under_its_subject() -> None:
    domain = Domain(
        categories={"complaint": "feedback", "track": "shipping"}, general_topics=GENERAL
    )
    chunk = [
        LabelledText("the courier lost it", "complaint"),
        LabelledText("awful service", "complaint"),
        LabelledText("where is it", "track"),
    ]

    readings = read_chunk(
        chunk,
        domain,
        read_intents=lambda texts: [],
        read_negative=lambda texts: [True, True, False],
        read_subjects=lambda texts: ["shipping" if "courier" in t else None for t in texts],
    )

    assert readings == [("shipping", True), ("feedback", True), ("shipping", False)]


def test_a_bank_holds_the_examples_whose_intent_has_a_topic() -> None:
    domain = Domain(
        categories={"track": "shipping", "complaint": "feedback"}, general_topics=GENERAL
    )
    examples = IntentExamples(
        ("where is it", "a faq", "awful"),
        ("track", "faq_x", "complaint"),
        unit((1, 0), (0, 1), (1, 1)),
    )

    bank = TopicBank.from_examples(examples, domain)

    assert (bank.texts, bank.topics) == (("where is it", "awful"), ("shipping", "feedback"))
    np.testing.assert_allclose(bank.vectors, unit((1, 0), (1, 1)))


def test_reading_an_example_text_uses_its_stored_vector() -> None:
    bank = TopicBank(unit((1, 0), (0, 1)), ("shipping", "feedback"), GENERAL, ("parcel", "awful"))
    embedded: list[list[str]] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        embedded.append(list(texts))
        return unit(*[(1, 0.1)] * len(texts))

    assert bank.read(["awful", "a new message"], embed) == [None, "shipping"]
    assert embedded == [["a new message"]]


def test_general_topics_must_be_topics_of_the_categories(tmp_path: Path) -> None:
    path = tmp_path / "domain.yml"
    path.write_text("categories: {complaint: feedback}\ngeneral_topics: [feedbak]\n")

    with pytest.raises(DataFileError) as caught:
        Domain.load(path)

    message = str(caught.value)
    assert "general_topics names 'feedbak', which no intent has in categories" in message
    assert "(topics there: feedback)" in message


def test_general_topics_must_be_a_list_of_names(tmp_path: Path) -> None:
    path = tmp_path / "domain.yml"
    path.write_text("categories: {complaint: feedback}\ngeneral_topics: feedback\n")

    with pytest.raises(DataFileError, match="general_topics must be a list of topic names"):
        Domain.load(path)


async def test_the_server_stores_a_general_message_under_its_subject(
    aiohttp_client: Any, tmp_path: Path, tiny_models: TinyModels
) -> None:
    # The tiny intent model memorised "where is my order" (order_status) and "hello there"
    # (greet); this domain makes both intents general, so only the words decide the topic.
    domain = tmp_path / "domain.yml"
    domain.write_text(
        "categories: {order_status: feedback, greet: feedback, shipping_cost: shipping}\n"
        "general_topics: [feedback]\n"
    )
    data = tmp_path / "data"
    data.mkdir()
    shipping = [
        "where is my order please",
        "my order has not arrived",
        "where is my parcel",
        "when will my order arrive",
        "the courier lost my order",
        "has my order been shipped",
        "my order is late",
        "my package never came",
        "where is my package",
        "order still not delivered",
        "track my order",
        "the parcel is late",
    ]
    greetings = ["hi", "hello", "hello there", "good morning", "hey", "hiya", "good evening"]
    greetings += ["greetings", "hey there", "morning", "hi there", "howdy"]
    (data / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n'
        + "- intent: shipping_cost\n  examples: |\n"
        + "".join(f"    - {t}\n" for t in shipping)
        + "- intent: greet\n  examples: |\n"
        + "".join(f"    - {t}\n" for t in greetings)
    )
    index = tmp_path / "index"
    build_index(FIXTURES / "tiny_qa.csv", index, progress=False, examples=data / "nlu.yml")
    config = app_config(
        tmp_path, models_dir=tiny_models.models_dir, data_dir=data, domain=domain, index=index
    )
    client = await aiohttp_client(create_app(config))
    await client.app[RUNTIME].ready.wait()
    async with asyncio.timeout(60):
        while not client.app[SUBJECTS].ready:
            await asyncio.sleep(0.05)

    for i, text in enumerate(["where is my order", "hello there"]):
        response = await client.post(
            "/webhooks/rest/webhook", json={"sender": f"c{i}", "message": text}
        )
        assert response.status == 200, await response.text()

    async with client.app[STORE].engine.connect() as conn:
        rows = (
            await conn.execute(
                select(sentiment_events.c.intent, sentiment_events.c.topic).order_by(
                    sentiment_events.c.id
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [("order_status", "shipping"), ("greet", "feedback")]
