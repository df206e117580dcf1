"""Putting a candidate model in the serving model's place, and back.

The serving directory (``models/intent``) is replaced by renames within one folder, never
by copying into it: a server that reloads sees the old directory or the new one, whole.
The model it replaced stays beside it as ``models/intent.previous`` for
:func:`rollback`, which swaps the two again (so a rollback can itself be rolled back).
Every promotion and rollback is appended to ``promotions.jsonl`` beside the models, with
the gate's verdict and whether ``--force`` overrode it; the commands that call these also
put it in the staff audit log (:meth:`Swap.audit_details`).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CARD = "frontdesk.json"
GATE_JSON = Path("gate") / "gate.json"
HISTORY = "promotions.jsonl"


class PromotionError(ValueError):
    """A promotion or rollback that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Swap:
    """One promotion or rollback, done: ``serving`` holds the model now served, ``previous``
    the one it replaced."""

    action: str
    serving: Path
    previous: Path
    forced: bool
    gate: dict[str, Any] | None
    # The models' cards' creation times, after the swap: the paths never change, so these
    # are what tells one model from another in the records.
    model_created_at: str = ""
    previous_created_at: str = ""
    # Where a promoted model came from.
    candidate: Path | None = None

    def public(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "serving": str(self.serving),
            "previous": str(self.previous),
            "forced": self.forced,
            "gate_passed": self.gate_passed,
        }

    @property
    def gate_passed(self) -> bool | None:
        """The gate's verdict on the promoted candidate; None when unknown (no report on this
        candidate, or a rollback)."""
        passed = None if self.gate is None else self.gate.get("passed")
        return None if passed is None else bool(passed)

    @property
    def gate_reasons(self) -> list[str]:
        return list((self.gate or {}).get("reasons") or [])

    def audit_details(self) -> dict[str, Any]:
        """What the audit event of this swap keeps, beside its action and target."""
        details: dict[str, Any] = {
            "model": str(self.serving),
            "model_created_at": self.model_created_at,
            "previous": str(self.previous),
            "previous_created_at": self.previous_created_at,
            "forced": self.forced,
            "gate_passed": self.gate_passed,
            "gate_reasons": self.gate_reasons,
            "os_user": os_user(),
        }
        if self.candidate is not None:
            details["candidate"] = str(self.candidate)
        return details


def os_user() -> str:
    """Who ran the command, as the operating system knows them ("" when it cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def candidate_of(serving: Path) -> Path:
    return serving.with_name(serving.name + ".candidate")


def previous_of(serving: Path) -> Path:
    return serving.with_name(serving.name + ".previous")


def read_gate(candidate: Path) -> dict[str, Any] | None:
    path = candidate / GATE_JSON
    if not path.is_file():
        return None
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def _card_time(model: Path) -> str:
    try:
        return str(json.loads((model / CARD).read_text(encoding="utf-8")).get("created_at", ""))
    except (OSError, ValueError):
        return ""


def promote(serving: Path, candidate: Path | None = None, *, force: bool = False) -> Swap:
    """Make ``candidate`` the serving model if the gate passed it (or ``force``)."""
    candidate = candidate or candidate_of(serving)
    if not (candidate / CARD).is_file():
        raise PromotionError(
            f"candidate: {candidate} is not a model directory (no {CARD}); "
            "make one with 'frontdesk retrain'"
        )
    gate = read_gate(candidate)
    current = gate is not None and gate.get("candidate_created_at") == _card_time(candidate)
    if not force:
        if gate is None:
            raise PromotionError(
                f"candidate: {candidate} has not been through the gate ({GATE_JSON} is "
                "missing); run 'frontdesk gate' first, or promote with --force"
            )
        if not current:
            raise PromotionError(
                f"candidate: the gate report in {candidate / GATE_JSON} is for an earlier "
                "candidate; run 'frontdesk gate' again"
            )
        if not gate.get("passed"):
            reasons = "; ".join(gate.get("reasons") or ["no reason recorded"])
            raise PromotionError(
                f"the gate refused {candidate}: {reasons}. Promote with --force to override "
                "(recorded in promotions.jsonl and the audit log)"
            )
    previous = previous_of(serving)
    _swap_in(serving, candidate, previous)
    swap = Swap(
        "promote",
        serving,
        previous,
        force,
        # A forced promotion may pass over a report on an earlier candidate: not this one's.
        gate if current else None,
        model_created_at=_card_time(serving),
        previous_created_at=_card_time(previous),
        candidate=candidate,
    )
    _record(serving, swap)
    return swap


def rollback(serving: Path) -> Swap:
    """Serve the previous model again; the one replaced becomes the previous."""
    previous = previous_of(serving)
    if not (previous / CARD).is_file():
        raise PromotionError(
            f"rollback: there is no previous model at {previous}; nothing was promoted here"
        )
    spare = serving.with_name(f".{serving.name}.rollback")
    shutil.rmtree(spare, ignore_errors=True)
    os.rename(serving, spare)
    try:
        os.rename(previous, serving)
    except OSError:
        os.rename(spare, serving)
        raise
    os.rename(spare, previous)
    swap = Swap(
        "rollback",
        serving,
        previous,
        False,
        None,
        model_created_at=_card_time(serving),
        previous_created_at=_card_time(previous),
    )
    _record(serving, swap)
    return swap


def history(serving: Path) -> list[dict[str, Any]]:
    path = serving.parent / HISTORY
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _swap_in(serving: Path, candidate: Path, previous: Path) -> None:
    # Two renames in one folder: the serving path is missing only between them, for
    # microseconds, and a server reloads only when told to, after both.
    discarded = previous.with_name(f".{previous.name}.discarded")
    shutil.rmtree(discarded, ignore_errors=True)
    if previous.exists():
        os.rename(previous, discarded)
    if serving.exists():
        os.rename(serving, previous)
    try:
        os.rename(candidate, serving)
    except OSError:
        if previous.exists():
            os.rename(previous, serving)
        raise
    shutil.rmtree(discarded, ignore_errors=True)


def _record(serving: Path, swap: Swap) -> None:
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **swap.public(),
        "model_created_at": swap.model_created_at,
        "by": os_user(),
        "reasons": swap.gate_reasons,
    }
    with (serving.parent / HISTORY).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
