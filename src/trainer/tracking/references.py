"""The one resolver of model references, for ``export source=``, ``evaluate model=`` and ``promote``.

Accepted forms:

- a run folder (``python -m trainer.train`` output): its transformers ``model/`` folder;
- an export bundle folder (has ``manifest.json``): its ONNX graphs (evaluate only);
- an MLflow run id or ``runs:/<id>``: the run's files and model are downloaded;
- ``models:/<name>@<alias>`` or ``models:/<name>/<version>`` (parsed by :func:`registry.parse_model_uri`): a
  version whose tag ``format`` is ``onnx-bundle`` is downloaded as a bundle; any other version is resolved
  through the run that produced it.

An MLflow run holds the run folder's files at its artifact root; the weights sit once inside the pyfunc
model that the run's ``model_uri`` tag points at (``artifacts/**/config.json``), or in a ``model_hf/``
artifact for runs logged by hand. Every MLflow call uses the given tracking URI (never the process-wide
default), so an explicit ``tracking.uri`` works without ``MLFLOW_TRACKING_URI``. mlflow is imported only
for MLflow references.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from trainer.data.labels import LabelMap
from trainer.data.normalize import NormalizerConfig
from trainer.data.spec import build_dataclass
from trainer.runs.folder import OPTIONAL_FILES, REQUIRED_FILES, RunFolder
from trainer.serving.bundle import MANIFEST, METRICS, Bundle
from trainer.tracking.registry import BUNDLE_FORMAT_TAG, RegistryError, model_version

MODEL_ARTIFACT_PATH = "model_hf"
_RUN_ID = re.compile(r"[0-9a-f]{32}")


class SourceError(ValueError):
    """A reference cannot be resolved; the message says what was looked for where."""


@dataclass(frozen=True)
class ResolvedSource:
    """A run folder on local disk (downloaded for MLflow references) and its transformers model folder."""

    kind: Literal["run_folder", "mlflow_run", "registered_model"]
    uri: str
    run_dir: Path
    model_dir: Path
    run_id: str | None
    name: str

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.run_dir)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "uri": self.uri,
            "run_id": self.run_id,
            "run_dir": str(self.run_dir) if self.kind == "run_folder" else None,
        }


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


def tracking_uri_for(ref: str, tracking_uri: str | None) -> str:
    """The given URI, else ``MLFLOW_TRACKING_URI``; a reference into MLflow without either is an error."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise SourceError(f"{ref} lives in MLflow: pass tracking=mlflow tracking.uri=... (or set MLFLOW_TRACKING_URI)")
    return uri


# -- runs: export source=, and evaluate model= for anything that is not a bundle -----------------------
def resolve_source(source: str, download_dir: Path, tracking_uri: str | None = None) -> ResolvedSource:
    """Find or fetch the run behind ``source``; MLflow sources are downloaded under ``download_dir``."""
    if not source or source == "???":
        raise SourceError("source is required: a run folder, an MLflow run id or models:/name@alias")
    path = Path(source).expanduser()
    if path.is_dir():
        run_dir = path.resolve()
        _check_run_folder(run_dir, run_dir / "model", source)
        return ResolvedSource("run_folder", str(run_dir), run_dir, run_dir / "model", None, run_dir.name)
    if source.startswith("models:/"):
        version = _version(source, tracking_uri)
        if not version.run_id:
            raise SourceError(f"source={source}: model version {version.version} has no run to export from")
        label = _version_label(version)
        return _download_run(source, version.run_id, download_dir, tracking_uri, "registered_model", label)
    run_id = source.removeprefix("runs:/").strip("/")
    if _RUN_ID.fullmatch(run_id):
        return _download_run(source, run_id, download_dir, tracking_uri, "mlflow_run", run_id)
    raise SourceError(f"source={source!r} is not a folder, an MLflow run id (32 hex digits) or models:/name@alias")


def _check_run_folder(run_dir: Path, model_dir: Path, source: str) -> None:
    missing = RunFolder(run_dir).missing()
    if not (model_dir / "config.json").is_file():
        missing.append(f"{model_dir.name}/config.json")
    if missing:
        raise SourceError(
            f"source={source}: {run_dir} lacks {missing}; expected a run folder written by python -m trainer.train"
        )


def _version(ref: str, tracking_uri: str | None) -> Any:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri_for(ref, tracking_uri), registry_uri=tracking_uri_for(ref, tracking_uri))
    try:
        return model_version(client, ref)
    except RegistryError as err:
        raise SourceError(f"source={err}") from None


def _version_label(version: Any) -> str:
    return re.sub(r"[^\w.-]+", "-", f"{version.name}-v{version.version}")


