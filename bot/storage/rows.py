"""Turning database rows into the store's frozen records, the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

R = TypeVar("R")


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes even for timezone=True columns; they were UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def record_from_row(cls: type[R], row: Any, **computed: Any) -> R:
    """Build ``cls`` (a dataclass) from the row's columns of the same names.

    Datetimes come back timezone-aware; ``computed`` supplies fields that are not columns
    or need converting.
    """
    values: dict[str, Any] = {}
    for item in fields(cls):  # type: ignore[arg-type]
        if item.name in computed:
            values[item.name] = computed[item.name]
            continue
        value = getattr(row, item.name)
        values[item.name] = aware(value) if isinstance(value, datetime) else value
    return cls(**values)


async def first(engine: AsyncEngine, query: Executable, make: Callable[[Any], R]) -> R | None:
    """The first row of ``query`` as a record, or None."""
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return make(row) if row else None
