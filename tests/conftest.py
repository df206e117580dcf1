"""Shared fixtures: real services (PostgreSQL, Redis, Chromium) and the repository's paths.

On a laptop without a service, its tests skip with the reason. Under CI (``CI=true``) a
missing service fails the run instead: a green CI must mean the tests ran.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from bot.core.config import Config

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

POSTGRES_URL = os.environ.get(
    "FRONTDESK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("FRONTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def missing_service(reason: str) -> None:
    """Skip locally; fail under CI, where every service must be there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure, not a skip)")
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        address = (parts.hostname or "127.0.0.1", parts.port or default_port)
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    if not _reachable(POSTGRES_URL, 5432):
        missing_service(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    return POSTGRES_URL


@pytest.fixture
async def postgres_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import asyncpg

    parts = urlsplit(postgres_server_url.replace("postgresql+asyncpg", "postgresql"))
    admin_dsn = parts._replace(path="/postgres").geturl()
    name = f"frontdesk_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield parts._replace(path=f"/{name}").geturl().replace("postgresql://", "postgresql+asyncpg://")
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _reachable(REDIS_URL, 6379):
        missing_service(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("FRONTDESK_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        missing_service("Debian's chromium is not installed (apt-get install chromium)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared datasets are not at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'frontdesk.sqlite3'}"


def app_config(tmp_path: Path, **overrides: object) -> Config:
    """A Config for a test app: its own SQLite file, the repo's demo domain, no rate limits."""
    from bot.core.config import Config

    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'frontdesk.sqlite3'}",
        "models_dir": tmp_path / "no-models",
        "data_dir": REPO / "data",
        "rate_limit_per_sender": 0,
        "rate_limit_per_ip": 0,
    }
    values.update(overrides)
    return Config.from_mapping(values)


FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass(frozen=True)
class TinyModels:
    """Real models trained on a few rows: quick to make, and they memorise their rows."""

    models_dir: Path
    intent: Path
    sentiment: Path
    index: Path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    from retrieval.index import build_index
    from training.train import TrainSettings, train

    root = tmp_path_factory.mktemp("models")
    for task, data in (("intent", "tiny_nlu.csv"), ("sentiment", "tiny_sentiment.csv")):
        # Validating on the training rows makes the calibrated threshold accept them, so
        # tests can rely on what the model says about exactly those texts.
        train(
            TrainSettings(
                task=task,
                data=FIXTURES / data,
                validation_data=FIXTURES / data,
                out=root / task,
                epochs=20,
                learning_rate=3e-4,
                batch_size=8,
                max_length=16,
                quiet=True,
            )
        )
    build_index(FIXTURES / "tiny_qa.csv", root / "index", progress=False)
    return TinyModels(root, root / "intent", root / "sentiment", root / "index")
