"""Classifying text with a trained model directory.

This is the serving side of the model-directory contract: ``training/`` writes
the directory, everything else reads it through :class:`TextClassifier`. Evaluation uses the
same class, so what is measured is what is served. The directory's files and its card are
described, read and written by :mod:`retrieval.base.modeldir`; here the card's ``sparse``
model (retrieval.models.ngrams) is fused into the logits, then its ``logit_bias``
(sentiment) is added before the softmax.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from retrieval.base import modeldir
from retrieval.base.labels import FALLBACK_INTENT
from retrieval.base.modeldir import (
    ENCODER_REJECTION,
    HF_CONFIG_NAME,
    LABELS_NAME,
    ModelCard,
    ModelDirError,
    SparseModel,
)
from retrieval.models.ngrams import SparseScorer
from retrieval.models.oos import OutOfScopeFileError, OutOfScopeScorer
from retrieval.models.torchscript import TRACE_EXAMPLE, checked_trace

log = logging.getLogger(__name__)

RANKING_SIZE = 10


class Scores(NamedTuple):
    """What one forward pass over some texts gives, before any decision."""

    probabilities: Any  # (n, labels): fused, bias applied, softmaxed
    encoder_confidence: Any  # (n,): the encoder's own top probability
    embeddings: Any  # (n, hidden): the encoder's mean-pooled last layer


@dataclass(frozen=True, slots=True)
class Prediction:
    """One text's classification after the rejection rule.

    ``label`` is ``nlu_fallback`` when the model's best guess was rejected; ``top_label``
    keeps that guess so staff and evaluation can see what the model thought.
    """

    label: str
    confidence: float
    top_label: str
    ranking: tuple[tuple[str, float], ...]

    @property
    def rejected(self) -> bool:
        return self.label == FALLBACK_INTENT


def pick_device(preferred: str | None = None) -> str:
    """``cuda`` when a GPU is present (or asked for), else ``cpu``."""
    import torch

    if preferred:
        return preferred
    return "cuda" if torch.cuda.is_available() else "cpu"


# What one forward call costs beyond its tokens, in padded-token equivalents: on the CPU a
# call costs about as much as a short message's tokens, on a GPU far more than a token.
CPU_CALL_OVERHEAD_TOKENS = 48
GPU_CALL_OVERHEAD_TOKENS = 4096


def length_groups(lengths: Sequence[int], call_overhead: int) -> list[list[int]]:
    """Split a batch into groups of similar length, so that little compute goes to padding.

    A batch is padded to its longest row, and customer messages vary so much in length
    that a random batch is mostly padding. Each group costs
    ``call_overhead + rows * longest`` token-equivalents; the split that minimises the sum
    over groups of length-sorted rows is found exactly (dynamic programming, O(n^2) for the
    few dozen rows of a micro-batch). Returns lists of indices into ``lengths``.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    best = [0.0] * (n + 1)
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        longest = lengths[order[end - 1]]
        best[end], cut[end] = min(
            (best[start] + call_overhead + (end - start) * longest, start) for start in range(end)
        )
    groups: list[list[int]] = []
    end = n
    while end > 0:
        groups.append(order[cut[end] : end])
        end = cut[end]
    return groups[::-1]


def with_embedding(model: Any) -> Any:
    """``model`` called so that it also returns each text's embedding: its last hidden
    layer mean-pooled over the real tokens (what the out-of-scope scorer compares)."""
    import torch

    class LogitsAndEmbedding(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> dict[str, torch.Tensor]:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            out = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_hidden_states=True,
                **extra,
            )
            hidden = out.hidden_states[-1]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
            return {"logits": out.logits, "embedding": pooled}

    return LogitsAndEmbedding(model).eval()


def trace_for_cpu(model: Any, tokenizer: Any) -> Any | None:
    """A checked TorchScript trace of ``model`` (:mod:`retrieval.models.torchscript`), or None."""
    import torch

    def logits(fn: Any, texts: Sequence[str]) -> Any:
        batch = dict(tokenizer(list(texts), padding=True, return_tensors="pt"))
        with torch.inference_mode():
            out = fn(**batch)
        if isinstance(out, dict):
            # The embedding is checked with the logits: the out-of-scope rule reads it.
            parts = [out["logits"]] + ([out["embedding"]] if "embedding" in out else [])
            return torch.cat([p.float() for p in parts], dim=-1)
        return out.logits

    def trace() -> Any:
        example = dict(tokenizer(list(TRACE_EXAMPLE), padding=True, return_tensors="pt"))
        return torch.jit.trace(model, example_kwarg_inputs=example, strict=False, check_trace=False)

    return checked_trace("model", trace, model, logits)


def _load_oos(directory: Path) -> OutOfScopeScorer | None:
    try:
        return OutOfScopeScorer.load(directory)
    except OutOfScopeFileError as exc:
        raise ModelDirError(str(exc)) from exc


