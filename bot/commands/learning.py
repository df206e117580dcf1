"""The learning loop's commands (``frontdesk review``, ``retrain``, ``promote``, ``rollback``)."""

from __future__ import annotations

from typing import Any


def add_parsers(commands: Any) -> None:
    """Register the learning commands on ``frontdesk``'s subcommand parser."""
