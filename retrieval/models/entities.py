"""Entities learned from a Rasa project's annotations: the serving side.

Rasa's default pipeline finds a project's own entities (``[chinese](cuisine)``,
``[Berlin]{"entity": "city", "role": "departure"}``) with a model trained on the
annotated examples, completes them with regexes and lookup tables, and maps synonyms.
This module does the same with the three components Rasa users know, so that the parse a
custom action or a slot mapping reads has the shape it had under Rasa:

* a linear-chain CRF (python-crfsuite, as Rasa's ``CRFEntityExtractor``) over BILOU tags
  that carry the role and group (``B-city#departure``), with word, affix, shape and
  neighbour features and a feature for every regex and lookup table that matches a token;
* Rasa's ``RegexEntityExtractor``: matches of a regex or lookup table named like an
  annotated entity are entities too (case-insensitive, lookups on word boundaries);
* Rasa's ``EntitySynonymMapper``: a value whose lower-cased text is a known synonym is
  replaced by the synonym's value, and the entity says so in ``processors``.

Training (``training.entities``) and serving share the tokenizer, the features and the tag
names below, so the model is always fed what it was trained on. The two files (named in
:mod:`retrieval.base.modeldir`) are the CRF, opaque, and ``entities.json``, parsed and
written by :func:`read_resources` and :func:`write_resources` only::

    {"format_version": 1, "entities": [str], "synonyms": {str: str},
     "lookups": {str: [str]}, "regexes": {str: [str]}, "training": {...}}
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from retrieval.base.modeldir import (
    ENTITIES_MODEL_NAME,
    ENTITIES_NAME,
    RETRAIN,
    ModelDirError,
    write_json,
)

CRF_EXTRACTOR = "CRFEntityExtractor"
REGEX_EXTRACTOR = "RegexEntityExtractor"
SYNONYM_PROCESSOR = "EntitySynonymMapper"
FORMAT_VERSION = 1
OUTSIDE = "O"

# Rasa's WhitespaceTokenizer: punctuation around words goes, punctuation inside them
# ("10'000.00", "a@b.com", "NW-12345") stays.
_NOT_A_WORD = re.compile(
    r"[^\w#@&]+(?=\s|$)|"
    r"(\s|^)[^\w#@&]+(?=[^0-9\s])|"
    r"(?<=[^0-9\s])[^\w._~:/?#\[\]()@!$&*+,;=-]+(?=[^0-9\s])"
)


class Token(NamedTuple):
    """A word and its character offsets in the text it came from."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Rasa's WhitespaceTokenizer, offsets into ``text`` (the original, not a copy)."""
    if not text.strip():
        return []
    words = _NOT_A_WORD.sub(" ", text).split()
    if not words:
        # Rasa keeps a text of punctuation only (":)") as one token.
        words = [text.strip()]
    tokens = []
    offset = 0
    for word in words:
        start = text.index(word, offset)
        offset = start + len(word)
        tokens.append(Token(word, start, offset))
    return tokens


# --- tags -------------------------------------------------------------------------------


class Tag(NamedTuple):
    """A BILOU prefix and the entity, role and group it marks."""

    prefix: str
    entity: str
    role: str | None = None
    group: str | None = None

    @property
    def label(self) -> tuple[str, str | None, str | None]:
        return self.entity, self.role, self.group


def tag_name(prefix: str, entity: str, role: str | None = None, group: str | None = None) -> str:
    """``B-city``, ``U-city#departure``, ``L-item@1``: one CRF label per entity, role and
    group, so a single model learns all three (Rasa trains one CRF per attribute)."""
    name = f"{prefix}-{_escape(entity)}"
    if role is not None:
        name += f"#{_escape(role)}"
    if group is not None:
        name += f"@{_escape(group)}"
    return name


def parse_tag(name: str) -> Tag | None:
    """The inverse of :func:`tag_name`; None for ``O``."""
    if name == OUTSIDE:
        return None
    prefix, _, rest = name.partition("-")
    rest, _, group = rest.partition("@")
    entity, _, role = rest.partition("#")
    return Tag(
        prefix,
        _unescape(entity),
        _unescape(role) if role else None,
        _unescape(group) if group else None,
    )


