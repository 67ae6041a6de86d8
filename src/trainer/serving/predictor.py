"""Torch-free reference predictor for an export bundle: texts in, labels and scores out.

    python -m trainer.predict outputs/export/<name> "first text" "second text"
    python -m trainer.predict outputs/export/<name> --jsonl posts.jsonl > predictions.jsonl

Needs only numpy, onnxruntime and tokenizers: it must not import torch, transformers or any trainer
module that does (``trainer.data`` is stdlib-only). It applies what training applied: the dataset's
text normaliser, the tokenizer and max length, the temperature and the tuned thresholds, with the
decision rule of :func:`trainer.scoring.metrics.predict_labels` (a test keeps the two in step).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from trainer.data.labels import LabelMap
from trainer.data.normalize import NormalizerConfig, normalize_text
from trainer.serving.bundle import FP32_MODEL, PREPROCESS, QUANTIZED_MODELS, BundleError, verify_bundle


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise BundleError(f"{path}: missing from the bundle")
    return json.loads(path.read_text(encoding="utf-8"))


def choose_model_file(bundle: Path, model: str) -> Path:
    """``auto`` (the quantised graph when there is one), ``int8``, ``fp16``, ``fp32`` or a file name."""
    names = {"fp32": FP32_MODEL, "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}
    if model == "auto":
        for name in dict.fromkeys(QUANTIZED_MODELS.values()):
            if (bundle / name).is_file():
                return bundle / name
        return bundle / FP32_MODEL
    path = bundle / names.get(model, model)
    if not path.is_file():
        raise BundleError(f"{path}: no such model in the bundle (--model {model})")
    return path


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
        self.bundle = Path(bundle_dir)
        if verify:
            verify_bundle(self.bundle)
        pre = _read_json(self.bundle / PREPROCESS)
        known = {f.name for f in fields(NormalizerConfig)}
        unknown = sorted(set(pre["normalizer"]) - known)
        if unknown:
            raise BundleError(f"{self.bundle / PREPROCESS}: unknown normalizer keys {unknown}")
        self.normalizer = NormalizerConfig(**pre["normalizer"])
        self.max_length = int(pre["max_length"])
        self.pad_id = int(pre["pad_id"])
        self.label_map = LabelMap.load(self.bundle / "labels.json")
        self.thresholds = _read_json(self.bundle / "thresholds.json")["thresholds"]
        calibration = self.bundle / "calibration.json"
        self.temperature = float(_read_json(calibration).get("temperature", 1.0)) if calibration.is_file() else 1.0
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(self.bundle / "tokenizer.json"))
        self.tokenizer.no_padding()  # we pad per batch, after sorting by length
        self.tokenizer.enable_truncation(self.max_length)
        self.model_path = choose_model_file(self.bundle, model)
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


def _jsonl_rows(path: str, text_field: str) -> Iterable[dict[str, Any]]:
    handle = sys.stdin if path == "-" else open(path, encoding="utf-8")  # closed in finally (not stdin)
    try:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise SystemExit(f"{path}:{number}: not JSON ({err})") from None
            if isinstance(row, str):
                row = {text_field: row}
            if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
                raise SystemExit(f"{path}:{number}: expected a string or an object with a string {text_field!r}")
            yield row
    finally:
        if handle is not sys.stdin:
            handle.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.predict", description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, help="export bundle folder")
    parser.add_argument("texts", nargs="*", help="texts to classify (one JSON line out per text)")
    parser.add_argument("--jsonl", help="JSONL input (objects with a text field, or strings); - for stdin")
    parser.add_argument("--text-field", default="text", help="field holding the text in --jsonl rows")
    parser.add_argument("--model", default="auto", help="auto, int8, fp16, fp32 or a file in the bundle")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=1024, help="--jsonl rows read per prediction call")
    parser.add_argument("--verify", action="store_true", help="check the manifest checksums first")
    args = parser.parse_args(argv)
    if not args.texts and not args.jsonl:
        parser.error("give texts or --jsonl FILE")
    try:
        predictor = BundlePredictor(args.bundle, args.model, args.threads, args.batch_size, args.verify)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = sys.stdout
    for text, pred in zip(args.texts, predictor.predict(args.texts), strict=True):
        out.write(json.dumps({"text": text, **pred}, ensure_ascii=False) + "\n")
    if args.jsonl:
        chunk: list[dict[str, Any]] = []
        for row in _jsonl_rows(args.jsonl, args.text_field):
            chunk.append(row)
            if len(chunk) >= args.chunk:
                _write_chunk(predictor, chunk, args.text_field, out)
                chunk = []
        _write_chunk(predictor, chunk, args.text_field, out)
    return 0


def _write_chunk(predictor: BundlePredictor, rows: list[dict[str, Any]], text_field: str, out: Any) -> None:
    for row, pred in zip(rows, predictor.predict([r[text_field] for r in rows]), strict=True):
        out.write(json.dumps({**row, **pred}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
