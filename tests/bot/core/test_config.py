"""bot.core.config: defaults, then frontdesk.toml, then FRONTDESK_* variables, then overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.core.config import Config, ConfigError


@pytest.fixture(autouse=True)
def _no_stray_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Config.load looks for ./frontdesk.toml: run every test where there is none.
    monkeypatch.chdir(tmp_path)


def write_toml(tmp_path: Path, text: str, name: str = "frontdesk.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_without_file_or_variables_gives_the_documented_defaults() -> None:
    config = Config.load(env={})

    assert config == Config()
    assert config.host == "127.0.0.1"
    assert config.port == 8080
    assert config.database_url == "sqlite+aiosqlite:///var/frontdesk.sqlite3"
    assert config.redis_url == ""
    assert config.models_dir == Path("models")
    assert config.data_dir == Path("data")
    assert config.intent_model is None
    assert config.retrieval_threshold == 0.55
    assert config.fallbacks_before_handoff == 2
    assert config.batch_max_size == 32
    assert config.rate_limit_per_sender == 60
    assert config.rate_limit_per_ip == 600
    assert config.mask_pii_in_storage is True
    assert config.log_level == "INFO"
    assert config.quantization == "auto"
    assert config.extra == {}


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().port = 1  # type: ignore[misc]


def test_toml_sections_are_flattened_into_settings(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
log_level = "DEBUG"

[server]
host = "0.0.0.0"
port = 9000

[storage]
database_url = "postgresql+asyncpg://frontdesk@db/frontdesk"

[models]
models_dir = "/srv/models"

[policy]
retrieval_threshold = 0.7

[limits]
rate_limit_per_sender = 10
mask_pii_in_storage = true
""",
    )

    config = Config.load(path, env={})

    assert config.host == "0.0.0.0"
    assert config.port == 9000
    assert config.database_url == "postgresql+asyncpg://frontdesk@db/frontdesk"
    assert config.models_dir == Path("/srv/models")
    assert config.retrieval_threshold == 0.7
    assert config.rate_limit_per_sender == 10
    assert config.mask_pii_in_storage is True
    assert config.log_level == "DEBUG"


