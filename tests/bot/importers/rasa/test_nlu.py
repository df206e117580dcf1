"""bot.importers.rasa.nlu: all NLU data merged into one Rasa NLU file, entity annotations,
synonyms, regexes and lookup tables included, and readable by the intent trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.importers.rasa import import_rasa_project
from retrieval.base.datafiles import Yaml12Loader
from retrieval.base.datasets import load_examples
from tests.bot.importers.rasa.helpers import CHITCHAT, MORE_NLU, kinds, warnings_about, write


def items(out: Path) -> list[dict[str, Any]]:
    data = yaml.load((out / "nlu.yml").read_text(encoding="utf-8"), Loader=Yaml12Loader)
    assert data["version"] == "3.1"
    items: list[dict[str, Any]] = data["nlu"]
    return items


def test_examples_keep_their_entity_annotations(imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    by_intent = {item["intent"]: item["examples"] for item in items(out) if "intent" in item}

    assert "- where is my order [NW-12345](order_id)?\n" in by_intent["order_status"]
    assert "- my email is [ada@example.com](email)\n" in by_intent["inform"]
    assert list(by_intent) == summary["intents"]
    assert summary["intents"][:3] == ["greet", "goodbye", "affirm"]
    # The intent trainer reads the words without the markup.
    texts = {e.text for e in load_examples(out / "nlu.yml") if e.label == "order_status"}
    assert "where is my order NW-12345?" in texts
    assert len(load_examples(out / "nlu.yml")) == summary["examples"]


def test_synonyms_regexes_and_lookups_are_kept_after_the_intents(
    imported: tuple[dict[str, Any], Path],
) -> None:
    summary, out = imported
    written = items(out)

    assert written[-2:] == [
        {"synonym": "headphones", "examples": "- earphones\n- headset\n"},
        {"regex": "order_id", "examples": "- NW-\\d{5}\n"},
    ]
    assert not {"synonym", "regex", "lookup"} & kinds(summary)


def test_data_split_over_files_is_merged_without_repeats(project: Path, tmp_path: Path) -> None:
    more = MORE_NLU + (
        "- synonym: headphones\n  examples: |\n    - headset\n    - ear buds\n"
        "- lookup: product\n  examples: |\n    - headphones\n    - kettle\n"
    )
    write(project / "data" / "nlu" / "more.yml", more)

    summary = import_rasa_project(project, tmp_path / "out")

    examples = load_examples(tmp_path / "out" / "nlu.yml")
    greets = [e.text for e in examples if e.label == "greet"]
    assert greets == ["hey", "hello", "hi", "hello there", "good morning", "hiya"]
    assert "have a nice day" in {e.text for e in examples if e.label == "goodbye"}
    written = items(tmp_path / "out")
    assert {"synonym": "headphones", "examples": "- earphones\n- headset\n- ear buds\n"} in written
    assert written[-1] == {"lookup": "product", "examples": "- headphones\n- kettle\n"}
    assert "data/nlu/more.yml" in summary["read"]
    assert warnings_about(summary, "dropped 2 repeated examples")


def test_an_example_under_two_intents_is_kept_under_both_and_reported(
    project: Path, tmp_path: Path
) -> None:
    write(project / "data" / "nlu" / "extra.yml", MORE_NLU.replace("hiya", "great"))

    summary = import_rasa_project(project, tmp_path / "out")

    # As Rasa trains it: under both intents; training refuses it until a person decides.
    labels = {e.label for e in load_examples(tmp_path / "out" / "nlu.yml") if e.text == "great"}
    assert labels == {"greet", "mood_great"}
    [warning] = warnings_about(summary, "'great' is labelled greet and mood_great")
    assert warning.startswith("nlu.yml:")
    assert "frontdesk train intent" in warning


def test_what_the_trainer_cannot_read_is_skipped_with_its_place(
    project: Path, tmp_path: Path
) -> None:
    write(
        project / "data" / "odd_nlu.yml",
        """\
nlu:
- intent: nlu_fallback
  examples: |
    - asdfgh
- intent: inform
  examples: |
    - [](order_id)
    - it is [NW-10005](order_id)
    this line has no dash
- intent: ask_help
  examples: []
""",
    )

    summary = import_rasa_project(project, tmp_path / "out")

    texts = {e.text for e in load_examples(tmp_path / "out" / "nlu.yml")}
    assert "it is NW-10005" in texts
    assert "asdfgh" not in texts and "" not in texts
    assert warnings_about(summary, "data/odd_nlu.yml:2: not imported: examples for nlu_fallback")
    # Empty markup: Rasa reads it as words, Frontdesk's trainer as an empty example.
    assert warnings_about(summary, "'[](order_id)' has no words outside")
    assert warnings_about(summary, "data/odd_nlu.yml:9:", "example line without '- '")
    assert warnings_about(summary, "data/odd_nlu.yml:10: skipped: intent ask_help has no examples")


def test_metadata_is_kept(project: Path, tmp_path: Path) -> None:
    write(
        project / "data" / "meta.yml",
        """\
nlu:
- intent: ask_price
  metadata: {sentiment: neutral}
  examples:
  - text: how much is it
    metadata: {source: chat}
  - text: what does it cost
""",
    )

    import_rasa_project(project, tmp_path / "out")

    [item] = [i for i in items(tmp_path / "out") if i.get("intent") == "ask_price"]
    assert item == {
        "intent": "ask_price",
        "metadata": {"sentiment": "neutral"},
        "examples": [
            {"text": "how much is it", "metadata": {"source": "chat"}},
            {"text": "what does it cost"},
        ],
    }
    texts = {e.text for e in load_examples(tmp_path / "out" / "nlu.yml") if e.label == "ask_price"}
    assert texts == {"how much is it", "what does it cost"}


def test_retrieval_intents_are_reported(project: Path, tmp_path: Path) -> None:
    write(project / "data" / "chitchat.yml", CHITCHAT)

    summary = import_rasa_project(project, tmp_path / "out")

    assert "chitchat/ask_name" in summary["intents"]
    [first, _] = warnings_about(summary, "a retrieval intent")
    assert first.startswith("data/chitchat.yml:3: intent chitchat/ask_name")
    assert "rules and stories name 'chitchat'" in first


def test_markup_the_trainer_would_read_as_words_is_reported(project: Path, tmp_path: Path) -> None:
    example = '[NYC][{"entity": "city"}, {"entity": "airport"}] flights'
    write(
        project / "data" / "multi.yml",
        f"nlu:\n- intent: book_flight\n  examples: |\n    - {example}\n    - fly me away\n",
    )

    summary = import_rasa_project(project, tmp_path / "out")

    # Rasa's list form puts two entities on one span; the example is kept as Rasa wrote it.
    assert f"- {example}\n" in (tmp_path / "out" / "nlu.yml").read_text(encoding="utf-8")
    read = [e for e in load_examples(tmp_path / "out" / "nlu.yml") if e.label == "book_flight"]
    reported = warnings_about(summary, "intent book_flight: the trainer reads")
    if read[0].text == "NYC flights":  # the trainer strips this form of markup
        assert not reported
    else:
        assert [r.split(": ", 1)[0] for r in reported] == [f"nlu.yml:{read[0].line}"]
