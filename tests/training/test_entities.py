"""training.entities: a CRF learned from Rasa annotations, written beside the intent model,
served by retrieval.models.entities and measured by ``frontdesk eval``."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from retrieval.base.datasets import Example, load_examples
from retrieval.base.modeldir import ENTITIES_MODEL_NAME, ENTITIES_NAME
from retrieval.base.nlu_entities import EntitySpan, load_entity_data
from retrieval.models.entities import EntityExtractor, tokenize
from tests.training.conftest import TrainedModel, tiny_settings
from training.entities import bilou_tags, plan_entities, train_entity_model
from training.evaluate import evaluate
from training.metrics import EntityKey, entity_metrics
from training.train import train

DEPART = '{"entity": "city", "role": "departure"}'
ARRIVE = '{"entity": "city", "role": "destination"}'
CITIES = ["Berlin", "Paris", "London", "Madrid", "Rome", "Vienna", "Oslo", "Lisbon"]
FLIGHTS = [f"fly from [{a}]{DEPART} to [{b}]{ARRIVE}" for a, b in itertools.pairwise(CITIES)] + [
    f"a flight to [{b}]{ARRIVE} from [{a}]{DEPART}"
    for a, b in zip(CITIES[3:], CITIES[:5], strict=True)
]
GREETINGS = ["hello", "hi there", "good morning", "hey bot", "hello friend", "good evening"]
GOODBYES = ["bye", "see you", "goodbye", "farewell", "bye bye", "see you later"]


def nlu_yaml(intents: dict[str, list[str]], extra: str = "") -> str:
    blocks = [
        f"- intent: {name}\n  examples: |\n" + "".join(f"    - {line}\n" for line in lines)
        for name, lines in intents.items()
    ]
    return "version: '3.1'\nnlu:\n" + "".join(blocks) + extra


@pytest.fixture(scope="module")
def flights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flights") / "nlu.yml"
    extra = "- synonym: Rome\n  examples: |\n    - Roma\n"
    text = nlu_yaml({"book": FLIGHTS, "greet": GREETINGS, "bye": GOODBYES}, extra)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def flight_model(flights: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    out = tmp_path_factory.mktemp("flight-model") / "intent"
    # Validating on the training file puts every annotated row on the training side.
    result = train(tiny_settings(flights, out, validation_data=flights))
    return TrainedModel(data=flights, out=out, result=result)


def test_bilou_tags_carry_role_and_group() -> None:
    tokens = tokenize("from New York City to 2 Paris")
    spans = [
        EntitySpan(5, 18, "city", "New York City", role="departure"),
        EntitySpan(22, 23, "count", "2", group="1"),
    ]
    assert bilou_tags(tokens, spans) == [
        "O",
        "B-city#departure",
        "I-city#departure",
        "L-city#departure",
        "O",
        "U-count@1",
        "O",
    ]


def test_a_cut_word_or_an_overlap_is_learned_whole_or_not_at_all_and_warned() -> None:
    tokens = tokenize("order NW-123 now")
    warnings: list[str] = []
    spans = [EntitySpan(6, 8, "prefix", "NW"), EntitySpan(6, 12, "order", "NW-123")]
    assert bilou_tags(tokens, spans, warnings.append) == ["O", "U-prefix", "O"]
    assert len(warnings) == 2
    assert "word boundaries" in warnings[0] and "only the first" in warnings[1]


def test_a_crf_trained_on_a_few_rows_tells_departure_from_destination(
    flights: Path, tmp_path: Path
) -> None:
    data = load_entity_data(flights)
    started = time.perf_counter()
    record = train_entity_model(tmp_path, data, data.examples)
    assert time.perf_counter() - started < 5
    assert record is not None and record["annotations"] == {"city": len(FLIGHTS) * 2}
    extractor = EntityExtractor.load(tmp_path)
    assert extractor is not None

    found = extractor.extract("fly from Berlin to Roma")

    assert [(e["value"], e["role"], e["start"], e["end"]) for e in found] == [
        ("Berlin", "departure", 9, 15),
        ("Rome", "destination", 19, 23),
    ]
    assert found[1]["processors"] == ["EntitySynonymMapper"]
    assert {e["extractor"] for e in found} == {"CRFEntityExtractor"}


def test_nothing_is_written_without_annotations(tmp_path: Path) -> None:
    path = tmp_path / "nlu.yml"
    path.write_text(nlu_yaml({"greet": GREETINGS}), encoding="utf-8")
    data = load_entity_data(path)
    assert train_entity_model(tmp_path, data, data.examples) is None
    assert not (tmp_path / ENTITIES_NAME).exists()
    assert not (tmp_path / ENTITIES_MODEL_NAME).exists()


def test_the_crf_learns_from_the_intent_models_training_rows_only(flights: Path) -> None:
    data = load_entity_data(flights)
    rows = load_examples(flights)
    train_rows, validation_rows = rows[:4], rows[4:]
    job = plan_entities(data, train_rows, validation_rows)
    assert job is not None
    assert [e.text for e in job.train] == [r.text for r in train_rows]
    assert [e.text for e in job.validation] == [r.text for r in validation_rows]
    unannotated = [r for r in rows if r.label != "book"]
    assert plan_entities(data, unannotated, rows[:1]) is None
    elsewhere = Example("fly from Berlin to Paris", "book", "other.yml", 1)
    assert plan_entities(data, [elsewhere, *unannotated], []) is None


def test_entity_metrics_count_exact_spans_names_and_roles() -> None:
    berlin: EntityKey = (9, 15, "city", "departure", None)
    paris: EntityKey = (19, 24, "city", "destination", None)
    wrong_role: EntityKey = (19, 24, "city", "departure", None)
    count: EntityKey = (0, 1, "count", None, "1")
    gold: list[set[EntityKey]] = [{berlin, paris}, {count}]
    predicted: list[set[EntityKey]] = [{berlin, wrong_role}, set()]
    metrics = entity_metrics(gold, predicted)
    assert metrics["precision"] == 0.5
    assert metrics["recall"] == pytest.approx(1 / 3)
    assert metrics["f1"] == pytest.approx(0.4)
    assert (metrics["support"], metrics["predicted"], metrics["n"]) == (3, 2, 2)
    assert metrics["per_entity"]["city"]["recall"] == 0.5
    assert metrics["per_entity"]["count"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }


@pytest.mark.slow
def test_train_intent_writes_the_entity_model_and_its_figures(flight_model: TrainedModel) -> None:
    out = flight_model.out
    assert (out / ENTITIES_MODEL_NAME).is_file()
    resources = json.loads((out / ENTITIES_NAME).read_text(encoding="utf-8"))
    assert resources["entities"] == ["city"]
    assert resources["synonyms"] == {"roma": "Rome"}
    entities = flight_model.result["entities"]
    assert entities["training"]["annotated_examples"] == len(FLIGHTS)
    assert entities["validation"]["f1"] == 1.0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["entities"]["per_entity"]["city"]["support"] == len(FLIGHTS) * 2
    assert "## Entities" in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_eval_intent_reports_entity_figures_for_annotated_data(
    flight_model: TrainedModel, tmp_path: Path
) -> None:
    test = tmp_path / "test.yml"
    test.write_text(
        nlu_yaml(
            {
                "book": [f"fly from [Oslo]{DEPART} to [Rome]{ARRIVE}"],
                "greet": ["hello there"],
            }
        ),
        encoding="utf-8",
    )

    result = evaluate("intent", flight_model.out, test, report_dir=tmp_path / "report")

    assert result["entities"]["support"] == 2
    assert result["entities"]["f1"] == 1.0
    assert set(result["entities"]["per_entity"]) == {"city"}
    report = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Entities" in report and "### Entity mistakes (0 of 0)" in report


@pytest.mark.slow
def test_eval_of_a_model_without_entities_finds_none_of_the_annotated(
    tiny_intent_model: TrainedModel, flights: Path, tmp_path: Path
) -> None:
    result = evaluate("intent", tiny_intent_model.out, flights, report_dir=tmp_path)
    assert result["entities"]["recall"] == 0.0
    assert result["entities"]["support"] == len(FLIGHTS) * 2
    assert "'Berlin' as city (departure)" in (tmp_path / "report.md").read_text("utf-8")


@pytest.mark.slow
def test_eval_of_unannotated_data_has_no_entity_figures(
    flight_model: TrainedModel, tmp_path: Path
) -> None:
    test = tmp_path / "test.csv"
    test.write_text("text,intent\nhello,greet\nbye,bye\n", encoding="utf-8")
    assert "entities" not in evaluate("intent", flight_model.out, test, report_dir=tmp_path)
