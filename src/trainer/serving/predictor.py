"""Torch-free reference predictor for an export bundle: texts in, labels and scores out.

The command line is :mod:`trainer.predict`; the bundle's files are read through
:class:`trainer.serving.bundle.Bundle`. Needs only numpy, onnxruntime and tokenizers: it must not import
torch, transformers or any trainer module that does (``trainer.data`` is stdlib-only). It applies what training applied: the dataset's
text normaliser, the tokenizer and max length, the temperature and the tuned thresholds, with the
decision rule of :func:`trainer.scoring.metrics.predict_labels` (a test keeps the two in step).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from trainer.data.labels import LabelMap
from trainer.data.normalize import normalize_text
from trainer.serving.bundle import Bundle, BundleError


class BundlePredictor:
    """Runs one graph of a bundle on raw texts.

    Args:
        bundle_dir: folder written by ``python -m trainer.export``.
        model: ``auto``, ``int8``, ``fp16``, ``fp32`` or a file name inside the bundle.
        threads: onnxruntime intra-op threads (None: onnxruntime's default, all cores).
        batch_size: rows per session call; rows are sorted by length first so padding stays small.
        verify: check every file's sha256 against ``manifest.json`` before loading.
        providers: onnxruntime execution providers, e.g. ``["CUDAExecutionProvider"]`` for fp16.
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        model: str = "auto",
        threads: int | None = None,
        batch_size: int = 32,
        verify: bool = False,
        providers: Sequence[str] | None = None,
    ) -> None:
        bundle = Bundle(Path(bundle_dir))
        self.bundle = bundle.path
        if verify:
            bundle.verify()
        pre = bundle.preprocess()
        self.normalizer = bundle.normalizer(pre)
        self.max_length = int(pre["max_length"])
        self.pad_id = int(pre["pad_id"])
        self.label_map = bundle.label_map()
        self.thresholds = bundle.thresholds()
        self.temperature = bundle.temperature()
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(bundle.tokenizer_file))
        self.tokenizer.no_padding()  # we pad per batch, after sorting by length
        self.tokenizer.enable_truncation(self.max_length)
        self.model_path = bundle.choose_graph(model)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(self.model_path), options, providers=list(providers or ["CPUExecutionProvider"])
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        embedded = self.session.get_modelmeta().custom_metadata_map.get("labels")
        if embedded is not None and json.loads(embedded)["names"] != list(self.label_map.names):
            raise BundleError(f"{self.model_path}: labels in the ONNX metadata differ from labels.json")

    # -- arrays ---------------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], normalize: bool = True) -> list[list[int]]:
        """Token ids per text (normalised first unless the texts already are)."""
        if normalize:
            texts = [normalize_text(t, self.normalizer) for t in texts]
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def feeds(self, ids: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """Session inputs for one batch, padded to its longest row."""
        width = max(len(row) for row in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        arrays = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        return {name: arrays[name] for name in self.input_names}

    def logits(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        ids = self.encode(texts, normalize)
        out = np.zeros((len(ids), self.label_map.num_labels), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self.session.run(["logits"], self.feeds([ids[i] for i in rows]))[0]
        return out

    def probabilities(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        return scores_from_logits(self.logits(texts, normalize), self.label_map.task, self.temperature)

    # -- decisions ------------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One dict per text: ``label`` (``labels`` for multi-label tasks) and ``scores`` per label."""
        if not texts:
            return []
        for i, text in enumerate(texts):
            problem = text_problem(text)
            if problem is not None:  # the tokenizer's own error would not say which text
                raise ValueError(f"text {i}: {problem}")
        probs = self.probabilities(texts)
        decisions = decide(probs, self.label_map, self.thresholds)
        names = self.label_map.names
        out = []
        for row, decision in zip(probs, decisions, strict=True):
            scores = {n: round(float(p), 6) for n, p in zip(names, row, strict=True)}
            if self.label_map.task == "multilabel":
                out.append({"labels": [n for n, on in zip(names, decision, strict=True) if on], "scores": scores})
            else:
                out.append({"label": names[int(decision)], "scores": scores})
        return out


def text_problem(text: object) -> str | None:
    """Why ``text`` cannot be classified (not a string, or not valid Unicode), or None when it can."""
    if not isinstance(text, str):
        return f"expected a string, got {type(text).__name__}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate: JSON "\\ud83d", or undecodable bytes in argv
        bad = err.object[err.start : err.end]
        return f"the text holds {bad!r} at character {err.start}, a lone surrogate: not valid Unicode"
    return None


def scores_from_logits(logits: np.ndarray, task: str, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    if task == "multilabel":
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def decide(probs: np.ndarray, label_map: LabelMap, thresholds: Sequence[float] | None) -> np.ndarray:
    """The rule of :func:`trainer.scoring.metrics.predict_labels`, in numpy: 0/1 per label or a class index."""
    if label_map.task == "multilabel":
        per_label = np.asarray(thresholds if thresholds is not None else [0.5] * label_map.num_labels, dtype=np.float32)
        return (probs >= per_label).astype(np.int64)
    if label_map.task == "binary":
        pos = label_map.positive_index
        if pos is None:
            raise BundleError("labels.json: a binary task needs positive_label")
        t = thresholds[0] if thresholds is not None else 0.5
        return np.where(probs[:, pos] >= np.float32(t), pos, 1 - pos)
    return probs.argmax(axis=1)
