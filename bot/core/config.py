"""Configuration: an optional ``frontdesk.toml`` overridden by ``FRONTDESK_*`` variables.

Everything is validated once, here, where it enters the program; the rest of the code
receives a frozen :class:`Config` and never looks at the environment again. An error names
the key, the value that arrived and the form that was expected.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from retrieval.index import DEFAULT_THRESHOLD, METHOD_CHOICES

ENV_PREFIX = "FRONTDESK_"
DEFAULT_CONFIG_FILE = "frontdesk.toml"


class ConfigError(ValueError):
    """A setting with a value of the wrong form."""


QUANTIZATION_MODES = ("auto", "int8-row", "int8-batch", "off")


@dataclass(frozen=True, slots=True)
class Config:
    # Server
    host: str = "127.0.0.1"
    port: int = 8080
    # Server processes on that port (`frontdesk serve --workers N`); more than one needs
    # redis_url, and PostgreSQL for more than a little traffic.
    workers: int = 1
    # Storage: SQLite by default; postgresql+asyncpg://... for several processes.
    database_url: str = "sqlite+aiosqlite:///var/frontdesk.sqlite3"
    redis_url: str = ""
    # Models and data. Relative paths are taken from the working directory.
    models_dir: Path = Path("models")
    intent_model: Path | None = None
    sentiment_model: Path | None = None
    index: Path | None = None
    encoder: Path | None = None
    data_dir: Path = Path("data")
    responses: Path | None = None
    domain: Path | None = None
    actions_module: str = ""
    action_server_url: str = ""
    action_timeout_s: float = 5.0
    # Dialogue policy
    retrieval_threshold: float = DEFAULT_THRESHOLD
    # How `frontdesk index build` makes the index answer: auto (the best of plain, vote and
    # head on held-out questions) or one of them. The manifest keeps the choice, and the
    # server and `frontdesk eval retrieval` follow the manifest, so both use the same one.
    retrieval_method: str = "auto"
    retrieval_strong_threshold: float = 0.85
    intent_confident: float = 0.8
    fallbacks_before_handoff: int = 2
    # A customer who stays strongly negative this many turns in a row gets a person (0: off).
    negative_handoff_turns: int = 2
    negative_handoff_score: float = 0.8
    # Inference batching: concurrent requests share one forward pass.
    batch_max_size: int = 32
    batch_wait_ms: float = 2.0
    device: str = ""
    # CPU inference: auto (int8-row where the CPU has fast int8 products, else fp32), int8-row
    # (labels independent of the batch), int8-batch (faster, but a message's labels can move
    # with its batch-mates), or off (fp32).
    quantization: str = "auto"
    # Torch threads for inference; 0 = one per core but one, left for the event loop.
    inference_threads: int = 0
    # Protection
    max_message_chars: int = 5000
    max_body_bytes: int = 64 * 1024
    rate_limit_per_sender: int = 60
    rate_limit_per_ip: int = 600
    request_timeout_s: float = 30.0
    # Rasa's --auth-token: when set, /webhooks/rest/webhook and /model/parse need ?token=.
    auth_token: str = ""
    # Staff sign-in: wrong passwords before an account (or an address) is locked, and the
    # first lock in seconds; each further lock of the same key doubles, up to an hour.
    login_failures_per_account: int = 5
    login_failures_per_ip: int = 50
    login_lock_s: float = 60.0
    # Password checks (argon2, 64 MiB each) at once; more wait a moment, then get a 503.
    login_hash_concurrency: int = 4
    # A staff session ends after this long unused, an API token this long after its
    # creation (0: never).
    session_idle_minutes: float = 60.0
    api_token_days: float = 90.0
    # Card numbers, IBANs, e-mail addresses and phone numbers are stored as [card], [iban]...;
    # the bot still reads the original text for the turn it arrives in.
    mask_pii_in_storage: bool = True
    # Rasa's --jwt-secret: when set, the channel and /model/parse also take a
    # "Authorization: Bearer <JWT>" signed with it (HS256).
    jwt_secret: str = ""
    # Behind a reverse proxy: the proxies' addresses or networks (CIDR). X-Forwarded-For is
    # believed only from these peers; every other peer is the client itself.
    trusted_proxies: tuple[str, ...] = ()
    # Staff cookies carry Secure (sent over HTTPS only). Set false for plain-HTTP development
    # on another host than this one.
    cookie_secure: bool = True
    # Pages that may open the chat widget (their Origin, e.g. https://shop.example.com).
    # Empty: the server's own origin only; "*": any page.
    widget_origins: tuple[str, ...] = ()
    # A widget token expires this long after its session began.
    widget_token_minutes: float = 24 * 60.0
    # Open widget sockets at once per widget token and per client address.
    widget_sockets_per_token: int = 4
    widget_sockets_per_ip: int = 64
    # /metrics needs "Authorization: Bearer <metrics_token>"; empty: loopback peers only.
    metrics_token: str = ""
    # A staff-saved answer goes into the index only after an admin approves it.
    answers_need_approval: bool = False
    log_level: str = "INFO"
    log_format: str = "text"
    # Where `frontdesk serve` writes its process id, so `frontdesk reload` can signal it.
    pid_file: Path = Path("var/frontdesk.pid")
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.port, "port", 0 <= self.port <= 65535, "a TCP port between 0 and 65535")
        _check(
            self.database_url,
            "database_url",
            self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")),
            "'sqlite+aiosqlite:///PATH' or 'postgresql+asyncpg://USER@HOST/DB'",
        )
        _check(
            self.retrieval_threshold,
            "retrieval_threshold",
            -1.0 <= self.retrieval_threshold <= 1.0,
            "a cosine similarity between -1 and 1",
        )
        _check(
            self.retrieval_method,
            "retrieval_method",
            self.retrieval_method in METHOD_CHOICES,
            "one of auto (the index build compares plain, vote and head on held-out "
            "questions), plain (nearest question), vote or head (the intent head)",
        )
        for name in ("workers", "batch_max_size", "max_message_chars", "max_body_bytes"):
            value = getattr(self, name)
            _check(value, name, value >= 1, "a positive integer")
        for name in (
            "rate_limit_per_sender",
            "rate_limit_per_ip",
            "fallbacks_before_handoff",
            "negative_handoff_turns",
            "inference_threads",
        ):
            value = getattr(self, name)
            _check(value, name, value >= 0, "an integer >= 0 (0 turns it off)")
        for name in ("login_failures_per_account", "login_failures_per_ip"):
            value = getattr(self, name)
            _check(value, name, value >= 0, "an integer >= 0 (0 turns it off)")
        _check(self.login_lock_s, "login_lock_s", self.login_lock_s > 0, "a number of seconds > 0")
        _check(
            self.login_hash_concurrency,
            "login_hash_concurrency",
            self.login_hash_concurrency >= 1,
            "a positive integer (each check holds 64 MiB while it runs)",
        )
        for name in ("widget_sockets_per_token", "widget_sockets_per_ip"):
            value = getattr(self, name)
            _check(value, name, value >= 1, "a positive integer")
        _check(
            "<hidden>" if self.jwt_secret else "",
            "jwt_secret",
            not self.jwt_secret or len(self.jwt_secret) >= 32,
            "at least 32 characters for HS256 (RFC 7518 3.2); make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
        for proxy in self.trusted_proxies:
            _check(
                proxy,
                "trusted_proxies",
                _is_network(proxy),
                "IP addresses or CIDR networks, e.g. ['10.0.0.0/8', '127.0.0.1']",
            )
        for origin in self.widget_origins:
            _check(
                origin,
                "widget_origins",
                origin == "*"
                or (origin.startswith(("http://", "https://")) and origin.count("/") == 2),
                "origins like 'https://shop.example.com' (scheme and host, no path), or '*'",
            )
        for name in ("session_idle_minutes", "api_token_days", "widget_token_minutes"):
            value = getattr(self, name)
            _check(value, name, value >= 0, "a number >= 0 (0: no limit)")
        for name in ("batch_wait_ms", "action_timeout_s", "request_timeout_s"):
            value = getattr(self, name)
            _check(value, name, value >= 0, "a number of seconds/milliseconds >= 0")
        _check(
            self.quantization,
            "quantization",
            self.quantization in QUANTIZATION_MODES,
            "one of auto (int8-row where the CPU multiplies int8 fast, else off), "
            "int8-row (a message's labels do not depend on its batch), int8-batch "
            "(about a tenth more throughput; labels may move with the batch) or off (fp32)",
        )
        _check(self.log_format, "log_format", self.log_format in {"text", "json"}, "text or json")
        _check(
            self.log_level,
            "log_level",
            self.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
            "one of DEBUG, INFO, WARNING, ERROR",
        )

    # Paths derived from models_dir/data_dir unless set explicitly.
    @property
    def intent_model_path(self) -> Path:
        return self.intent_model or self.models_dir / "intent"

    @property
    def sentiment_model_path(self) -> Path:
        return self.sentiment_model or self.models_dir / "sentiment"

    @property
    def index_path(self) -> Path:
        return self.index or self.models_dir / "index"

    @property
    def responses_path(self) -> Path:
        return self.responses or self.data_dir / "responses.yml"

    @property
    def domain_path(self) -> Path:
        return self.domain or self.data_dir / "domain.yml"

    @property
    def story_paths(self) -> tuple[Path, ...]:
        """Where rules and stories are read from (Rasa's file names, or folders of them)."""
        names = ("rules.yml", "stories.yml", "rules", "stories")
        return tuple(self.data_dir / name for name in names)

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite+aiosqlite:///"
        if self.database_url.startswith(prefix):
            return Path(self.database_url[len(prefix) :])
        return None

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Config:
        """Defaults, then the TOML file, then ``FRONTDESK_*`` variables, then ``overrides``.

        ``path`` defaults to ``$FRONTDESK_CONFIG`` or ``./frontdesk.toml`` when that exists.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        named = path or env.get(ENV_PREFIX + "CONFIG")
        file = Path(named) if named else Path(DEFAULT_CONFIG_FILE)
        if named and not file.is_file():
            raise ConfigError(f"config file {file} does not exist")
        if file.is_file():
            values.update(_read_toml(file))
        known = {f.name for f in fields(cls)} - {"extra"}
        for key, raw in env.items():
            if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG":
                name = key[len(ENV_PREFIX) :].lower()
                if name in known:
                    values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Config:
        hints = get_type_hints(cls)
        known = {f.name for f in fields(cls)} - {"extra"}
        converted: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in values.items():
            if key in known:
                converted[key] = _convert(key, value, hints[key])
            else:
                extra[key] = value
        return cls(**converted, extra=extra)


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML ({exc}); fix the syntax") from exc
    # Sections are for people; settings are flat. [server] port = 1 and port = 1 mean the same,
    # except for sections that hold their own structured settings (alerts, ...).
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in {
            "server",
            "storage",
            "models",
            "policy",
            "limits",
            "actions",
            "logging",
            "security",
        }:
            if not isinstance(value, dict):
                raise ConfigError(f"{file}: [{key}] must be a table, got {value!r}")
            flat.update(value)
        else:
            flat[key] = value
    return flat


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _check(value: Any, key: str, ok: bool, expected: str) -> None:
    if not ok:
        raise ConfigError(f"setting {key}={value!r} is invalid: expected {expected}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _convert(key: str, value: Any, hint: Any) -> Any:
    """Turn a TOML value or an environment string into the field's type."""
    text = str(hint)
    optional = "None" in text
    if optional and (value is None or value == ""):
        return None
    try:
        if hint is bool or text == "bool":
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError
        if hint is int or text == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(str(value).strip())
        if hint is float or text == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(str(value).strip())
        if text == "tuple[str, ...]":
            # A TOML list, or a comma-separated environment string.
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if "Path" in text:
            return Path(str(value))
        if hint is str or text == "str":
            if not isinstance(value, str | int | float):
                raise ValueError
            return str(value)
    except ValueError:
        expected = {
            bool: "true or false",
            int: "an integer",
            float: "a number",
            str: "a string",
        }.get(hint, "a list of strings" if text == "tuple[str, ...]" else text)
        raise ConfigError(
            f"setting {key}={value!r} is invalid: expected {expected} "
            f"(set it in frontdesk.toml or {ENV_PREFIX}{key.upper()})"
        ) from None
    return value


# The learning loop ([learning]) ---------------------------------------------------------

LEARNING_SECTION = "learning"


@dataclass(frozen=True, slots=True)
class LearningSettings:
    """``[learning]``: what the review queue collects, how ``frontdesk retrain`` trains a
    candidate and how the gate judges it against the serving model."""

    # The review queue: customer turns below this intent confidence, and conversations rated
    # at or below this score (1-5) after a hand-off.
    low_confidence: float = 0.5
    bad_rating: int = 2
    # Turns older than this many days stay out of the queue (0: no limit).
    queue_days: float = 30.0
    # Texts whose encoder embeddings are at least this similar (cosine) share a group.
    group_similarity: float = 0.8
    # retrain: the training data the serving model came from (CSV, JSONL or Rasa NLU YAML).
    training_data: Path = Path("data/nlu.yml")
    # Start the candidate from the serving model's weights rather than its base: faster,
    # but its validation split then holds rows the serving model trained on, which skews the
    # threshold and the n-gram fusion calibrated on it (training/retrain.py).
    warm_start: bool = False
    # Epochs when it does (much less than from scratch) ...
    warm_start_epochs: float = 2.0
    # ... at this share of the serving model's learning rate: a full-rate restart moved the
    # boundaries between close intents (BANKING77's top-up and card intents) more than the
    # corrections asked for.
    warm_start_lr_factor: float = 0.25
    # A time limit for the candidate's training (0: none).
    max_minutes: float = 0.0
    seed: int = 42
    # The gate: the pinned held-out set (text,intent), off-topic texts (text; labelled
    # out_of_scope), and the share of reviewed corrections held out of training.
    holdout: tuple[Path, ...] = (Path("data/eval/intent_paraphrases.csv"),)
    out_of_scope_holdout: tuple[Path, ...] = (Path("data/eval/out_of_domain.csv"),)
    correction_holdout_share: float = 0.2
    # Promotion needs accuracy and out-of-scope recall no worse than the serving model's by
    # more than these, and no intent's recall (with at least min_intent_support held-out
    # examples) falling by more than max_intent_drop.
    accuracy_tolerance: float = 0.005
    oos_recall_tolerance: float = 0.01
    max_intent_drop: float = 0.1
    min_intent_support: int = 5
    # ... and only when that drop is more than chance: a one-sided sign test on the intent's
    # rows the candidate broke against those it fixed, at this level shared among the intents
    # tested (Bonferroni). With ten rows an intent, two broken and none fixed happens by
    # chance one time in four.
    intent_significance: float = 0.05
    gauge_interval_s: float = 30.0

    def __post_init__(self) -> None:
        for name in (
            "low_confidence",
            "group_similarity",
            "correction_holdout_share",
            "intent_significance",
            "accuracy_tolerance",
            "oos_recall_tolerance",
            "max_intent_drop",
        ):
            value = getattr(self, name)
            _check(value, f"learning.{name}", 0.0 <= value <= 1.0, "a number from 0 to 1")
        _check(self.bad_rating, "learning.bad_rating", 0 <= self.bad_rating <= 5, "a rating 0-5")
        _check(self.queue_days, "learning.queue_days", self.queue_days >= 0, "days >= 0")
        _check(
            self.warm_start_lr_factor,
            "learning.warm_start_lr_factor",
            0 < self.warm_start_lr_factor <= 1,
            "a share of the learning rate above 0 and at most 1, like 0.25",
        )
        _check(
            self.warm_start_epochs,
            "learning.warm_start_epochs",
            self.warm_start_epochs > 0,
            "a number of epochs > 0, like 2",
        )
        _check(
            self.max_minutes,
            "learning.max_minutes",
            self.max_minutes >= 0,
            "a number of minutes >= 0 (0: no limit)",
        )
        _check(self.seed, "learning.seed", 0 <= self.seed < 2**32, "an integer 0..4294967295")
        _check(
            self.min_intent_support,
            "learning.min_intent_support",
            self.min_intent_support >= 1,
            "an integer >= 1",
        )
        _check(
            self.gauge_interval_s,
            "learning.gauge_interval_s",
            self.gauge_interval_s > 0,
            "a number of seconds > 0",
        )


def parse_learning(raw: Any) -> LearningSettings:
    """``config.extra["learning"]`` (absent: the defaults) as validated settings; an error
    names the key, the value and the form expected."""
    if raw is None:
        return LearningSettings()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[{LEARNING_SECTION}] must be a table, got {raw!r}")
    hints = get_type_hints(LearningSettings)
    known = {f.name for f in fields(LearningSettings)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(
                f"setting learning.{key}={value!r} is unknown: expected one of "
                + ", ".join(sorted(known))
            )
        hint = hints[key]
        if "tuple" in str(hint):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(
                    f"setting learning.{key}={value!r} is invalid: expected a file path or "
                    "a list of them"
                )
            values[key] = tuple(Path(v) for v in value)
        else:
            values[key] = _convert(f"learning.{key}", value, hint)
    return LearningSettings(**values)


def learning_settings(config: Config) -> LearningSettings:
    return parse_learning(config.extra.get(LEARNING_SECTION))