def _escape(part: str) -> str:
    # '#' and '@' separate the parts of a tag; a name that contains them is escaped.
    return part.replace("%", "%25").replace("#", "%23").replace("@", "%40")


def _unescape(part: str) -> str:
    return part.replace("%40", "@").replace("%23", "#").replace("%25", "%")


# --- resources --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resources:
    """``entities.json``: what the CRF needs besides its weights, and the other extractors.

    ``entities`` are the annotated entity names: only regexes and lookups named like one of
    them extract entities (Rasa's RegexEntityExtractor reads only those); all of them are
    features of the CRF.
    """

    entities: tuple[str, ...] = ()
    synonyms: Mapping[str, str] = field(default_factory=dict)
    lookups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    regexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict, hash=False)


def write_resources(directory: str | Path, resources: Resources) -> None:
    write_json(
        Path(directory) / ENTITIES_NAME,
        {
            "format_version": FORMAT_VERSION,
            "entities": list(resources.entities),
            "synonyms": dict(resources.synonyms),
            "lookups": {name: list(items) for name, items in resources.lookups.items()},
            "regexes": {name: list(items) for name, items in resources.regexes.items()},
            "training": dict(resources.training),
        },
    )


def read_resources(directory: str | Path) -> Resources | None:
    """``entities.json`` of a model directory; None when the model learned no entities."""
    path = Path(directory) / ENTITIES_NAME
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(
            f"{path}: expected JSON, got unreadable text ({exc}); {RETRAIN}"
        ) from exc
    if not isinstance(raw, dict):
        raise ModelDirError(f"{path}: expected a JSON object; {RETRAIN}")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ModelDirError(
            f"{path}: format_version {raw.get('format_version')!r}, expected "
            f"{FORMAT_VERSION}; {RETRAIN}"
        )

    def strings(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(x, str) for x in value)

    def check(key: str, ok: bool, expected: str) -> None:
        if not ok:
            raise ModelDirError(f"{path}: {key} expected {expected}; {RETRAIN}")

    entities = raw.get("entities", [])
    synonyms = raw.get("synonyms", {})
    check("entities", strings(entities), "a list of strings")
    check(
        "synonyms",
        isinstance(synonyms, dict) and all(isinstance(v, str) for v in synonyms.values()),
        "an object of strings",
    )
    tables: dict[str, dict[str, tuple[str, ...]]] = {}
    for key in ("lookups", "regexes"):
        value = raw.get(key, {})
        check(
            key,
            isinstance(value, dict) and all(strings(v) for v in value.values()),
            "an object of string lists",
        )
        tables[key] = {str(name): tuple(items) for name, items in value.items()}
    training = raw.get("training", {})
    check("training", isinstance(training, dict), "an object")
    resources = Resources(
        entities=tuple(entities),
        synonyms=dict(synonyms),
        lookups=tables["lookups"],
        regexes=tables["regexes"],
        training=training,
    )
    try:
        Patterns.build(resources)
    except re.error as exc:
        raise ModelDirError(f"{path}: a regex does not compile ({exc}); {RETRAIN}") from exc
    return resources


# --- regexes and lookups ----------------------------------------------------------------


class Match(NamedTuple):
    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Patterns:
    """The compiled regexes and lookup tables, by name (case-insensitive, as Rasa's
    RegexEntityExtractor by default)."""

    compiled: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @classmethod
    def build(cls, resources: Resources) -> Patterns:
        compiled: list[tuple[str, re.Pattern[str]]] = []
        for name, elements in sorted(resources.lookups.items()):
            if elements:
                # Longest first, so "new york city" wins over "new york" where both match.
                ordered = sorted(set(elements), key=lambda e: (-len(e), e))
                body = "|".join(rf"\b{re.escape(element)}\b" for element in ordered)
                compiled.append((name, re.compile(f"(?:{body})", re.IGNORECASE)))
        for name, patterns in sorted(resources.regexes.items()):
            compiled.extend((name, re.compile(pattern, re.IGNORECASE)) for pattern in patterns)
        return cls(tuple(compiled))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for name, _ in self.compiled))

    def matches(self, text: str) -> list[Match]:
        return [
            Match(name, m.start(), m.end())
            for name, pattern in self.compiled
            for m in pattern.finditer(text)
            if m.end() > m.start()
        ]


