"""The export bundle on disk: the only code that knows its file names and reads or writes them.

:class:`Bundle` owns the file set (graphs through the precision table :mod:`trainer.serving.precisions`,
tokenizer, ``preprocess.json``, labels, thresholds, calibration, metrics, smoke examples, conformance vectors,
README), the checksummed manifest, and ``pulled.json`` of a folder pulled with ``--precision`` (which files it
took: :func:`verify_bundle` checks exactly those). What the manifest's contract and ``labels.json``'s decision
block say is built by :mod:`trainer.serving.contract`.

Torch-free on purpose (stdlib only): deployers verify a bundle with :func:`verify_bundle` on machines
that have onnxruntime and nothing else, and :mod:`trainer.predict` imports this module.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from trainer.data.labels import LabelMap
from trainer.data.normalize import NormalizerConfig, normalizer_spec
from trainer.serving.precisions import FP32, PRECISIONS, REDUCED, Precision

BUNDLE_FORMAT = "seaguard-onnx-bundle/1"
MANIFEST = "manifest.json"
PREPROCESS = "preprocess.json"
TOKENIZER = "tokenizer.json"
# What a server needs of the tokenizer; the last two are optional in a transformers folder.
TOKENIZER_FILES = (TOKENIZER, "tokenizer_config.json", "special_tokens_map.json")
LABELS = "labels.json"
THRESHOLDS = "thresholds.json"
CALIBRATION = "calibration.json"
METRICS = "metrics.json"
SMOKE = "smoke.json"
CONFORMANCE = "conformance.json"
README = "README.md"
# Written by ``trainer.pull --precision``: which precision the folder holds and which files it took.
PULLED = "pulled.json"

BUNDLE_FILES = {
    **{
        name: what
        for p in PRECISIONS.values()
        for name, what in ((p.graph, p.describes), (p.external_data, p.weights_describe))
    },
    TOKENIZER: "the tokenizer (Hugging Face `tokenizers` format) + tokenizer_config.json",
    PREPROCESS: "the text normaliser step by step (normalizer_spec), tokenisation and truncation, the graph's inputs",
    LABELS: "label map: task, names in output order, positive label (also in the ONNX metadata) and the decision rule",
    THRESHOLDS: "decision thresholds tuned on validation (binary/multi-label; null for multiclass)",
    CALIBRATION: "temperature T: probabilities are softmax/sigmoid(logits / T)",
    METRICS: "fp32 and quantised metrics on the gate split, per language, and both gate reports",
    SMOKE: "example texts with their expected outputs and batch-1 latency, re-checked by trainer.pull",
    CONFORMANCE: "raw text -> normalised text -> token ids -> logits -> scores -> decision, per graph: any runtime's test",
    MANIFEST: "sha256 of every other file, source, data digest, versions, opset, contract",
    README: "this description",
}


class BundleError(ValueError):
    """A bundle is incomplete or altered; the message names the file."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, data: Any, ensure_ascii: bool = False) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=ensure_ascii) + "\n", encoding="utf-8")


def graph_bytes(files: dict[str, dict[str, Any]], precision: Precision) -> int | None:
    """Bytes of one graph and its external weights in a manifest's file table; None when it has none."""
    if precision.graph not in files:
        return None
    return int(files[precision.graph]["bytes"] + (files.get(precision.external_data) or {}).get("bytes", 0))