def _download_run(
    source: str,
    run_id: str,
    download_dir: Path,
    tracking_uri: str | None,
    kind: Literal["mlflow_run", "registered_model"],
    name: str,
) -> ResolvedSource:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri_for(source, tracking_uri)
    client = MlflowClient(uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as err:
        raise SourceError(f"source={source}: no such MLflow run in {uri} ({err.message})") from None
    run_dir = download_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    present = {a.path for a in client.list_artifacts(run_id)}
    for file_name in (*REQUIRED_FILES, *OPTIONAL_FILES):
        if file_name in present:
            _download(uri, run_dir, run_id=run_id, artifact_path=file_name)
    model_dir = _download_model(client, uri, source, run, present, run_dir)
    _check_run_folder(run_dir, model_dir, source)
    return ResolvedSource(kind, source, run_dir, model_dir, run_id, name)


def _download(uri: str, dst: Path, **where: str) -> Path:
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(dst_path=str(dst), tracking_uri=uri, **where))


def _download_model(client: Any, uri: str, source: str, run: Any, present: set[str], run_dir: Path) -> Path:
    """The run's transformers folder: ``model_hf/``, else inside the logged pyfunc model."""
    run_id = run.info.run_id
    if MODEL_ARTIFACT_PATH in present:
        return _download(uri, run_dir, run_id=run_id, artifact_path=MODEL_ARTIFACT_PATH)
    model_uri = run.data.tags.get("model_uri")
    if not model_uri:
        raise SourceError(
            f"source={source}: run {run_id} has no {MODEL_ARTIFACT_PATH}/ artifact and no "
            f"model_uri tag, so there is no model to export"
        )
    logged = _download(uri, run_dir / "logged_model", artifact_uri=_logged_model_location(client, model_uri))
    candidates = sorted(p.parent for p in logged.glob("artifacts/**/config.json"))
    if not candidates:
        raise SourceError(
            f"source={source}: the run's model {model_uri} holds no transformers folder (no artifacts/**/config.json)"
        )
    return candidates[0]


def _logged_model_location(client: Any, model_uri: str) -> str:
    """``models:/m-<id>`` as the logged model's artifact location, read through ``client``.

    mlflow resolves a ``models:/`` URI with the process-wide tracking URI, so downloading it directly
    failed ("Logged model with ID ... not found") whenever only ``tracking.uri`` was given.
    """
    model_id = model_uri.removeprefix("models:/").strip("/")
    if model_uri.startswith("models:/") and model_id.startswith("m-") and "/" not in model_id:
        return str(client.get_logged_model(model_id).artifact_location)
    return model_uri


# -- models: evaluate model= ---------------------------------------------------------------------------
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
        source = resolve_source(ref, download_dir, tracking_uri)
    except SourceError as err:
        raise SourceError(f"model={ref}: {err} (a bundle folder with {MANIFEST} works too)") from None
    return _from_run(source, ref, version)


def _from_run(source: ResolvedSource, ref: str, version: dict[str, str] | None) -> ModelRef:
    run = source.run
    config = run.config()
    return ModelRef(
        source.kind,
        ref,
        source.name,
        run.label_map(),
        run.thresholds(),
        run.temperature(),
        build_dataclass(NormalizerConfig, dict(config["data"].get("normalizer") or {}), "data.normalizer"),
        int(config["model"]["max_length"]),
        run.main_metric(),
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
    bundle = Bundle(folder)
    manifest = bundle.manifest()
    metrics = bundle.metrics() if (folder / METRICS).is_file() else {}
    return ModelRef(
        kind,
        ref,
        bundle.name,
        bundle.label_map(),
        bundle.thresholds(),
        bundle.temperature(),
        bundle.normalizer(),
        int(bundle.preprocess()["max_length"]),
        metrics.get("main_metric"),
        bundle_dir=folder,
        run_id=run_id or (manifest.get("source") or {}).get("run_id"),
        version=version,
    )


def _registered_bundle(
    ref: str, download_dir: Path, tracking_uri: str | None
) -> tuple[ModelRef | None, dict[str, str]]:
    """The version as a bundle when it was registered as one (else None), and its name and number."""
    uri = tracking_uri_for(ref, tracking_uri)
    try:
        version = _version(ref, uri)
    except SourceError as err:
        raise SourceError(f"model={str(err).removeprefix('source=')}") from None
    described = {"name": version.name, "version": str(version.version)}
    if version.tags.get("format") != BUNDLE_FORMAT_TAG:
        return None, described
    local = _download(uri, download_dir / _version_label(version), artifact_uri=version.source)
    return _from_bundle(local, ref, "registered_model", version.run_id, described), described
