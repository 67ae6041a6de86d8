"""The export bundle on disk: its file set, the input/output contract and a checksummed manifest.

Torch-free on purpose (stdlib only): deployers verify a bundle with :func:`verify_bundle` on machines
that have onnxruntime and nothing else, and :mod:`trainer.predict` imports this module.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

BUNDLE_FORMAT = "seaguard-onnx-bundle/1"
MANIFEST = "manifest.json"
FP32_MODEL = "model.onnx"
# File names of the reduced-precision model per quantisation mode.
QUANTIZED_MODELS = {"dynamic": "model.int8.onnx", "static": "model.int8.onnx", "fp16": "model.fp16.onnx"}
PREPROCESS = "preprocess.json"

BUNDLE_FILES = {
    FP32_MODEL: "fp32 ONNX graph, dynamic batch and sequence axes (+ model.onnx.data when >= 1 GB)",
    "model.onnx.data": "the fp32 weights, when the model is >= 1 GB (protobuf's 2 GB limit)",
    "model.int8.onnx": "int8 graph (dynamic or static quantisation), when quantization.mode is dynamic/static",
    "model.int8.onnx.data": "the int8 weights, when the fp32 model is >= 1 GB",
    "model.fp16.onnx": "fp16 graph for GPU serving, when quantization.mode=fp16",
    "model.fp16.onnx.data": "the fp16 weights, when the fp32 model is >= 1 GB",
    "tokenizer.json": "the tokenizer (Hugging Face `tokenizers` format) + tokenizer_config.json",
    PREPROCESS: "text normaliser settings, max length and which inputs the graph takes",
    "labels.json": "label map: task, names in output order, positive label (also in the ONNX metadata)",
    "thresholds.json": "decision thresholds tuned on validation (binary/multi-label; null for multiclass)",
    "calibration.json": "temperature T: probabilities are softmax/sigmoid(logits / T)",
    "metrics.json": "fp32 and quantised metrics on the gate split, per language, and both gate reports",
    "smoke.json": "example texts with their expected outputs and batch-1 latency, re-checked by trainer.pull",
    MANIFEST: "sha256 of every other file, source, data digest, versions, opset, contract",
    "README.md": "this description",
}


class BundleError(ValueError):
    """A bundle is incomplete or altered; the message names the file."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def contract(
    task: str, label_names: list[str], input_names: list[str], max_length: int, temperature: float
) -> dict[str, Any]:
    """What a caller feeds the graph and how to read what comes out."""
    shape = ["batch", "sequence"]
    meaning = {
        "input_ids": "token ids from tokenizer.json, padded with its pad id, truncated to max_length",
        "attention_mask": "1 for real tokens, 0 for padding",
        "token_type_ids": "all zeros (single-segment input)",
    }
    if task == "multilabel":
        scores = f"sigmoid(logits / {temperature:g}) per label; label k is on when its score >= thresholds[k]"
    elif task == "binary":
        scores = (
            f"softmax(logits / {temperature:g}); the positive label wins when its score >= thresholds[0], "
            "otherwise the other label"
        )
    else:
        scores = f"softmax(logits / {temperature:g}); the prediction is the argmax"
    return {
        "inputs": [{"name": n, "dtype": "int64", "shape": shape, "meaning": meaning[n]} for n in input_names],
        "outputs": [
            {
                "name": "logits",
                "dtype": "float32",
                "shape": ["batch", len(label_names)],
                "meaning": f"unnormalised scores in labels.json order {label_names}; {scores}",
            }
        ],
        "max_length": max_length,
        "temperature": temperature,
        "task": task,
        "labels": label_names,
    }


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file under ``folder`` except the manifest, by relative path."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel != MANIFEST:
            out[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def write_manifest(folder: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest.json``: ``info`` plus the checksum table of everything already in ``folder``."""
    manifest = {"format": BUNDLE_FORMAT, **info, "files": file_table(folder)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{path}: missing; {folder} is not an export bundle")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BundleError(f"{path}: not valid JSON ({err})") from None
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: format {manifest.get('format')!r}, expected {BUNDLE_FORMAT!r}")
    return manifest


def verify_bundle(folder: Path) -> dict[str, Any]:
    """Check every file against the manifest (present, same size and sha256, nothing extra).

    Returns the manifest; raises :class:`BundleError` naming each file that differs.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    expected: dict[str, dict[str, Any]] = manifest.get("files") or {}
    problems = []
    for rel, entry in expected.items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.stat().st_size != entry["bytes"]:
            problems.append(f"{rel}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{rel}: sha256 differs from the manifest")
    extra = sorted(set(file_table_names(folder)) - set(expected))
    problems += [f"{rel}: not listed in the manifest" for rel in extra]
    if problems:
        raise BundleError(f"bundle {folder} does not match {MANIFEST}: " + "; ".join(problems))
    return manifest


def file_table_names(folder: Path) -> list[str]:
    return [
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST
    ]


def write_readme(folder: Path, summary: dict[str, Any]) -> None:
    """A README listing the bundle's files, so the folder explains itself without this code."""
    lines = [
        "# Export bundle",
        "",
        "Written by `python -m trainer.export`; check it with "
        "`python -c \"from trainer.serving.bundle import verify_bundle; verify_bundle('.')\"`, "
        'predict with `python -m trainer.predict <bundle> "text"`.',
        "",
    ]
    lines += [f"- **{key}**: {value}" for key, value in summary.items()]
    present = {p.name for p in folder.iterdir()} | {MANIFEST, "README.md"}
    lines += ["", "| file | what it holds |", "|---|---|"]
    lines += [f"| `{name}` | {what} |" for name, what in BUNDLE_FILES.items() if name in present]
    (folder / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
