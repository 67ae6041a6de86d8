"""Scorers: turn already-normalised texts into logits, with torch (a transformers folder) or onnxruntime (a bundle)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch


class ScoredModel(Protocol):
    """What a scorer needs of a resolved model reference (``trainer.tracking.references.ModelRef``)."""

    @property
    def uri(self) -> str: ...
    @property
    def max_length(self) -> int: ...
    @property
    def model_dir(self) -> Path | None: ...
    @property
    def bundle_dir(self) -> Path | None: ...


class Scorer(Protocol):
    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        """Raw logits ``(n, k)`` for texts that are already normalised."""
        ...


class TorchScorer:
    """A transformers folder scored in batches (truncation at the run's max length)."""

    def __init__(self, model_dir: Path, max_length: int, batch_size: int = 32) -> None:
        from transformers import AutoTokenizer

        from trainer.models.pooling import load_saved_classifier

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = load_saved_classifier(model_dir).eval()
        self.max_length = max_length
        self.batch_size = batch_size

    @torch.inference_mode()
    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            out.append(self.model(**enc).logits.float())
        return torch.cat(out) if out else torch.zeros(0, self.model.config.num_labels)


class BundleScorer:
    """One ONNX graph of a bundle (``auto``: the quantised one when present)."""

    def __init__(self, bundle_dir: Path, graph: str = "auto", batch_size: int = 32) -> None:
        from trainer.serving.conformance import load_checked

        self.predictor = load_checked(bundle_dir, graph, batch_size=batch_size)

    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        return torch.from_numpy(self.predictor.logits(list(texts), normalize=False))


def make_scorer(ref: ScoredModel, graph: str = "auto", batch_size: int = 32) -> Scorer:
    if ref.bundle_dir is not None:
        return BundleScorer(ref.bundle_dir, graph, batch_size)
    if ref.model_dir is None:
        raise ValueError(f"{ref.uri}: neither a transformers folder nor a bundle to score")
    return TorchScorer(ref.model_dir, ref.max_length, batch_size)
