"""training.settings: every invalid setting names the field, the value and the expected form;
the defaults follow the data and the base model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.settings import (
    MAX_EPOCHS,
    TrainSettings,
    default_epochs,
    default_learning_rate,
    default_patience,
    default_recipe,
    plans_refit,
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "nlu.csv"
    path.write_text("text,intent\nhello,greet\n", encoding="utf-8")
    return path


def settings(data: Path, **overrides: Any) -> TrainSettings:
    return TrainSettings(**{"task": "intent", "data": data, "out": data.parent / "m", **overrides})


def test_valid_settings_keep_defaults_and_turn_strings_into_paths(data: Path) -> None:
    made = TrainSettings(task="intent", data=str(data), out=str(data.parent / "m"))  # type: ignore[arg-type]

    assert made.data == data and isinstance(made.out, Path)
    assert (made.seed, made.resume, made.quiet, made.epochs) == (42, False, False, None)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("task", "ner", "expected one of intent, sentiment"),
        ("epochs", 0, "expected a number of epochs greater than 0"),
        ("epochs", float("nan"), "expected a number of epochs greater than 0"),
        ("max_minutes", -1, "expected a number of minutes greater than 0"),
        ("learning_rate", 2.0, "expected a number between 0 and 1"),
        ("batch_size", 0, "expected a whole number from 1 to 4096"),
        ("batch_size", True, "expected a whole number from 1 to 4096"),
        ("max_length", 4, "expected a whole number of tokens, 8 to 512"),
        ("seed", -1, "expected a whole number from 0 to 4294967295"),
        ("peft", "qlora", "expected None or one of lora"),
        ("text_column", " ", "expected a column name"),
        ("resume", "yes", "expected true or false"),
        ("sparse", 1, "expected true or false"),
        ("label_smoothing", 1.0, "expected a number from 0 (off) to below 1"),
        ("label_smoothing", -0.1, "expected a number from 0 (off) to below 1"),
        ("reject_target", "5%", "expected auto, an in-scope rejection rate"),
        ("reject_target", 0.02, "expected a string such as auto, in-scope=0.02"),
        ("refit", "auto", "expected true, false, or None for the default"),
    ],
)
def test_invalid_setting_error_names_field_value_and_expected_form(
    data: Path, field: str, value: Any, expected: str
) -> None:
    with pytest.raises(ValueError) as caught:
        settings(data, **{field: value})

    assert str(caught.value).startswith(f"{field}: got {value!r}, {expected}")


def test_missing_data_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^data: got .*missing.csv'\), expected an existing"):
        TrainSettings(task="intent", data=tmp_path / "missing.csv", out=tmp_path / "m")


def test_base_model_must_be_a_local_checkpoint_directory(data: Path) -> None:
    with pytest.raises(ValueError, match=r"^base_model: .*nothing is downloaded"):
        settings(data, base_model=Path("bert-base-uncased"))


def test_missing_validation_file_is_named(data: Path) -> None:
    with pytest.raises(ValueError, match=r"^validation_data: got"):
        settings(data, validation_data=data.parent / "nope.csv")


def test_default_epochs_give_small_data_more_passes_within_bounds() -> None:
    assert default_epochs(10) == 30  # a moodbot-size project needs many passes
    assert default_epochs(300) == 20
    assert default_epochs(1292) == 5  # the demo intents' training split
    assert default_epochs(3999) == 2


def test_large_data_gets_the_recipe_the_banking77_benchmark_found_best(data: Path) -> None:
    recipe = default_recipe(settings(data), 8503, on_gpu=False)

    assert (recipe.epochs, recipe.batch_size, recipe.label_smoothing) == (10.0, 32, 0.1)
    assert (recipe.train_seconds, recipe.fills_budget) == (None, False)


def test_small_data_keeps_the_small_data_recipe(data: Path) -> None:
    recipe = default_recipe(settings(data), 1292, on_gpu=False)

    assert (recipe.epochs, recipe.batch_size, recipe.label_smoothing) == (5.0, 16, 0.0)


def test_a_time_budget_plans_the_most_epochs_and_keeps_time_for_what_follows(data: Path) -> None:
    recipe = default_recipe(settings(data, max_minutes=30), 8503, on_gpu=False, spent_seconds=12)

    assert recipe.fills_budget and recipe.epochs == MAX_EPOCHS
    assert recipe.train_seconds is not None
    assert 0.9 * 1800 - 12 < recipe.train_seconds < 1800 - 12


def test_what_the_user_sets_wins_over_the_recipe(data: Path) -> None:
    given = settings(data, max_minutes=30, epochs=3, batch_size=8, label_smoothing=0.0)

    recipe = default_recipe(given, 8503, on_gpu=False)

    assert (recipe.epochs, recipe.batch_size, recipe.label_smoothing) == (3.0, 8, 0.0)
    assert not recipe.fills_budget  # the budget only cuts a schedule that would not fit


def test_refit_is_the_default_from_2000_training_examples_with_a_split_made_here(
    data: Path,
) -> None:
    assert plans_refit(settings(data), 2000)
    assert not plans_refit(settings(data), 1999)  # the demo's 1,362 train on their split
    # A validation file of the user's own is kept apart unless a refit is asked for.
    assert not plans_refit(settings(data, validation_data=data), 8503)
    assert plans_refit(settings(data, validation_data=data, refit=True), 10)
    assert not plans_refit(settings(data, refit=False), 8503)


def test_long_runs_on_small_data_get_more_patience() -> None:
    assert default_patience(5) == 2
    assert default_patience(30) == 6


def test_default_learning_rate_is_higher_for_small_models(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"hidden_size": 384}', encoding="utf-8")
    small = default_learning_rate(tmp_path)
    (tmp_path / "config.json").write_text('{"hidden_size": 768}', encoding="utf-8")

    assert (small, default_learning_rate(tmp_path)) == (2e-4, 5e-5)