@dataclass(frozen=True)
class Bundle:
    """An export bundle folder (``python -m trainer.export`` output)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # -- locations ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def tokenizer_file(self) -> Path:
        return self.path / TOKENIZER

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST

    def exists(self) -> bool:
        """Whether the folder holds a manifest (a finished bundle)."""
        return self.manifest_file.is_file()

    def graph(self, precision: Precision) -> Path:
        return self.path / precision.graph

    def choose_graph(self, model: str = "auto") -> Path:
        """``auto`` (the reduced-precision graph when there is one), a precision name, or a file name."""
        if model == "auto":
            present = [self.graph(p) for p in REDUCED if self.graph(p).is_file()]
            return present[0] if present else self.graph(FP32)
        path = self.graph(PRECISIONS[model]) if model in PRECISIONS else self.path / model
        if not path.is_file():
            raise BundleError(f"{path}: no such model in the bundle (--model {model})")
        return path

    # -- readers -----------------------------------------------------------------------------------
    def _json(self, name: str) -> Any:
        path = self.path / name
        if not path.is_file():
            raise BundleError(f"{path}: missing from the bundle")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise BundleError(f"{path}: not valid JSON ({err})") from None

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_file.is_file():
            raise BundleError(f"{self.manifest_file}: missing; {self.path} is not an export bundle")
        manifest = self._json(MANIFEST)
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{self.manifest_file}: format {manifest.get('format')!r}, expected {BUNDLE_FORMAT!r}")
        return manifest

    def preprocess(self) -> dict[str, Any]:
        """Normaliser settings, ``max_length``, ``pad_id`` and the graph's ``inputs``."""
        return self._json(PREPROCESS)

    def normalizer(self, preprocess: dict[str, Any] | None = None) -> NormalizerConfig:
        settings = (preprocess or self.preprocess())["normalizer"]
        unknown = sorted(set(settings) - {f.name for f in fields(NormalizerConfig)})
        if unknown:
            raise BundleError(f"{self.path / PREPROCESS}: unknown normalizer keys {unknown}")
        return NormalizerConfig(**settings)

    def label_map(self) -> LabelMap:
        return LabelMap.from_dict(self._json(LABELS))

    def thresholds(self) -> list[float] | None:
        return self._json(THRESHOLDS)["thresholds"]

    def temperature(self) -> float:
        """T of ``calibration.json``; 1.0 when the bundle has none."""
        if not (self.path / CALIBRATION).is_file():
            return 1.0
        return float(self._json(CALIBRATION).get("temperature", 1.0))

    def metrics(self) -> dict[str, Any]:
        return self._json(METRICS)

    def conformance(self) -> dict[str, Any]:
        if not (self.path / CONFORMANCE).is_file():
            raise BundleError(
                f"{self.path / CONFORMANCE}: missing; this bundle has no conformance vectors (export it again "
                f"with a trainer that writes {CONFORMANCE})"
            )
        return self._json(CONFORMANCE)

    def smoke(self) -> dict[str, Any]:
        if not (self.path / SMOKE).is_file():
            raise BundleError(
                f"{self.path / SMOKE}: missing; this bundle has no smoke examples to check (export it again "
                f"with a trainer that writes {SMOKE})"
            )
        return self._json(SMOKE)

    def verify(self) -> dict[str, Any]:
        """Check every file against the manifest (present, same size and sha256, nothing extra).

        Returns the manifest; raises :class:`BundleError` naming each file that differs, and refuses,
        before reading any file, a manifest that names a path outside the bundle.
        """
        manifest = self.manifest()
        expected: dict[str, dict[str, Any]] = manifest.get("files") or {}
        unsafe = [rel for rel in expected if self.leaves_bundle(rel)]
        if unsafe:  # refused before anything is read: such a name would check a file outside the bundle
            raise BundleError(
                f"bundle {self.path}: {MANIFEST} names paths outside the bundle (absolute, with '..', or "
                f"through a symlink): {', '.join(repr(rel) for rel in unsafe)}"
            )
        problems = []
        for rel, entry in expected.items():
            path = self.path / rel
            if not path.is_file():
                problems.append(f"{rel}: missing")
            elif path.stat().st_size != entry["bytes"]:
                problems.append(f"{rel}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
            elif sha256_file(path) != entry["sha256"]:
                problems.append(f"{rel}: sha256 differs from the manifest")
        problems += [f"{rel}: not listed in the manifest" for rel in sorted(set(self.file_names()) - set(expected))]
        if problems:
            raise BundleError(f"bundle {self.path} does not match {MANIFEST}: " + "; ".join(problems))
        return manifest

    def leaves_bundle(self, rel: str) -> bool:
        """Whether manifest name ``rel`` is absolute, has a ``..`` part, or resolves outside the folder."""
        posix, windows = PurePosixPath(rel), PureWindowsPath(rel)  # bundles also travel to Windows hosts
        if posix.is_absolute() or windows.anchor or ".." in posix.parts or ".." in windows.parts:
            return True
        try:
            resolved = (self.path / rel).resolve()  # follows symlinks, inside the bundle or not
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte: no real bundle has them
            return True
        return not resolved.is_relative_to(self.path.resolve())

    def file_names(self) -> list[str]:
        """Every file under the folder but the manifest, by relative path (in path order)."""
        paths = sorted(p for p in self.path.rglob("*") if p.is_file())
        return [rel for rel in (p.relative_to(self.path).as_posix() for p in paths) if rel != MANIFEST]

    def file_table(self) -> dict[str, dict[str, Any]]:
        """sha256 and size of every file except the manifest, by relative path."""
        return {
            rel: {"sha256": sha256_file(self.path / rel), "bytes": (self.path / rel).stat().st_size}
            for rel in self.file_names()
        }

    # -- writers -----------------------------------------------------------------------------------
    def copy_tokenizer(self, model_dir: Path) -> None:
        for name in TOKENIZER_FILES:
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, self.path / name)

    def write_preprocess(
        self, normalizer: dict[str, Any], normalizer_version: Any, max_length: int, pad_id: Any, inputs: list[str]
    ) -> None:
        settings = {
            "normalizer": normalizer,
            "normalizer_version": normalizer_version,
            "normalizer_spec": normalizer_spec(NormalizerConfig(**normalizer)),
            "tokenization": tokenization(max_length, pad_id),
            "max_length": max_length,
            "pad_id": pad_id,
            "inputs": inputs,
        }
        _write_json(self.path / PREPROCESS, settings, ensure_ascii=True)

    def write_labels(self, label_map: LabelMap, decision: dict[str, Any] | None = None) -> None:
        """``labels.json``: the label map, and the decision rule (:func:`decision_rule`) when given."""
        labels = label_map.to_dict() | ({"decision": decision} if decision is not None else {})
        _write_json(self.path / LABELS, labels)

    def copy_decision_files(self, thresholds: Path, calibration: Path | None) -> None:
        """The run's own ``thresholds.json`` (and ``calibration.json``), byte for byte."""
        shutil.copy2(thresholds, self.path / THRESHOLDS)
        if calibration is not None:
            shutil.copy2(calibration, self.path / CALIBRATION)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        _write_json(self.path / METRICS, metrics)

    def write_smoke(self, smoke: dict[str, Any]) -> None:
        _write_json(self.path / SMOKE, smoke)

    def write_conformance(self, vectors: dict[str, Any]) -> None:
        _write_json(self.path / CONFORMANCE, vectors, ensure_ascii=True)  # the vectors' bytes survive any editor

    def write_readme(self, summary: dict[str, Any]) -> None:
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
        decision = self._json(LABELS).get("decision") if (self.path / LABELS).is_file() else None
        if decision:
            lines += ["", "## Decision rule", "", decision["rule"], "", f"Ties: {decision['ties']}"]
        if (self.path / CONFORMANCE).is_file():
            lines += ["", "## Conformance", "", CONFORMANCE_README]
        present = {p.name for p in self.path.iterdir()} | {MANIFEST, README}
        lines += ["", "| file | what it holds |", "|---|---|"]
        lines += [f"| `{name}` | {what} |" for name, what in BUNDLE_FILES.items() if name in present]
        (self.path / README).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def write_manifest(self, info: dict[str, Any]) -> dict[str, Any]:
        """Write ``manifest.json``: ``info`` plus the checksum table of everything already in the folder."""
        manifest = {"format": BUNDLE_FORMAT, **info, "files": self.file_table()}
        _write_json(self.manifest_file, manifest)
        return manifest


