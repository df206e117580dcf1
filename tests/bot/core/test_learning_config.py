"""The [learning] section: defaults, values from frontdesk.toml, and errors that name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import Config, ConfigError, LearningSettings, learning_settings


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "frontdesk.toml"
    path.write_text(text, encoding="utf-8")
    return Config.load(path, env={})


def test_without_a_learning_section_the_defaults_apply(tmp_path: Path) -> None:
    assert learning_settings(load(tmp_path, "")) == LearningSettings()


def test_learning_settings_come_from_frontdesk_toml(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[learning]\nlow_confidence = 0.4\nholdout = "eval/pinned.csv"\n'
        'out_of_scope_holdout = ["a.csv", "b.csv"]\nmax_minutes = 20\nmin_intent_support = 8\n',
    )
    settings = learning_settings(config)
    assert settings.low_confidence == 0.4
    assert settings.holdout == (Path("eval/pinned.csv"),)
    assert settings.out_of_scope_holdout == (Path("a.csv"), Path("b.csv"))
    assert (settings.max_minutes, settings.min_intent_support) == (20.0, 8)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        (
            "low_confidence = 1.5",
            "learning.low_confidence=1.5 is invalid: expected a number",
        ),
        ("bad_rating = 'two'", "learning.bad_rating='two' is invalid: expected an integer"),
        ("max_intent_drop = -0.1", "learning.max_intent_drop=-0.1 is invalid"),
        ("holdout = 3", "learning.holdout=3 is invalid: expected a file path or a list"),
        ("colour = 'red'", "learning.colour='red' is unknown: expected one of"),
    ],
)
def test_a_bad_learning_value_names_the_key_the_value_and_the_form(
    tmp_path: Path, line: str, named: str
) -> None:
    config = load(tmp_path, f"[learning]\n{line}\n")
    with pytest.raises(ConfigError) as error:
        learning_settings(config)
    assert named in str(error.value)