# --- features ---------------------------------------------------------------------------


def _shape(word: str) -> str:
    """ "Berlin" -> "Xx", "NW-12345" -> "X-d", "4" -> "d": the word's look, runs collapsed."""
    classes = (
        "X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in word
    )
    shape: list[str] = []
    for c in classes:
        if not shape or shape[-1] != c:
            shape.append(c)
    return "".join(shape)


def _own_features(token: Token, hits: Sequence[str]) -> list[str]:
    word = token.text
    low = word.lower()
    features = [
        "bias",
        f"low={low}",
        f"pre2={low[:2]}",
        f"pre5={low[:5]}",
        f"suf2={low[-2:]}",
        f"suf3={low[-3:]}",
        f"suf5={low[-5:]}",
        f"shape={_shape(word)}",
    ]
    if word.isdigit():
        features.append("digit")
    if word.istitle():
        features.append("title")
    if word.isupper():
        features.append("upper")
    features.extend(f"pattern={name}" for name in hits)
    return features


def _neighbour_features(token: Token, hits: Sequence[str], offset: int) -> list[str]:
    low = token.text.lower()
    features = [f"{offset:+d}:low={low}"]
    if abs(offset) == 1:
        features.append(f"{offset:+d}:shape={_shape(token.text)}")
        features.append(f"{offset:+d}:suf3={low[-3:]}")
        if token.text.istitle():
            features.append(f"{offset:+d}:title")
        features.extend(f"{offset:+d}:pattern={name}" for name in hits)
    return features


def token_features(tokens: Sequence[Token], matches: Sequence[Match]) -> list[list[str]]:
    """The CRF's features of every token: its own, and those of its neighbours ±1, ±2.

    A token has the feature ``pattern=NAME`` when a regex or lookup ``NAME`` matches text
    it overlaps (Rasa's RegexFeaturizer), so a lookup table teaches the CRF words that
    the annotated examples never showed it.
    """
    hits = [
        sorted({m.name for m in matches if m.start < token.end and token.start < m.end})
        for token in tokens
    ]
    rows = []
    for i, token in enumerate(tokens):
        features = _own_features(token, hits[i])
        for offset in (-2, -1, 1, 2):
            j = i + offset
            if 0 <= j < len(tokens):
                features.extend(_neighbour_features(tokens[j], hits[j], offset))
            elif abs(offset) == 1:
                features.append("BOS" if offset < 0 else "EOS")
        rows.append(features)
    return rows


# --- extraction -------------------------------------------------------------------------