CONFORMANCE_README = (
    f"`{CONFORMANCE}`: raw texts with what each stage must give (normalised text per `{PREPROCESS}`'s `normalizer_spec`, "
    f"token ids per `tokenization`, then per graph logits, scores and the `{LABELS}` decision, with tolerances). A runtime "
    "serving this bundle reproduces every vector: `trainer.serving.conformance.check_conformance` checks the Python "
    "predictor, `node clients/node/cli.js <bundle> --conformance` the Node.js client."
)


def tokenization(max_length: int, pad_id: Any) -> dict[str, Any]:
    """How texts become the graph's inputs once normalised (what ``BundlePredictor`` does)."""
    return {
        "tokenizer": TOKENIZER,
        "add_special_tokens": True,
        "max_length": max_length,
        "truncation": (
            "encode without special tokens, keep the first max_length - k tokens (k: the special tokens the "
            "post-processor adds, 2 for [CLS] x [SEP] and <s> x </s>), then add them: Hugging Face tokenizers' "
            "longest_first truncation on the right, no stride"
        ),
        "padding": f"right, to the batch's longest row, with pad_id {pad_id}; attention_mask 1/0; token_type_ids 0",
    }


# The functions callers used before the Bundle type; each is one Bundle method.
def write_manifest(folder: Path, info: dict[str, Any]) -> dict[str, Any]:
    return Bundle(folder).write_manifest(info)