def _load_sparse(directory: Path, card: ModelCard, spec: SparseModel) -> SparseScorer:
    try:
        scorer = SparseScorer.load(directory / spec.file, spec.blocks)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(
            f"{directory}: the sparse n-gram model ({spec.file}) cannot be read "
            f"({type(exc).__name__}: {exc}); retrain the model"
        ) from exc
    if scorer.coef.shape[0] != len(card.labels):
        raise ModelDirError(
            f"{directory}: the sparse model scores {scorer.coef.shape[0]} labels but "
            f"{LABELS_NAME} lists {len(card.labels)}; retrain the model"
        )
    return scorer


def _directory(card: ModelCard) -> Path:
    if card.path is None:
        raise ValueError("card: not read from a model directory; use TextClassifier.load(path)")
    return card.path


def _quantization_mode(quantize: bool | str | None, device: str) -> str:
    """None, True or "auto": int8 per row on a CPU with fast int8 products, else fp32 (the
    labels are the same); False: none; or a ``Config.quantization`` mode. Only the CPU is
    quantized: GPUs run mixed precision instead."""
    if device != "cpu" or quantize is False:
        return "off"
    if quantize is None or quantize is True or quantize == "auto":
        from retrieval.models.int8 import int8_matmul_is_fast

        if int8_matmul_is_fast():
            return "int8-row"
        log.info("this CPU has no fast int8 products (no VNNI/AMX); serving fp32")
        return "off"
    return quantize