def _overlaps(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return bool(a["start"] < b["end"] and b["start"] < a["end"])


class EntityExtractor:
    """The CRF, the regex/lookup extractor and the synonym mapper of one model directory.

    ``extract`` is safe from any thread (the CRF tagger is not, so calls take turns; one
    costs well under a millisecond).
    """

    def __init__(self, model: bytes, resources: Resources) -> None:
        import pycrfsuite

        self.resources = resources
        self.patterns = Patterns.build(resources)
        extracting = set(resources.entities)
        self._extracting = Patterns(
            tuple((name, p) for name, p in self.patterns.compiled if name in extracting)
        )
        # crfsuite reads the model where it lies in memory: the bytes must outlive it.
        self._model = model
        self._tagger = pycrfsuite.Tagger()
        try:
            self._tagger.open_inmemory(model)
        except (ValueError, OSError) as exc:
            raise ModelDirError(
                f"the entity model ({ENTITIES_MODEL_NAME}) cannot be read ({exc}); {RETRAIN}"
            ) from exc
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: str | Path) -> EntityExtractor | None:
        """The extractor of a model directory; None when it learned no entities."""
        directory = Path(directory)
        resources = read_resources(directory)
        if resources is None:
            return None
        model = directory / ENTITIES_MODEL_NAME
        if not model.is_file():
            raise ModelDirError(
                f"{directory}: {ENTITIES_NAME} is there but {ENTITIES_MODEL_NAME} is missing; "
                f"{RETRAIN}"
            )
        return cls(model.read_bytes(), resources)

    @property
    def labels(self) -> tuple[str, ...]:
        """The CRF's tags (``O`` and every ``B/I/L/U-entity#role@group`` it learned)."""
        with self._lock:
            return tuple(self._tagger.labels())

    def extract(self, text: str) -> list[dict[str, Any]]:
        """The entities of ``text`` in Rasa's shape, in text order: the CRF's, then the
        regex and lookup matches that overlap none of them; synonyms mapped."""
        tokens = tokenize(text)
        if not tokens:
            return []
        matches = self.patterns.matches(text)
        found = self._crf(text, tokens, matches)
        for match in sorted(self._extracting.matches(text), key=lambda m: (m.start, -m.end)):
            entity = {
                "entity": match.name,
                "start": match.start,
                "end": match.end,
                "value": text[match.start : match.end],
                "confidence_entity": 1.0,
                "extractor": REGEX_EXTRACTOR,
            }
            if not any(_overlaps(entity, other) for other in found):
                found.append(entity)
        found.sort(key=lambda e: (e["start"], e["end"]))
        return [self._synonym(entity) for entity in found]

    def _crf(
        self, text: str, tokens: Sequence[Token], matches: Sequence[Match]
    ) -> list[dict[str, Any]]:
        features = token_features(tokens, matches)
        with self._lock:
            self._tagger.set(features)
            tags = self._tagger.tag()
            confidences = [self._tagger.marginal(tag, i) for i, tag in enumerate(tags)]
        return [
            _entity(text, tokens, span, tag, min(confidences[i] for i in span))
            for span, tag in _spans(tags)
        ]

    def _synonym(self, entity: dict[str, Any]) -> dict[str, Any]:
        mapped = self.resources.synonyms.get(str(entity["value"]).lower())
        if mapped is None:
            return entity
        return {**entity, "value": mapped, "processors": [SYNONYM_PROCESSOR]}


def _spans(tags: Sequence[str]) -> list[tuple[range, Tag]]:
    """Token ranges of the entities in a tag sequence.

    A CRF can emit sequences BILOU forbids (``I`` without ``B``, ``B`` without ``L``):
    consecutive tokens with the same entity, role and group form one entity unless a
    ``B``/``U`` starts a new one or an ``L``/``U`` ends it.
    """
    spans: list[tuple[range, Tag]] = []
    current: Tag | None = None
    first = 0
    for i, name in enumerate([*tags, OUTSIDE]):
        tag = parse_tag(name)
        if current is not None and (
            tag is None or tag.label != current.label or tag.prefix in ("B", "U")
        ):
            spans.append((range(first, i), current))
            current = None
        if tag is not None:
            if current is None:
                current, first = tag, i
            if tag.prefix in ("L", "U"):
                spans.append((range(first, i + 1), current))
                current = None
    return spans


def _entity(
    text: str, tokens: Sequence[Token], span: range, tag: Tag, confidence: float
) -> dict[str, Any]:
    start, end = tokens[span[0]].start, tokens[span[-1]].end
    entity: dict[str, Any] = {
        "entity": tag.entity,
        "start": start,
        "end": end,
        "value": text[start:end],
        # The least sure token decides: a span is only as right as its weakest word.
        "confidence_entity": float(confidence),
    }
    if tag.role is not None:
        entity["role"] = tag.role
    if tag.group is not None:
        entity["group"] = tag.group
    entity["extractor"] = CRF_EXTRACTOR
    return entity
