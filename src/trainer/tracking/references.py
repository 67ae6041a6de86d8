"""What ``model=`` (evaluate) names, resolved to local files, and a scorer that turns texts into logits.

Accepted forms:

- a run folder (``python -m trainer.train`` output): the transformers ``model/`` is scored with torch;
- an export bundle folder (has ``manifest.json``): its ONNX graph is scored with onnxruntime;
- an MLflow run id or ``runs:/<id>``: the run's files and model are downloaded;
- ``models:/<name>@<alias>`` or ``models:/<name>/<version>``: a version whose tag ``format`` is
  ``onnx-bundle`` (``python -m trainer.export ... publish.register_model=...``) is downloaded as a
  bundle; any other version is resolved through the run that produced it.

Run and registry sources reuse :func:`trainer.tracking.sources.resolve_source` (one place knows how the
tracker lays runs out). Whatever the form, a :class:`ModelRef` carries what evaluation must apply
exactly as training did: label map, thresholds, temperature, text normaliser and maximum length.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
import yaml

from trainer.data.labels import LabelMap
from trainer.data.normalize import NormalizerConfig
from trainer.data.spec import build_dataclass
from trainer.serving.bundle import MANIFEST, PREPROCESS, read_manifest
from trainer.tracking.registry import BUNDLE_FORMAT_TAG, RegistryError, model_version
from trainer.tracking.sources import SourceError, resolve_source


@dataclass(frozen=True)
class ModelRef:
    """A model ready to score, and where it came from."""

    kind: Literal["run_folder", "bundle", "mlflow_run", "registered_model"]
    uri: str
    name: str
    label_map: LabelMap
    thresholds: list[float] | None
    temperature: float
    normalizer: NormalizerConfig
    max_length: int
    main_metric: str | None
    # Exactly one of model_dir (transformers folder) and bundle_dir (export bundle) is set.
    model_dir: Path | None = None
    bundle_dir: Path | None = None
    # The run that trained (or holds) the model, when MLflow knows it.
    run_id: str | None = None
    version: dict[str, str] | None = None
    # The resolved data config the model was trained on (run folders only; bundles do not carry it).
    train_data: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "uri": self.uri,
            "name": self.name,
            "run_id": self.run_id,
            "version": self.version,
            "scored_with": "onnxruntime" if self.bundle_dir else "torch",
            "labels": list(self.label_map.names),
            "task": self.label_map.task,
            "thresholds": self.thresholds,
            "temperature": self.temperature,
            "max_length": self.max_length,
        }


def _json(path: Path) -> Any:
    if not path.is_file():
        raise SourceError(f"{path}: missing")
    return json.loads(path.read_text(encoding="utf-8"))


def tracking_uri_for(ref: str, tracking_uri: str | None) -> str:
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise SourceError(f"{ref} lives in MLflow: pass tracking=mlflow tracking.uri=... (or set MLFLOW_TRACKING_URI)")
    return uri


def resolve_model(ref: str, download_dir: Path, tracking_uri: str | None = None) -> ModelRef:
    """Find or fetch the model behind ``ref``; MLflow sources are downloaded under ``download_dir``."""
    path = Path(ref).expanduser()
    if path.is_dir() and (path / MANIFEST).is_file():
        return _from_bundle(path.resolve(), ref, "bundle", None, None)
    version: dict[str, str] | None = None
    if ref.startswith("models:/"):
        bundle, version = _registered_bundle(ref, download_dir, tracking_uri)
        if bundle is not None:
            return bundle
    try:
        source = resolve_source(ref, download_dir, tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
    except SourceError as err:
        raise SourceError(f"model={ref}: {err} (a bundle folder with {MANIFEST} works too)") from None
    run_dir = source.run_dir
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    thresholds = _json(run_dir / "thresholds.json")["thresholds"]
    calibration = run_dir / "calibration.json"
    temperature = float(_json(calibration).get("temperature", 1.0)) if calibration.is_file() else 1.0
    metrics = run_dir / "metrics.json"
    main = (_json(metrics).get("main_metric") if metrics.is_file() else None) or config["module"]["main_metric"]
    return ModelRef(
        source.kind,
        ref,
        source.name,
        LabelMap.load(run_dir / "labels.json"),
        thresholds,
        temperature,
        build_dataclass(NormalizerConfig, dict(config["data"].get("normalizer") or {}), "data.normalizer"),
        int(config["model"]["max_length"]),
        main,
        model_dir=source.model_dir,
        run_id=source.run_id,
        version=version,
        train_data=config["data"],
    )


def _from_bundle(
    folder: Path,
    ref: str,
    kind: Literal["bundle", "registered_model"],
    run_id: str | None,
    version: dict[str, str] | None,
) -> ModelRef:
    manifest = read_manifest(folder)
    pre = _json(folder / PREPROCESS)
    calibration = folder / "calibration.json"
    metrics = folder / "metrics.json"
    return ModelRef(
        kind,
        ref,
        folder.name,
        LabelMap.load(folder / "labels.json"),
        _json(folder / "thresholds.json")["thresholds"],
        float(_json(calibration).get("temperature", 1.0)) if calibration.is_file() else 1.0,
        build_dataclass(NormalizerConfig, dict(pre["normalizer"]), f"{folder / PREPROCESS}:normalizer"),
        int(pre["max_length"]),
        _json(metrics).get("main_metric") if metrics.is_file() else None,
        bundle_dir=folder,
        run_id=run_id or (manifest.get("source") or {}).get("run_id"),
        version=version,
    )


def _registered_bundle(
    ref: str, download_dir: Path, tracking_uri: str | None
) -> tuple[ModelRef | None, dict[str, str]]:
    """The version as a bundle when it was registered as one (else None), and its name and number."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = tracking_uri_for(ref, tracking_uri)
    try:
        version = model_version(MlflowClient(uri), ref)
    except RegistryError as err:
        raise SourceError(f"model={err}") from None
    described = {"name": version.name, "version": str(version.version)}
    if version.tags.get("format") != BUNDLE_FORMAT_TAG:
        return None, described
    label = re.sub(r"[^\w.-]+", "-", f"{version.name}-v{version.version}")
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=version.source, dst_path=str(download_dir / label), tracking_uri=uri
        )
    )
    return _from_bundle(local, ref, "registered_model", version.run_id, described), described


# -- scoring ------------------------------------------------------------------------------------------
class Scorer(Protocol):
    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        """Raw logits ``(n, k)`` for texts that are already normalised."""
        ...


class TorchScorer:
    """A transformers folder scored in batches (truncation at the run's max length)."""

    def __init__(self, model_dir: Path, max_length: int, batch_size: int = 32) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir).float().eval()
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
        from trainer.serving.predictor import BundlePredictor

        self.predictor = BundlePredictor(bundle_dir, graph, batch_size=batch_size, verify=True)

    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        return torch.from_numpy(self.predictor.logits(list(texts), normalize=False))


def make_scorer(ref: ModelRef, graph: str = "auto", batch_size: int = 32) -> Scorer:
    if ref.bundle_dir is not None:
        return BundleScorer(ref.bundle_dir, graph, batch_size)
    assert ref.model_dir is not None
    return TorchScorer(ref.model_dir, ref.max_length, batch_size)
