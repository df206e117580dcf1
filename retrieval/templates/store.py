"""The response store: every key's variants, and the choice of one to render."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from retrieval.base.datafiles import DataFileError, load_yaml
from retrieval.templates.interpolation import Gap
from retrieval.templates.parsing import parse_variants
from retrieval.templates.variants import Attempt, RenderedResponse, Variant, candidates

log = logging.getLogger(__name__)


class ResponseTemplates:
    """The parsed responses file."""

    def __init__(
        self,
        responses: Mapping[str, tuple[Variant, ...]],
        source: str,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._responses = dict(responses)
        self.source = source
        self.rng = rng or random.Random()

    @classmethod
    def load(cls, path: str | Path, *, rng: random.Random | None = None) -> ResponseTemplates:
        return cls.from_mapping(load_yaml(path), source=str(path), rng=rng)

    @classmethod
    def from_mapping(
        cls, data: Any, source: str = "<responses>", *, rng: random.Random | None = None
    ) -> ResponseTemplates:
        """Validate already-parsed YAML; errors name ``source`` like a file."""
        if (
            isinstance(data, Mapping)
            and set(data) >= {"responses"}
            and isinstance(data["responses"], Mapping)
        ):
            # A Rasa domain file: only its responses section is ours.
            data = data["responses"]
        if data is None:
            raise DataFileError(
                source, "the file is empty", fix="add 'intent: [text, ...]' entries"
            )
        if not isinstance(data, Mapping):
            raise DataFileError(
                source,
                f"expected a mapping of keys to variant lists, got {type(data).__name__}",
                line=1,
                fix="write 'intent_name:' followed by a list of '- text' variants",
            )
        responses: dict[str, tuple[Variant, ...]] = {}
        for key, variants in data.items():
            if not isinstance(key, str) or not key.strip():
                raise DataFileError(
                    source, f"key {key!r} is not a name", fix="use a text key such as greet"
                )
            responses[key] = parse_variants(source, key, variants)
        return cls(responses, source, rng=rng)

    def __contains__(self, key: object) -> bool:
        return key in self._responses

    def __iter__(self) -> Iterator[str]:
        return iter(self._responses)

    def keys(self) -> list[str]:
        return list(self._responses)

    def render(
        self,
        key: str,
        slots: Mapping[str, Any] | None = None,
        *,
        values: Mapping[str, Any] | None = None,
        channel: str | None = None,
        turn: int | None = None,
    ) -> RenderedResponse | None:
        """A variant of ``key`` picked and filled as Rasa would; None when the key is unknown
        or no variant suits ``channel`` and the conditions (Rasa then says nothing either).

        ``slots`` decide the conditions; ``values`` (an action's ``utter_message`` keyword
        arguments) fill placeholders ahead of them. ``turn`` picks the candidate
        ``turn % n`` instead of a random one, for callers that must be repeatable.
        """
        attempts = self._attempts(key, slots or {}, values or {}, channel)
        if not attempts:
            return None
        pool = [a for a in attempts if not a.gaps] or attempts
        chosen = pool[turn % len(pool)] if turn is not None else self.rng.choice(pool)
        for gap in chosen.gaps:
            _warn(key, gap)
        return chosen.rendered

    def missing_slots(
        self,
        key: str,
        slots: Mapping[str, Any] | None = None,
        *,
        channel: str | None = None,
    ) -> set[str]:
        """The placeholders to give values to before ``key`` renders without a gap: those of
        the candidate variant that lacks the fewest. Empty when one has none or the key is
        unknown."""
        attempts = self._attempts(key, slots or {}, {}, channel)
        lacking = [{g.name for g in a.gaps if g.problem != "malformed"} for a in attempts]
        return min(lacking, key=len, default=set())

    def _attempts(
        self,
        key: str,
        slots: Mapping[str, Any],
        values: Mapping[str, Any],
        channel: str | None,
    ) -> list[Attempt]:
        filled = {**slots, **values}
        attempts: list[Attempt] = []
        for variant in candidates(self._responses.get(key, ()), slots, channel):
            gaps: list[Gap] = []
            rendered = variant.render(filled, gaps)
            attempts.append(Attempt(rendered, tuple(dict.fromkeys(gaps))))
        return attempts


def _warn(key: str, gap: Gap) -> None:
    if gap.problem == "unset":
        log.warning("response %s: slot %s has no value; it is shown as 'None'", key, gap.name)
    elif gap.problem == "empty":
        log.warning("response %s: slot %s is empty; its placeholder shows nothing", key, gap.name)
    elif gap.problem == "unknown":
        log.warning(
            "response %s: no slot or value named %s; the text is sent with {%s} in it",
            key,
            gap.name,
            gap.name,
        )
    else:
        log.warning("response %s: %r cannot be filled; it is sent as written", key, gap.name)


# Validation --------------------------------------------------------------------------------
