"""retrieval.base.datafiles: CSV/TSV/JSONL/YAML readers whose errors name file:line, field, fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.base.datafiles import (
    DataFileError,
    Row,
    load_yaml,
    pick_column,
    read_rows,
    required_text,
    yaml_line_index,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_rows_carry_the_line_they_start_on(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "text,intent\nhello,greet\nbye,goodbye\n")

    header, rows = read_rows(path)

    assert header == ["text", "intent"]
    assert rows == [
        Row(2, {"text": "hello", "intent": "greet"}),
        Row(3, {"text": "bye", "intent": "goodbye"}),
    ]


def test_a_quoted_multi_line_csv_field_keeps_the_line_where_its_row_starts(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "d.csv",
        'text,intent\n"first line\nsecond line\nthird line",greet\nbye,goodbye\n',
    )

    _, rows = read_rows(path)

    assert rows == [
        Row(2, {"text": "first line\nsecond line\nthird line", "intent": "greet"}),
        Row(5, {"text": "bye", "intent": "goodbye"}),
    ]


def test_blank_lines_are_skipped_without_shifting_later_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "\ntext,intent\nhello,greet\n\n\nbye,goodbye\n")

    header, rows = read_rows(path)

    assert header == ["text", "intent"]
    assert [(row.line, row.values["text"]) for row in rows] == [(3, "hello"), (6, "bye")]


def test_header_names_are_stripped_and_a_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes("\ufeff text , intent \nhi,greet\n".encode())

    header, rows = read_rows(path)

    assert header == ["text", "intent"]
    assert rows[0].values == {"text": "hi", "intent": "greet"}


def test_a_short_csv_row_leaves_the_missing_fields_none(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "text,intent\nhello\n")

    _, rows = read_rows(path)

    assert rows == [Row(2, {"text": "hello", "intent": None})]


def test_tsv_files_are_split_on_tabs(tmp_path: Path) -> None:
    path = write(tmp_path, "d.tsv", "text\tintent\nhello, there\tgreet\n")

    header, rows = read_rows(path)

    assert header == ["text", "intent"]
    assert rows == [Row(2, {"text": "hello, there", "intent": "greet"})]


def test_a_csv_row_with_too_many_fields_names_file_line_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "text,intent\nhello,greet\nhello, world,greet\n")

    with pytest.raises(DataFileError) as caught:
        read_rows(path)

    assert str(caught.value) == (
        f"{path}:3: 3 fields but the header has 2. Fix: quote values that contain the delimiter"
    )
    assert caught.value.line == 3
    assert caught.value.path == str(path)


def test_an_empty_csv_file_says_to_add_a_header(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "")

    with pytest.raises(DataFileError) as caught:
        read_rows(path)

    assert str(caught.value) == f"{path}:1: the file is empty. Fix: add a header row"


def test_a_csv_file_with_only_a_header_has_no_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "text,intent\n")

    assert read_rows(path) == (["text", "intent"], [])


def test_a_csv_file_that_is_not_utf8_says_to_save_it_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes("text,intent\ncaf\xe9,greet\n".encode("latin-1"))

    with pytest.raises(DataFileError) as caught:
        read_rows(path)

    assert str(caught.value) == (
        f"{path}: not UTF-8 text (invalid continuation byte). Fix: save it as UTF-8"
    )


def test_a_csv_field_over_the_size_limit_is_reported_as_malformed_with_its_line(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "d.csv", "text,intent\nhi,greet\n" + "x" * 200_000 + ",greet\n")

    with pytest.raises(DataFileError) as caught:
        read_rows(path)

    assert str(caught.value).startswith(f"{path}:3: malformed CSV: field larger than field limit")
    assert str(caught.value).endswith(". Fix: check quoting")


def test_jsonl_rows_carry_their_line_and_the_header_is_keys_in_first_seen_order(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "d.jsonl",
        '{"text": "hello", "intent": "greet"}\n\n{"intent": "bye", "text": "ciao", "lang": "it"}\n',
    )

    header, rows = read_rows(path)

    assert header == ["text", "intent", "lang"]
    assert rows == [
        Row(1, {"text": "hello", "intent": "greet"}),
        Row(3, {"intent": "bye", "text": "ciao", "lang": "it"}),
    ]


def test_a_jsonl_string_holding_a_line_separator_character_stays_one_record(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "d.ndjson", '{"text": "a\u2028b"}\n{"text": "c"}\n')

    _, rows = read_rows(path)

    assert rows == [Row(1, {"text": "a\u2028b"}), Row(2, {"text": "c"})]


def test_invalid_json_on_a_line_names_file_line_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"text": "ok"}\n{"text": oops}\n')

    with pytest.raises(DataFileError) as caught:
        read_rows(path)

    assert str(caught.value) == (
        f"{path}:2: invalid JSON (Expecting value). Fix: one JSON object per line"
    )


def test_a_jsonl_line_that_is_not_an_object_names_what_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '["text", "intent"]\n')

    with pytest.raises(DataFileError) as caught:
        read_rows(path)

    assert str(caught.value) == (
        f"{path}:1: expected a JSON object, got list. Fix: one JSON object per line"
    )


def test_an_unsupported_suffix_lists_the_supported_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "d.xlsx", "whatever")

    with pytest.raises(DataFileError) as caught:
        read_rows(path)

    assert (
        str(caught.value) == f"{path}: unsupported file type '.xlsx'. Fix: use .csv, .tsv or .jsonl"
    )


def test_a_file_without_suffix_is_unsupported_with_none_named(tmp_path: Path) -> None:
    path = write(tmp_path, "data", "text,intent\n")

    with pytest.raises(DataFileError, match=r"unsupported file type '\(none\)'"):
        read_rows(path)


def test_a_missing_file_says_to_check_the_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"

    with pytest.raises(DataFileError) as caught:
        read_rows(path)

    assert str(caught.value) == f"{path}: file not found. Fix: check the path"


def test_pick_column_returns_the_first_candidate_present() -> None:
    assert pick_column(
        "d.csv", ["text", "label"], ["intent", "category", "label"], role="intent"
    ) == ("label")


def test_pick_column_without_a_match_names_candidates_found_columns_and_fix() -> None:
    with pytest.raises(DataFileError) as caught:
        pick_column("d.csv", ["text", "topic"], ["intent", "category", "label"], role="intent")

    assert str(caught.value) == (
        "d.csv:1: no intent column: expected one of intent, category, label; found text, topic. "
        "Fix: rename the intent column in the header"
    )


def test_pick_column_on_a_headerless_file_says_no_columns() -> None:
    with pytest.raises(DataFileError, match="found no columns"):
        pick_column("d.csv", [], ["text"], role="text")


def test_required_text_strips_and_stringifies_the_value() -> None:
    assert required_text("d.csv", Row(2, {"text": "  hi  "}), "text") == "hi"
    assert required_text("d.jsonl", Row(2, {"text": 42}), "text") == "42"


@pytest.mark.parametrize("value", ["", "   ", None])
def test_required_text_on_a_blank_value_names_file_line_field_and_fix(value: str | None) -> None:
    with pytest.raises(DataFileError) as caught:
        required_text("d.csv", Row(7, {"text": value, "intent": "greet"}), "text")

    assert (
        str(caught.value)
        == "d.csv:7 (field 'text'): empty value. Fix: fill it in or delete the row"
    )
    assert caught.value.field == "text"
    assert caught.value.fix == "fill it in or delete the row"


def test_required_text_on_a_missing_column_is_an_empty_value() -> None:
    with pytest.raises(DataFileError, match=r"d\.jsonl:3 \(field 'text'\): empty value"):
        required_text("d.jsonl", Row(3, {"intent": "greet"}), "text")


def test_required_text_on_a_structured_value_says_to_use_a_string() -> None:
    with pytest.raises(DataFileError) as caught:
        required_text("d.jsonl", Row(4, {"text": ["a", "b"]}), "text")

    assert (
        str(caught.value) == "d.jsonl:4 (field 'text'): expected text, got list. Fix: use a string"
    )


def test_data_file_error_without_line_or_fix_is_just_file_and_problem() -> None:
    error = DataFileError("x.yml", "something odd")

    assert str(error) == "x.yml: something odd"
    assert isinstance(error, ValueError)


def test_load_yaml_parses_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yml", "greet:\n  - Hello {name}!\n")

    assert load_yaml(path) == {"greet": ["Hello {name}!"]}


def test_load_yaml_of_an_empty_file_is_none(tmp_path: Path) -> None:
    assert load_yaml(write(tmp_path, "r.yml", "")) is None


def test_invalid_yaml_names_the_line_of_the_problem_and_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yml", "greet:\n  - hello\nbye: [unclosed\nthanks: x\n")

    with pytest.raises(DataFileError) as caught:
        load_yaml(path)

    assert caught.value.line == 4
    assert str(caught.value).startswith(f"{path}:4: invalid YAML: ")
    assert str(caught.value).endswith(". Fix: check the indentation")


def test_a_tab_indented_yaml_file_reports_the_tab_line(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yml", "greet:\n  - hello\n\t- bye\n")

    with pytest.raises(DataFileError) as caught:
        load_yaml(path)

    assert str(caught.value) == (
        f"{path}:3: invalid YAML: found character '\\t' that cannot start any token. "
        "Fix: check the indentation"
    )


def test_load_yaml_of_a_missing_file_says_to_check_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"missing\.yml: file not found\. Fix: check the path"):
        load_yaml(tmp_path / "missing.yml")


def test_yaml_line_index_gives_the_first_line_of_each_needle(tmp_path: Path) -> None:
    path = write(tmp_path, "nlu.yml", "nlu:\n- intent: greet\n- intent: bye\n- intent: greet\n")

    assert dict(yaml_line_index(path, ["intent: greet", "intent: bye", "absent"])) == {
        "intent: greet": 2,
        "intent: bye": 3,
    }
