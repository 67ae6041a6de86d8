"""What ``source=`` names: a run folder, an MLflow run id (or ``runs:/<id>``), or ``models:/name@alias``.

An MLflow source is downloaded into a local folder shaped like a run folder. The tracked run holds the
run folder's files at its artifact root (``config.yaml``, ``labels.json``, ``thresholds.json``,
optionally ``metrics.json``, ``calibration.json``, ``data_digest.json``, ``run_info.json``). The weights:
the MLflow tracker logs them once, inside the pyfunc model that the run's ``model_uri`` tag points at,
whose ``artifacts/`` hold the transformers folder (the one with a ``config.json``). A run logged by hand
may instead carry that folder as a ``model_hf/`` artifact, which is then used.
mlflow is imported only for MLflow sources.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REQUIRED_RUN_FILES = ("config.yaml", "labels.json", "thresholds.json")
OPTIONAL_RUN_FILES = ("metrics.json", "calibration.json", "data_digest.json", "run_info.json")
MODEL_ARTIFACT_PATH = "model_hf"
_RUN_ID = re.compile(r"[0-9a-f]{32}")


class SourceError(ValueError):
    """``source=`` cannot be resolved; the message says what was looked for where."""


@dataclass(frozen=True)
class ResolvedSource:
    kind: Literal["run_folder", "mlflow_run", "registered_model"]
    uri: str
    run_dir: Path
    model_dir: Path
    run_id: str | None
    name: str

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "uri": self.uri,
            "run_id": self.run_id,
            "run_dir": str(self.run_dir) if self.kind == "run_folder" else None,
        }


def _check_run_folder(run_dir: Path, model_dir: Path, source: str) -> None:
    missing = [n for n in REQUIRED_RUN_FILES if not (run_dir / n).is_file()]
    if not (model_dir / "config.json").is_file():
        missing.append(f"{model_dir.name}/config.json")
    if missing:
        raise SourceError(
            f"source={source}: {run_dir} lacks {missing}; expected a run folder written by python -m trainer.train"
        )


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
        return _from_registry(source, download_dir, tracking_uri)
    run_id = source.removeprefix("runs:/").strip("/")
    if _RUN_ID.fullmatch(run_id):
        return _download_run(source, run_id, download_dir, tracking_uri, "mlflow_run", run_id)
    raise SourceError(f"source={source!r} is not a folder, an MLflow run id (32 hex digits) or models:/name@alias")


def _tracking_uri(source: str, tracking_uri: str | None) -> str:
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise SourceError(
            f"source={source} lives in MLflow: run with tracking=mlflow (tracking.uri=...) or set MLFLOW_TRACKING_URI"
        )
    return uri


def _from_registry(source: str, download_dir: Path, tracking_uri: str | None) -> ResolvedSource:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(_tracking_uri(source, tracking_uri))
    ref = source.removeprefix("models:/")
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        elif "/" in ref:
            name, number = ref.split("/", 1)
            version = client.get_model_version(name, number)
        else:
            raise SourceError(f"source={source}: use models:/<name>@<alias> or models:/<name>/<version>")
    except MlflowException as err:
        raise SourceError(f"source={source}: {err.message}") from None
    if not version.run_id:
        raise SourceError(f"source={source}: model version {version.version} has no run to export from")
    label = re.sub(r"[^\w.-]+", "-", f"{version.name}-v{version.version}")
    return _download_run(source, version.run_id, download_dir, tracking_uri, "registered_model", label)


def _download_run(
    source: str,
    run_id: str,
    download_dir: Path,
    tracking_uri: str | None,
    kind: Literal["mlflow_run", "registered_model"],
    name: str,
) -> ResolvedSource:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = _tracking_uri(source, tracking_uri)
    client = MlflowClient(uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as err:
        raise SourceError(f"source={source}: no such MLflow run in {uri} ({err.message})") from None
    run_dir = download_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    present = {a.path for a in client.list_artifacts(run_id)}
    for name_ in (*REQUIRED_RUN_FILES, *OPTIONAL_RUN_FILES):
        if name_ in present:
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=name_, dst_path=str(run_dir), tracking_uri=uri
            )
    if MODEL_ARTIFACT_PATH in present:
        model_dir = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=MODEL_ARTIFACT_PATH, dst_path=str(run_dir), tracking_uri=uri
            )
        )
    elif run.data.tags.get("model_uri"):
        logged = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=run.data.tags["model_uri"], dst_path=str(run_dir / "logged_model"), tracking_uri=uri
            )
        )
        candidates = sorted(p.parent for p in logged.glob("artifacts/**/config.json"))
        if not candidates:
            raise SourceError(
                f"source={source}: the run's model {run.data.tags['model_uri']} holds no "
                f"transformers folder (no artifacts/**/config.json)"
            )
        model_dir = candidates[0]
    else:
        raise SourceError(
            f"source={source}: run {run_id} has no {MODEL_ARTIFACT_PATH}/ artifact and no "
            f"model_uri tag, so there is no model to export"
        )
    _check_run_folder(run_dir, model_dir, source)
    return ResolvedSource(kind, source, run_dir, model_dir, run_id, name)