def read_manifest(folder: Path) -> dict[str, Any]:
    return Bundle(folder).manifest()


def verify_bundle(folder: Path) -> dict[str, Any]:
    """Every file against ``manifest.json``; a folder pulled with ``--precision`` only for the files it took."""
    bundle = Bundle(folder)
    pulled = read_pulled(bundle.path)
    return bundle.verify() if pulled is None else verify_pulled(bundle, pulled["files"])


# -- folders pulled with --precision: pulled.json ------------------------------------------------------
def read_pulled(folder: Path) -> dict[str, Any] | None:
    """``pulled.json`` of a folder pulled with ``--precision`` (None for a whole bundle)."""
    path = Path(folder) / PULLED
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise BundleError(f"{path}: not valid JSON ({err})") from None


def write_pulled(folder: Path, precision: str, taken: Sequence[str], omitted: Sequence[str], **info: Any) -> None:
    """Say in the folder which precision it holds, which files were taken and which left on the server."""
    record = {"precision": precision, "files": sorted(taken), "omitted": sorted(omitted), **info}
    (Path(folder) / PULLED).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def verify_pulled(bundle: Bundle, taken: Sequence[str]) -> dict[str, Any]:
    """Check the files a ``--precision`` pull took against the manifest; the others must be absent.

    Like :meth:`Bundle.verify` for the files in ``taken`` (present, same size and sha256, nothing
    unlisted but :data:`PULLED`); a manifest naming a path outside the folder is refused first.
    """
    manifest = bundle.manifest()
    expected: dict[str, dict[str, Any]] = manifest.get("files") or {}
    unsafe = [rel for rel in expected if bundle.leaves_bundle(rel)]
    if unsafe:
        raise BundleError(f"bundle {bundle.path}: {MANIFEST} names paths outside the bundle: {unsafe}")
    problems = [f"{rel}: {PULLED} lists it, {MANIFEST} does not" for rel in taken if rel not in expected]
    for rel in taken:
        path, entry = bundle.path / rel, expected.get(rel)
        if entry is None:
            continue
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            problems.append(f"{rel}: size or sha256 differs from the manifest")
    extra = sorted(set(bundle.file_names()) - set(taken) - {PULLED})
    problems += [f"{rel}: not taken by the pull" for rel in extra]
    if problems:
        raise BundleError(f"bundle {bundle.path} does not match {MANIFEST}: " + "; ".join(problems))
    return manifest
