"""retrieval.base.nlu_entities: the entity side of Rasa NLU files, read with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.base.datafiles import DataFileError
from retrieval.base.datasets import load_examples
from retrieval.base.nlu_entities import (
    EntitySpan,
    load_entity_data,
    parse_annotated,
)

FLIGHT = (
    'fly from [Berlin]{"entity": "city", "role": "departure"} '
    'to [Paris]{"entity": "city", "role": "destination"}'
)
NLU = """\
version: "3.1"
nlu:
- intent: book_flight
  examples: |
    - <flight>
    - [2]{"entity": "count", "group": "1"} tickets to [NY](city:New York)
    - [x][{"entity": "a"}, {"entity": "b"}] marks two
    -   a flight please
- intent: greet
  examples:
    - text: hi [Percy](PERSON)
      metadata: {sentiment: neutral}
- synonym: credit
  examples: |
    - credit card
    - Credit Account
- lookup: city
  examples: |
    - Berlin
    - Paris
- regex: account_number
  examples: |
    - \\d{10,12}
""".replace("<flight>", FLIGHT)


def write(tmp_path: Path, text: str, name: str = "nlu.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_annotation_form_gives_spans_into_the_plain_text(tmp_path: Path) -> None:
    data = load_entity_data(write(tmp_path, NLU))
    flight, tickets, two, plain, hi = data.examples
    assert flight.text == "fly from Berlin to Paris"
    assert flight.entities == (
        EntitySpan(9, 15, "city", "Berlin", role="departure"),
        EntitySpan(19, 24, "city", "Paris", role="destination"),
    )
    assert tickets.text == "2 tickets to NY"
    assert tickets.entities == (
        EntitySpan(0, 1, "count", "2", group="1"),
        EntitySpan(13, 15, "city", "New York"),
    )
    assert [(s.entity, two.text[s.start : s.end]) for s in two.entities] == [
        ("a", "x"),
        ("b", "x"),
    ]
    assert plain.text == "a flight please" and plain.entities == ()
    assert hi.text == "hi Percy" and hi.intent == "greet"
    assert hi.entities == (EntitySpan(3, 8, "PERSON", "Percy"),)


def test_examples_keep_the_text_file_and_line_of_their_intent_rows(tmp_path: Path) -> None:
    path = write(tmp_path, NLU)
    annotated = load_entity_data(path).examples
    rows = load_examples(path)
    assert [(e.text, e.source, e.line) for e in annotated] == [
        (r.text, r.source, r.line) for r in rows
    ]
    assert [e.where for e in annotated][:2] == [f"{path}:5", f"{path}:6"]


def test_synonyms_lookups_and_regexes_are_collected(tmp_path: Path) -> None:
    data = load_entity_data(write(tmp_path, NLU))
    # Keys lower-cased, values as written, annotated values included (EntitySynonymMapper).
    assert data.synonyms == {
        "ny": "New York",
        "credit card": "credit",
        "credit account": "credit",
    }
    assert data.lookups == {"city": ("Berlin", "Paris")}
    assert data.regexes == {"account_number": (r"\d{10,12}",)}
    assert data.entity_names == ("PERSON", "a", "b", "city", "count")
    assert data.entity_counts()["city"] == 3
    assert data.has_entities


def test_a_directory_is_read_like_load_examples_reads_it(tmp_path: Path) -> None:
    write(tmp_path, NLU)
    write(tmp_path, "text,intent\nhello,greet\n", name="more.csv")
    write(tmp_path, "version: '3.1'\nstories: []\n", name="stories.yml")
    data = load_entity_data(tmp_path)
    assert len(data.examples) == 5  # the CSV has no annotations, the stories no nlu


def test_csv_data_has_no_entities(tmp_path: Path) -> None:
    data = load_entity_data(write(tmp_path, "text,intent\nhello,greet\n", name="nlu.csv"))
    assert data.examples == () and not data.has_entities


def test_a_text_mapped_to_two_values_warns_and_the_later_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nlu:\n- intent: pay\n  examples: |\n    - by [card](account:credit)\n"
        "- synonym: debit\n  examples: |\n    - card\n",
    )
    data = load_entity_data(path)
    assert data.synonyms == {"card": "debit"}
    (warning,) = data.warnings
    assert f"{path}:4" in warning and f"{path}:7" in warning


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('fly to [Paris]{"entity": city}', "is not valid JSON"),
        ('fly to [Paris]{"role": "destination"}', "names no entity"),
        ("fly to [](city)", "marks no text"),
        ("fly to [Paris](city", "unfinished entity annotation"),
        ('fly to [Paris]{"entity": "city", "role": ["a"]}', "role that is not text"),
        ("fly to [Paris][]", "lists no entities"),
    ],
)
def test_a_malformed_annotation_is_reported_at_its_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = write(tmp_path, f"nlu:\n- intent: fly\n  examples: |\n    - hello\n    - {line}\n")
    with pytest.raises(DataFileError, match=problem) as caught:
        load_entity_data(path)
    assert caught.value.line == 5
    assert str(caught.value).startswith(f"{path}:5")


def test_a_regex_that_does_not_compile_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "nlu:\n- regex: code\n  examples: |\n    - ok\\d+\n    - (unclosed\n")
    with pytest.raises(DataFileError, match="not a valid regular expression") as caught:
        load_entity_data(path)
    assert caught.value.line == 5


def test_a_lookup_without_examples_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "nlu:\n- lookup: city\n")
    with pytest.raises(DataFileError, match="no examples") as caught:
        load_entity_data(path)
    assert caught.value.line == 2


def test_parse_annotated_strips_like_load_examples_and_shifts_the_spans() -> None:
    text, spans = parse_annotated("   [chinese](cuisine) food  ")
    assert text == "chinese food"
    assert spans == (EntitySpan(0, 7, "cuisine", "chinese"),)
