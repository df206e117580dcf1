"""retrieval.models.entities: Rasa's tokenizer, the CRF's tags and features, the files, and
the extractor's output in Rasa's entity shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.base.modeldir import ENTITIES_MODEL_NAME, ENTITIES_NAME, ModelDirError
from retrieval.base.nlu_entities import load_entity_data
from retrieval.models.entities import (
    CRF_EXTRACTOR,
    REGEX_EXTRACTOR,
    EntityExtractor,
    Match,
    Patterns,
    Resources,
    Tag,
    Token,
    parse_tag,
    read_resources,
    tag_name,
    token_features,
    tokenize,
    write_resources,
)
from training.entities import train_entity_model

NLU = """\
nlu:
- intent: order
  examples: |
    - i want [chinese](cuisine) food
    - i want [thai](cuisine) food
    - i want [italian](cuisine) food please
    - do you have [greek](cuisine) food
    - [gastro pub](cuisine:gastropub) food
    - a table [outside](seating)
    - a table [inside](seating) please
    - my account is 1234567890
    - hello there
- lookup: seating
  examples: |
    - outside
    - inside
    - on the terrace
- regex: account
  examples: |
    - \\b\\d{10}\\b
"""


@pytest.fixture(scope="module")
def extractor(tmp_path_factory: pytest.TempPathFactory) -> EntityExtractor:
    root = tmp_path_factory.mktemp("entities")
    (root / "nlu.yml").write_text(NLU, encoding="utf-8")
    data = load_entity_data(root / "nlu.yml")
    train_entity_model(root, data, data.examples)
    loaded = EntityExtractor.load(root)
    assert loaded is not None
    return loaded


def test_the_tokenizer_drops_surrounding_punctuation_and_keeps_offsets() -> None:
    text = "Hi, NW-12345 costs 10'000.00 (a@b.com)?"
    tokens = tokenize(text)
    assert [t.text for t in tokens] == ["Hi", "NW-12345", "costs", "10'000.00", "a@b.com"]
    assert all(text[t.start : t.end] == t.text for t in tokens)
    assert tokenize("   ") == []
    assert tokenize(":)") == [Token(":)", 0, 2)]


@pytest.mark.parametrize(
    "tag",
    [
        Tag("U", "city"),
        Tag("B", "city", role="departure"),
        Tag("L", "item", group="1"),
        Tag("I", "odd#name@x%", role="r#1", group="g@2"),
    ],
)
def test_tag_names_round_trip(tag: Tag) -> None:
    assert parse_tag(tag_name(*tag)) == tag


def test_tag_names_read_as_documented() -> None:
    assert tag_name("B", "city", "departure") == "B-city#departure"
    assert tag_name("U", "item", None, "1") == "U-item@1"
    assert parse_tag("O") is None


def test_features_describe_the_word_its_neighbours_and_pattern_matches() -> None:
    tokens = tokenize("from Berlin to Paris")
    rows = token_features(tokens, [Match("city", 5, 11)])
    berlin = set(rows[1])
    assert {"low=berlin", "title", "shape=Xx", "suf3=lin", "pattern=city"} <= berlin
    assert {"-1:low=from", "+1:low=to", "+2:low=paris"} <= berlin
    assert "+1:pattern=city" not in berlin  # "to" matches nothing
    assert "-1:pattern=city" in rows[2]
    assert "BOS" in rows[0] and "EOS" in rows[3]


def test_lookups_match_whole_words_longest_first_ignoring_case() -> None:
    patterns = Patterns.build(Resources(lookups={"seating": ("on the terrace", "terrace")}))
    assert patterns.matches("On the Terrace please, not a terraced house") == [
        Match("seating", 0, 14)
    ]


def test_the_extractor_gives_rasa_shaped_crf_entities(extractor: EntityExtractor) -> None:
    (entity,) = extractor.extract("i want indian food")
    assert entity["entity"] == "cuisine" and entity["value"] == "indian"
    assert (entity["start"], entity["end"]) == (7, 13)
    assert entity["extractor"] == CRF_EXTRACTOR
    assert 0.0 < entity["confidence_entity"] <= 1.0
    assert "processors" not in entity and "role" not in entity


def test_synonyms_replace_the_value_and_say_so(extractor: EntityExtractor) -> None:
    (entity,) = extractor.extract("gastro pub food")
    assert entity["value"] == "gastropub"
    assert entity["processors"] == ["EntitySynonymMapper"]
    assert (entity["start"], entity["end"]) == (0, 10)


def test_lookups_of_annotated_entities_extract_and_other_patterns_only_inform(
    extractor: EntityExtractor,
) -> None:
    found = extractor.extract("can we sit on the terrace, account 9876543210")
    assert [(e["entity"], e["value"], e["extractor"]) for e in found] == [
        ("seating", "on the terrace", REGEX_EXTRACTOR)
    ]


def test_nothing_is_found_in_an_empty_text(extractor: EntityExtractor) -> None:
    assert extractor.extract("") == []
    assert extractor.extract("   ") == []


def test_a_model_directory_without_entities_has_no_extractor(tmp_path: Path) -> None:
    assert EntityExtractor.load(tmp_path) is None
    assert read_resources(tmp_path) is None


def test_resources_round_trip(tmp_path: Path) -> None:
    resources = Resources(
        entities=("city",),
        synonyms={"ny": "New York"},
        lookups={"city": ("Berlin",)},
        regexes={"zip": (r"\d{5}",)},
        training={"examples": 3},
    )
    write_resources(tmp_path, resources)
    assert read_resources(tmp_path) == resources


def test_resources_without_the_crf_are_refused(tmp_path: Path) -> None:
    write_resources(tmp_path, Resources(entities=("city",)))
    with pytest.raises(ModelDirError, match=f"{ENTITIES_MODEL_NAME} is missing"):
        EntityExtractor.load(tmp_path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "expected JSON"),
        ('{"format_version": 99}', "format_version 99"),
        ('{"format_version": 1, "entities": "city"}', "entities expected a list"),
        ('{"format_version": 1, "regexes": {"x": ["("]}}', "a regex does not compile"),
    ],
)
def test_a_broken_resources_file_says_to_retrain(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / ENTITIES_NAME).write_text(content, encoding="utf-8")
    with pytest.raises(ModelDirError, match=problem) as caught:
        read_resources(tmp_path)
    assert "retrain" in str(caught.value)


def test_a_corrupt_crf_is_refused(tmp_path: Path) -> None:
    write_resources(tmp_path, Resources(entities=("city",)))
    (tmp_path / ENTITIES_MODEL_NAME).write_bytes(b"not a model")
    with pytest.raises(ModelDirError, match="cannot be read"):
        EntityExtractor.load(tmp_path)


def test_entities_json_is_plain_json(extractor: EntityExtractor, tmp_path: Path) -> None:
    write_resources(tmp_path, extractor.resources)
    raw = json.loads((tmp_path / ENTITIES_NAME).read_text(encoding="utf-8"))
    assert raw["format_version"] == 1
    assert raw["entities"] == ["cuisine", "seating"]
    assert raw["lookups"]["seating"] == ["outside", "inside", "on the terrace"]