class TextClassifier:
    """A fine-tuned sequence classifier, loaded once, used from one worker thread at a time."""

    def __init__(
        self,
        card: ModelCard,
        device: str | None = None,
        quantize: bool | str | None = None,
        sparse: bool = True,
    ) -> None:
        # Serving never downloads: a directory that is not complete must fail here, loudly.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.card = card
        self.device = pick_device(device)
        directory = _directory(card)
        modeldir.require(directory, HF_CONFIG_NAME)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(
                str(directory), local_files_only=True
            )
        except OSError as exc:
            raise ModelDirError(f"{directory}: cannot load the model files ({exc})") from exc
        if model.config.num_labels != len(card.labels):
            raise ModelDirError(
                f"{directory}: the model has {model.config.num_labels} outputs but "
                f"{LABELS_NAME} lists {len(card.labels)} labels; retrain the model"
            )
        model.eval()
        # Sentiment models may carry a per-label logit bias chosen at training time (the
        # prior correction in training.calibration): part of the model, applied everywhere.
        self._logit_bias = None
        if card.logit_bias is not None:
            self._logit_bias = torch.tensor(card.logit_bias)
        self.sparse: SparseScorer | None = None
        self._fusion = (0.0, 1.0)
        if card.sparse is not None and sparse:
            self.sparse = _load_sparse(directory, card, card.sparse)
            self._fusion = (card.sparse.weight, card.sparse.scale)
        mode = _quantization_mode(quantize, self.device)
        if mode != "off":
            from retrieval.models.int8 import quantize_linear_layers, quantize_per_batch

            if mode == "int8-batch":
                model = quantize_per_batch(model)
            else:
                model = quantize_linear_layers(model)
        self.model = model.to(self.device)
        self._forward = with_embedding(self.model)
        # On the CPU a traced graph runs the whole forward pass in C++: a single message
        # costs about half as much, and the Python interpreter lock is free meanwhile for
        # the event loop and the other model.
        self._traced = (
            trace_for_cpu(self._forward, self.tokenizer) if self.device == "cpu" else None
        )
        # None for directories written before the scorer existed: they keep the card's rule.
        self.oos = _load_oos(directory) if card.task == "intent" else None
        # bf16 autocast on GPUs that have it, fp16 otherwise; full precision on the CPU.
        self._autocast_dtype = None
        if self.device.startswith("cuda"):
            self._autocast_dtype = (
                torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            )

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str | None = None,
        quantize: bool | str | None = None,
        sparse: bool = True,
    ) -> TextClassifier:
        """Load a model directory; on the CPU with int8 linear layers scaled per row unless
        ``quantize`` is False or names another mode of ``Config.quantization``. Evaluation
        loads the same way and, with labels that do not depend on the batch, measures what is
        served. ``sparse=False`` leaves out a fused n-gram model (to measure the encoder
        alone)."""
        return cls(modeldir.read(path), device=device, quantize=quantize, sparse=sparse)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    @property
    def traced(self) -> bool:
        """Whether inference runs through a checked TorchScript trace (CPU only)."""
        return self._traced is not None

    def probabilities(self, texts: Sequence[str]) -> Any:
        """Softmax probabilities, shape (len(texts), len(labels)), as a numpy array."""
        return self.scores(texts)[0]

    def scores(self, texts: Sequence[str]) -> tuple[Any, Any]:
        """The probabilities, and the encoder's own top probability per text (the
        confidence the rejection rule reads when an n-gram model is fused in).

        The n-gram model is confident wherever words overlap, on questions from another
        domain too; the encoder's confidence separates what it knows from what it does not
        better, so rejecting on it keeps more in-scope messages and turns away more
        off-topic ones (bench/intent_banking77.py compares the two rules).
        """
        scores = self.analyse(texts)
        return scores.probabilities, scores.encoder_confidence

    def analyse(self, texts: Sequence[str]) -> Scores:
        """:meth:`scores` and each text's embedding, from one forward pass."""
        import numpy as np
        import torch

        config = self.model.config
        width = int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0))
        if not texts:
            return Scores(
                np.zeros((0, len(self.card.labels)), dtype="float32"),
                np.zeros(0, dtype="float32"),
                np.zeros((0, width), dtype="float32"),
            )
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.card.max_length)
        ids: list[list[int]] = encoded["input_ids"]
        out = np.empty((len(ids), len(self.card.labels)), dtype="float32")
        encoder_confidence = np.empty(len(ids), dtype="float32")
        embeddings = np.empty((len(ids), width), dtype="float32")
        weight, scale = self._fusion
        sparse = torch.from_numpy(self.sparse.scores(texts)) if self.sparse else None
        overhead = GPU_CALL_OVERHEAD_TOKENS if self.device != "cpu" else CPU_CALL_OVERHEAD_TOKENS
        forward = self._traced if self._traced is not None else self._forward
        with torch.inference_mode():
            for group in length_groups([len(row) for row in ids], overhead):
                batch = self._padded([ids[i] for i in group], torch)
                if self._autocast_dtype is not None:
                    with torch.autocast("cuda", dtype=self._autocast_dtype):
                        result = forward(**batch)
                else:
                    result = forward(**batch)
                logits = result["logits"].float().cpu()
                embeddings[group] = result["embedding"].float().cpu().numpy()
                fused = logits
                if sparse is not None:
                    fused = (1 - weight) * logits + weight * scale * sparse[group]
                if self._logit_bias is not None:
                    # The bias was calibrated on the fused probabilities: it comes last.
                    logits = logits + self._logit_bias
                    fused = fused + self._logit_bias
                encoder_confidence[group] = torch.softmax(logits, dim=-1).max(dim=-1).values
                out[group] = torch.softmax(fused, dim=-1).numpy()
        return Scores(out, encoder_confidence, embeddings)

    def _padded(self, rows: Sequence[Sequence[int]], torch: Any) -> dict[str, Any]:
        """Right-padded tensors for rows of token ids, as the tokenizer would pad them."""
        width = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.tokenizer.model_input_names:
            batch["token_type_ids"] = torch.zeros_like(input_ids)
        return {name: tensor.to(self.device) for name, tensor in batch.items()}

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        scores = self.analyse(texts)
        oos = self.oos_scores(scores)
        return [
            self.decide(row, c, o)
            for row, c, o in zip(scores.probabilities, scores.encoder_confidence, oos, strict=True)
        ]

    def oos_scores(self, scores: Scores) -> list[float | None]:
        """The out-of-scope score of each text (higher: more like what the model was
        taught), or None for each where the model has no out-of-scope scorer."""
        if self.oos is None:
            return [None] * len(scores.encoder_confidence)
        return [float(x) for x in self.oos.scores(scores.encoder_confidence, scores.embeddings)]

    def decide(
        self, probs: Any, encoder_confidence: float | None = None, oos_score: float | None = None
    ) -> Prediction:
        """Apply the model's rejection rule to one row of probabilities.

        With an out-of-scope scorer (:mod:`retrieval.models.oos`) and its ``oos_score`` for
        the text, a score below the scorer's threshold rejects; otherwise the card's rule
        reads the top probability (or, for the ``encoder_max_softmax`` rule, the encoder's
        own confidence in that text). A predicted oos label always rejects.
        """
        order = probs.argsort()[::-1]
        ranking = tuple((self.card.labels[i], float(probs[i])) for i in order[:RANKING_SIZE])
        top_label, confidence = ranking[0]
        if self.oos is not None and oos_score is not None:
            below = oos_score < self.oos.threshold
        else:
            measured = confidence
            rejection = self.card.rejection
            if rejection.method == ENCODER_REJECTION and encoder_confidence is not None:
                measured = float(encoder_confidence)
            below = measured < rejection.threshold
        rejected = top_label in self.card.oos_labels or below
        return Prediction(
            label=FALLBACK_INTENT if rejected else top_label,
            confidence=confidence,
            top_label=top_label,
            ranking=ranking,
        )
