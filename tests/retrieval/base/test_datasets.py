"""Reading and checking labelled examples (retrieval.base.datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.base.datafiles import DataFileError
from retrieval.base.datasets import (
    Example,
    check_examples,
    deduplicate,
    find_conflicts,
    fingerprint,
    label_order,
    load_examples,
    normalise_text,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


RASA_NLU = """\
version: "3.1"
nlu:
- intent: track_order
  examples: |
    - where is my order [NW-10482](order_id)?
    - track [parcel 7]{"entity": "order_id", "value": "7"} please

    - has my order shipped
- synonym: parcel
  examples: |
    - package
- regex: order_id
  examples: |
    - NW-\\d+
- lookup: city
  examples: |
    - Paris
- intent: out_of_scope
  examples: |
    - what is the meaning of life
"""


# --- formats ---------------------------------------------------------------------------


def test_csv_reader_accepts_text_intent_header_and_records_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.csv", "text,intent\nhello there,greet\n bye ,goodbye\n")

    examples = load_examples(path)

    assert examples == [
        Example("hello there", "greet", str(path), 2),
        Example("bye", "goodbye", str(path), 3),
    ]


@pytest.mark.parametrize("column", ["category", "label"])
def test_csv_reader_accepts_category_and_label_as_the_label_column(
    tmp_path: Path, column: str
) -> None:
    path = write(tmp_path / "nlu.csv", f"text,{column}\nhello,greet\n")

    assert [e.label for e in load_examples(path)] == ["greet"]


def test_tsv_reader_splits_on_tabs(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.tsv", "text\tintent\nhello, friend\tgreet\n")

    assert load_examples(path) == [Example("hello, friend", "greet", str(path), 2)]


def test_explicit_columns_override_the_usual_names(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.csv", "utterance,intent,topic\nhello,greet,smalltalk\n")

    examples = load_examples(path, text_column="utterance", label_column="topic")

    assert [(e.text, e.label) for e in examples] == [("hello", "smalltalk")]


def test_jsonl_reader_reads_one_object_per_line_and_skips_blank_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "hello", "intent": "greet"}),
        "",
        json.dumps({"text": "bye", "intent": "goodbye"}),
    ]
    path = write(tmp_path / "nlu.jsonl", "\n".join(lines) + "\n")

    examples = load_examples(path)

    assert [(e.text, e.label, e.line) for e in examples] == [
        ("hello", "greet", 1),
        ("bye", "goodbye", 3),
    ]


def test_rasa_reader_strips_entity_annotations_and_skips_synonym_regex_lookup(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "nlu.yml", RASA_NLU)

    examples = load_examples(path)

    assert [(e.text, e.label, e.line) for e in examples] == [
        ("where is my order NW-10482?", "track_order", 5),
        ("track parcel 7 please", "track_order", 6),
        ("has my order shipped", "track_order", 8),
        ("what is the meaning of life", "out_of_scope", 20),
    ]


def test_rasa_reader_accepts_examples_listed_as_text_mappings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "nlu.yml",
        "nlu:\n- intent: greet\n  examples:\n  - text: hello\n    metadata: {a: 1}\n  - text: hi\n",
    )

    assert [(e.text, e.line) for e in load_examples(path)] == [("hello", 4), ("hi", 6)]


def test_directory_reads_every_supported_file_and_skips_yaml_without_nlu(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "text,intent\nhello,greet\n")
    write(tmp_path / "b.yml", "nlu:\n- intent: goodbye\n  examples: |\n    - bye\n")
    write(tmp_path / "domain.yml", "responses:\n  utter_greet:\n  - text: hi\n")
    write(tmp_path / "notes.txt", "not data")
    (tmp_path / ".hidden").mkdir()
    write(tmp_path / ".hidden" / "c.csv", "text,intent\nignored,x\n")

    examples = load_examples(tmp_path)

    assert [(e.text, e.label) for e in examples] == [("hello", "greet"), ("bye", "goodbye")]


# --- errors ----------------------------------------------------------------------------


def test_csv_reader_reports_file_line_and_field_for_empty_text(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.csv", "text,intent\nhello,greet\n  ,greet\n")

    with pytest.raises(DataFileError) as caught:
        load_examples(path)

    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), 3, "text")
    assert str(error) == (
        f"{path}:3 (field 'text'): empty text. Fix: fill in the text or delete the row"
    )


def test_csv_reader_reports_file_line_and_field_for_empty_label(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.csv", "text,intent\nhello,\n")

    with pytest.raises(DataFileError) as caught:
        load_examples(path)

    assert str(caught.value) == (
        f"{path}:2 (field 'intent'): empty label. Fix: fill in the label or delete the row"
    )


def test_jsonl_reader_rejects_a_number_where_text_belongs(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.jsonl", '{"text": 42, "intent": "greet"}\n')

    with pytest.raises(DataFileError) as caught:
        load_examples(path)

    assert (caught.value.line, caught.value.field) == (1, "text")
    assert "expected text, got a number" in str(caught.value)
    assert "Fix: write the message as a string" in str(caught.value)


def test_jsonl_reader_rejects_a_list_as_label(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.jsonl", '{"text": "hi", "intent": ["greet"]}\n')

    with pytest.raises(DataFileError, match=r"nlu.jsonl:1 \(field 'intent'\): expected a label"):
        load_examples(path)


def test_missing_label_column_names_the_accepted_headers(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.csv", "text,topic\nhello,greet\n")

    with pytest.raises(
        DataFileError, match="no label column: expected one of intent, category, label"
    ):
        load_examples(path)


def test_nlu_fallback_is_refused_as_a_training_label(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.csv", "text,intent\nblah,nlu_fallback\n")

    with pytest.raises(DataFileError, match="label out-of-scope examples 'out_of_scope'"):
        load_examples(path)


def test_rasa_reader_reports_the_line_of_an_example_without_a_dash(tmp_path: Path) -> None:
    path = write(
        tmp_path / "nlu.yml", "nlu:\n- intent: greet\n  examples: |\n    - hi\n    hello\n"
    )

    with pytest.raises(DataFileError) as caught:
        load_examples(path)

    assert (caught.value.line, caught.value.field) == (5, "examples")
    assert "Fix: start each example with '- '" in str(caught.value)


def test_rasa_reader_reports_an_intent_without_examples(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.yml", "nlu:\n- intent: greet\n")

    with pytest.raises(DataFileError) as caught:
        load_examples(path)

    assert (caught.value.line, caught.value.field) == (2, "examples")


def test_rasa_file_without_nlu_section_is_an_error_when_named_directly(tmp_path: Path) -> None:
    path = write(tmp_path / "domain.yml", "intents: [greet]\n")

    with pytest.raises(DataFileError, match="no 'nlu:' section"):
        load_examples(path)


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.yml", "nlu:\n- intent: greet\n  examples: [unclosed\n")

    with pytest.raises(DataFileError) as caught:
        load_examples(path)

    assert caught.value.line is not None


def test_unsupported_file_type_names_the_supported_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.txt", "hello")

    with pytest.raises(DataFileError, match=r"use one of \.csv, \.tsv, \.jsonl"):
        load_examples(path)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no data files in this directory"):
        load_examples(tmp_path)


# --- sentiment labels --------------------------------------------------------------------


def test_sentiment_labels_are_lowercased_and_0_1_2_map_to_negative_neutral_positive(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "s.jsonl",
        "\n".join(
            json.dumps(row)
            for row in [
                {"text": "awful", "label": 0},
                {"text": "fine", "label": "1"},
                {"text": "great", "label": 2},
                {"text": "love it", "label": "Positive"},
            ]
        ),
    )

    labels = [e.label for e in load_examples(path, task="sentiment")]

    assert labels == ["negative", "neutral", "positive", "positive"]


def test_unknown_sentiment_label_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "text,sentiment\nmeh,mixed\n")

    with pytest.raises(DataFileError) as caught:
        load_examples(path, task="sentiment")

    assert (caught.value.line, caught.value.field) == (2, "sentiment")
    assert "unknown sentiment label 'mixed'" in str(caught.value)
    assert "use negative, neutral or positive" in str(caught.value)


def test_sentiment_labels_follow_the_fixed_order() -> None:
    examples = [Example("x", label, "f", 1) for label in ("positive", "negative", "neutral")]

    assert label_order("sentiment", examples) == ["negative", "neutral", "positive"]


# --- checks ------------------------------------------------------------------------------


def test_duplicates_are_reported_with_both_locations_and_dropped_once() -> None:
    first = Example("hello", "greet", "a.csv", 2)
    repeat = Example("hello", "greet", "b.csv", 7)

    messages = check_examples([first, repeat], min_per_label=1)

    assert messages == [
        "warning: duplicate example 'hello' (greet) at a.csv:2 and b.csv:7; "
        "training uses it once, delete the copy"
    ]
    assert deduplicate([first, repeat]) == [first]


def test_conflicting_labels_for_the_same_normalised_text_are_an_error_listing_both_lines() -> None:
    examples = [
        Example("Where is my order?", "track_order", "a.csv", 2),
        Example("where is my  order", "cancel_order", "a.csv", 9),
    ]

    messages = check_examples(examples, min_per_label=1)

    assert messages == [
        "error: conflicting labels for 'Where is my order?': 'track_order' at a.csv:2; "
        "'cancel_order' at a.csv:9; keep the right one and delete or relabel the others"
    ]
    assert len(find_conflicts(examples)) == 1


def test_labels_with_too_few_examples_are_warned_about_with_the_count() -> None:
    examples = [Example(f"hi {i}", "greet", "a.csv", i) for i in range(5)]
    examples.append(Example("bye", "goodbye", "a.csv", 9))

    messages = check_examples(examples, min_per_label=5)

    assert messages == [
        "warning: label 'goodbye' has only 1 example (at least 5 recommended); "
        "add more or merge it into another label"
    ]


def test_normalised_text_ignores_case_spacing_and_surrounding_punctuation() -> None:
    assert normalise_text("  Where IS my\torder?! ") == "where is my order"


def test_fingerprint_ignores_order_and_changes_with_labels() -> None:
    a = Example("hello", "greet", "a.csv", 2)
    b = Example("bye", "goodbye", "a.csv", 3)

    assert fingerprint([a, b]) == fingerprint([b, a])
    assert fingerprint([a, b]) != fingerprint([a, Example("bye", "greet", "a.csv", 3)])