def test_toml_sections_that_are_not_settings_groups_are_kept_in_extra(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
[alerts]
window_minutes = 15
negative_share = 0.4
""",
    )

    config = Config.load(path, env={})

    assert config.extra == {"alerts": {"window_minutes": 15, "negative_share": 0.4}}


def test_frontdesk_toml_in_the_working_directory_is_read_without_being_named(
    tmp_path: Path,
) -> None:
    write_toml(tmp_path, "[server]\nport = 9001\n")

    assert Config.load(env={}).port == 9001


def test_frontdesk_config_variable_names_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "port = 9002\n", name="elsewhere.toml")

    assert Config.load(env={"FRONTDESK_CONFIG": str(path)}).port == 9002


def test_environment_variables_override_the_toml_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[server]\nport = 9000\nhost = "0.0.0.0"\n')

    config = Config.load(
        path,
        env={
            "FRONTDESK_PORT": "9100",
            "FRONTDESK_MASK_PII_IN_STORAGE": "yes",
            "FRONTDESK_BATCH_WAIT_MS": "0.5",
            "FRONTDESK_INTENT_MODEL": "/models/intent-v2",
        },
    )

    assert config.port == 9100
    assert config.host == "0.0.0.0"  # not overridden, so the file's value stays
    assert config.mask_pii_in_storage is True
    assert config.batch_wait_ms == 0.5
    assert config.intent_model == Path("/models/intent-v2")


def test_keyword_overrides_beat_environment_variables_and_none_means_not_given() -> None:
    config = Config.load(
        env={"FRONTDESK_PORT": "9100", "FRONTDESK_HOST": "0.0.0.0"}, port=9200, host=None
    )

    assert config.port == 9200
    assert config.host == "0.0.0.0"


def test_unknown_frontdesk_variables_and_other_variables_are_ignored() -> None:
    config = Config.load(env={"FRONTDESK_NO_SUCH_SETTING": "1", "PORT": "1", "HOME": "/root"})

    assert config == Config()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("off", False),
        ("no", False),
        ("", False),
    ],
)
def test_boolean_variables_accept_the_usual_spellings(raw: str, expected: bool) -> None:
    config = Config.load(env={"FRONTDESK_MASK_PII_IN_STORAGE": raw})

    assert config.mask_pii_in_storage is expected


def test_an_empty_variable_unsets_an_optional_path() -> None:
    config = Config.load(env={"FRONTDESK_INTENT_MODEL": ""})

    assert config.intent_model is None


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError, match=r"^config file .*nope\.toml does not exist$"):
        Config.load(missing, env={})


def test_frontdesk_config_naming_a_missing_file_is_an_error_not_silently_ignored(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "typo.toml"

    with pytest.raises(ConfigError, match=r"typo\.toml does not exist"):
        Config.load(env={"FRONTDESK_CONFIG": str(missing)})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "port = = 1\n")

    with pytest.raises(ConfigError) as caught:
        Config.load(path, env={})

    assert str(caught.value).startswith(f"{path}: invalid TOML (")
    assert str(caught.value).endswith("); fix the syntax")


def test_a_settings_section_that_is_not_a_table_is_an_error(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "server = 5\n")

    with pytest.raises(ConfigError) as caught:
        Config.load(path, env={})

    assert str(caught.value) == f"{path}: [server] must be a table, got 5"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"FRONTDESK_PORT": "eighty"},
            "setting port='eighty' is invalid: expected an integer "
            "(set it in frontdesk.toml or FRONTDESK_PORT)",
        ),
        (
            {"FRONTDESK_RETRIEVAL_THRESHOLD": "high"},
            "setting retrieval_threshold='high' is invalid: expected a number "
            "(set it in frontdesk.toml or FRONTDESK_RETRIEVAL_THRESHOLD)",
        ),
        (
            {"FRONTDESK_MASK_PII_IN_STORAGE": "maybe"},
            "setting mask_pii_in_storage='maybe' is invalid: expected true or false "
            "(set it in frontdesk.toml or FRONTDESK_MASK_PII_IN_STORAGE)",
        ),
        (
            {"FRONTDESK_PORT": "70000"},
            "setting port=70000 is invalid: expected a TCP port between 0 and 65535",
        ),
        (
            {"FRONTDESK_DATABASE_URL": "mysql://root@db/frontdesk"},
            "setting database_url='mysql://root@db/frontdesk' is invalid: expected "
            "'sqlite+aiosqlite:///PATH' or 'postgresql+asyncpg://USER@HOST/DB'",
        ),
        (
            {"FRONTDESK_RETRIEVAL_THRESHOLD": "1.5"},
            "setting retrieval_threshold=1.5 is invalid: expected a cosine similarity "
            "between -1 and 1",
        ),
        (
            {"FRONTDESK_BATCH_MAX_SIZE": "0"},
            "setting batch_max_size=0 is invalid: expected a positive integer",
        ),
        (
            {"FRONTDESK_RATE_LIMIT_PER_SENDER": "-1"},
            "setting rate_limit_per_sender=-1 is invalid: expected an integer >= 0 "
            "(0 turns it off)",
        ),
        (
            {"FRONTDESK_ACTION_TIMEOUT_S": "-2"},
            "setting action_timeout_s=-2.0 is invalid: expected a number of "
            "seconds/milliseconds >= 0",
        ),
        (
            {"FRONTDESK_LOG_LEVEL": "LOUD"},
            "setting log_level='LOUD' is invalid: expected one of DEBUG, INFO, WARNING, ERROR",
        ),
        (
            {"FRONTDESK_QUANTIZATION": "int4"},
            "setting quantization='int4' is invalid: expected one of auto (int8-row where the "
            "CPU multiplies int8 fast, else off), int8-row (a message's "
            "labels do not depend on its batch), int8-batch (about a tenth more throughput; "
            "labels may move with the batch) or off (fp32)",
        ),
    ],
    ids=[
        "port-not-a-number",
        "threshold-not-a-number",
        "bool-not-a-bool",
        "port-out-of-range",
        "database-url-scheme",
        "threshold-out-of-range",
        "batch-size-zero",
        "rate-limit-negative",
        "timeout-negative",
        "log-level-unknown",
        "quantization-unknown",
    ],
)
def test_a_bad_value_raises_config_error_naming_key_value_and_expected_form(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.load(env=env)

    assert str(caught.value) == message


def test_a_toml_value_of_the_wrong_type_names_key_value_and_expected_form(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[server]\nport = 8080.5\n")

    with pytest.raises(ConfigError) as caught:
        Config.load(path, env={})

    assert str(caught.value) == (
        "setting port=8080.5 is invalid: expected an integer "
        "(set it in frontdesk.toml or FRONTDESK_PORT)"
    )


def test_a_toml_list_for_a_text_setting_is_rejected_as_not_a_string(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[server]\nhost = [1, 2]\n")

    with pytest.raises(ConfigError) as caught:
        Config.load(path, env={})

    assert str(caught.value) == (
        "setting host=[1, 2] is invalid: expected a string "
        "(set it in frontdesk.toml or FRONTDESK_HOST)"
    )


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_model_and_data_paths_derive_from_models_dir_and_data_dir() -> None:
    config = Config(models_dir=Path("/srv/models"), data_dir=Path("/srv/data"))

    assert config.intent_model_path == Path("/srv/models/intent")
    assert config.sentiment_model_path == Path("/srv/models/sentiment")
    assert config.index_path == Path("/srv/models/index")
    assert config.responses_path == Path("/srv/data/responses.yml")
    assert config.domain_path == Path("/srv/data/domain.yml")


def test_explicit_paths_win_over_derived_ones() -> None:
    config = Config(
        intent_model=Path("/a/intent"),
        sentiment_model=Path("/a/sentiment"),
        index=Path("/a/index"),
        responses=Path("/a/responses.yml"),
        domain=Path("/a/domain.yml"),
    )

    assert config.intent_model_path == Path("/a/intent")
    assert config.sentiment_model_path == Path("/a/sentiment")
    assert config.index_path == Path("/a/index")
    assert config.responses_path == Path("/a/responses.yml")
    assert config.domain_path == Path("/a/domain.yml")


def test_sqlite_path_is_the_file_of_a_sqlite_url_and_none_for_postgresql() -> None:
    assert Config().sqlite_path == Path("var/frontdesk.sqlite3")
    assert Config(database_url="sqlite+aiosqlite:////tmp/fd.db").sqlite_path == Path("/tmp/fd.db")
    assert Config(database_url="postgresql+asyncpg://u@h/db").sqlite_path is None


def test_replace_returns_a_validated_copy() -> None:
    config = Config()

    assert config.replace(port=9999).port == 9999
    assert config.port == 8080
    with pytest.raises(ConfigError, match="port=-1"):
        config.replace(port=-1)


def test_list_settings_come_from_a_toml_list_or_a_comma_separated_variable(
    tmp_path: Path,
) -> None:
    file = tmp_path / "frontdesk.toml"
    file.write_text(
        '[security]\ntrusted_proxies = ["10.0.0.0/8", "127.0.0.1"]\n'
        'widget_origins = ["https://shop.example.com"]\n'
    )
    config = Config.load(file, env={})
    assert config.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert config.widget_origins == ("https://shop.example.com",)
    from_env = Config.load(env={"FRONTDESK_TRUSTED_PROXIES": " 10.0.0.0/8 , ::1 ,"})
    assert from_env.trusted_proxies == ("10.0.0.0/8", "::1")


def test_a_trusted_proxy_that_is_not_an_address_names_the_expected_form() -> None:
    with pytest.raises(ConfigError) as error:
        Config.from_mapping({"trusted_proxies": ["10.0.0.0/8", "proxy.local"]})
    assert str(error.value) == (
        "setting trusted_proxies='proxy.local' is invalid: expected IP addresses or CIDR "
        "networks, e.g. ['10.0.0.0/8', '127.0.0.1']"
    )


def test_a_widget_origin_with_a_path_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"expected origins like 'https://shop\.example\.com'"):
        Config.from_mapping({"widget_origins": "https://shop.example.com/checkout"})
    assert Config.from_mapping({"widget_origins": "*"}).widget_origins == ("*",)


def test_a_list_setting_given_a_number_says_a_list_of_strings_is_expected() -> None:
    with pytest.raises(ConfigError, match=r"trusted_proxies=8 is invalid: expected a list of"):
        Config.from_mapping({"trusted_proxies": 8})


def test_security_defaults_are_the_safe_ones() -> None:
    config = Config.load(env={})
    assert config.cookie_secure is True
    assert config.mask_pii_in_storage is True
    assert config.widget_origins == ()
    assert config.trusted_proxies == ()
    assert config.metrics_token == ""
    assert config.workers == 1
    with pytest.raises(ConfigError, match="setting workers=0 is invalid"):
        Config.from_mapping({"workers": 0})


def test_a_short_jwt_secret_is_refused_without_printing_it() -> None:
    with pytest.raises(ConfigError) as error:
        Config.from_mapping({"jwt_secret": "hunter2"})
    assert str(error.value).startswith(
        "setting jwt_secret='<hidden>' is invalid: expected at least 32 characters for HS256"
    )
    assert "hunter2" not in str(error.value)
    assert Config.from_mapping({"jwt_secret": "x" * 32}).jwt_secret == "x" * 32
