"""A passing bundle goes to MLflow: logged under ``export/`` and, when configured, registered with an alias.

Where it is logged: into the source run when the source is an MLflow run (or a run folder that an
MLflow run recorded with its ``run_dir`` tag); otherwise into a new run of ``tracking.experiment_name``
linked to its source by the ``source_run_id`` / ``source`` tags. Only called after both gates pass,
so a failing export registers nothing. mlflow is imported here, never by ``tracking=none``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.tracking.references import ResolvedSource
from trainer.tracking.registry import BUNDLE_FORMAT_TAG, EXPORT_ARTIFACT

log = logging.getLogger(__name__)

ARTIFACT_PATH = EXPORT_ARTIFACT  # where pull looks for a run's bundle (tracking.registry)


@dataclass(frozen=True)
class PublishSettings:
    """From the ``tracking`` group and ``publish.*`` in ``configs/export.yaml``."""

    backend: str = "none"
    uri: str | None = None
    experiment_name: str = "export"
    register_model: str | None = None
    alias: str | None = None

    @classmethod
    def from_config(cls, tracking: dict[str, Any], publish: dict[str, Any]) -> PublishSettings:
        """From the resolved ``tracking`` group and ``publish`` block of ``configs/export.yaml``."""
        return cls(
            backend=tracking.get("backend", "none"),
            uri=tracking.get("uri"),
            experiment_name=tracking.get("experiment_name") or "export",
            register_model=publish.get("register_model"),
            alias=publish.get("alias"),
        )


def find_run_by_folder(client: Any, run_dir: Path) -> str | None:
    """The training run that logged ``run_dir`` (the MLflow tracker tags runs with ``run_dir``)."""
    from mlflow.exceptions import MlflowException

    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments or "'" in str(run_dir):  # a quote cannot be escaped in a filter string
        return None
    try:
        runs = client.search_runs(experiments, filter_string=f"tags.run_dir = '{run_dir}'", max_results=1)
    except MlflowException:
        return None
    return runs[0].info.run_id if runs else None


def publish_bundle(
    bundle: Path, source: ResolvedSource, settings: PublishSettings, metrics: dict[str, float], tags: dict[str, str]
) -> dict[str, Any]:
    """Log ``bundle`` and register it; returns run id, artifact URI and the registered version."""
    from mlflow.tracking import MlflowClient

    from trainer.tracking.connection import MlflowSettings, experiment_id

    if not settings.uri:
        raise ValueError("tracking.uri is required to publish an export (or run with tracking=none)")
    client = MlflowClient(settings.uri)
    source_run = source.run_id or (find_run_by_folder(client, source.run_dir) if source.kind == "run_folder" else None)
    all_tags = {
        "entry_point": "trainer.export",
        "source": source.uri,
        **tags,
        **({"source_run_id": source_run} if source_run else {}),
    }
    if source_run is not None:
        run_id, created = source_run, False
        for key, value in all_tags.items():
            client.set_tag(run_id, f"export.{key}", value)
    else:
        # The one get-or-create (tracking.connection): an embedded store's artifacts go beside its database.
        exp_id = experiment_id(client, MlflowSettings(uri=settings.uri, experiment_name=settings.experiment_name))
        run = client.create_run(exp_id, run_name=f"export-{bundle.name}", tags=all_tags)
        run_id, created = run.info.run_id, True
    client.log_artifacts(run_id, str(bundle), ARTIFACT_PATH)
    for name, number in metrics.items():
        client.log_metric(run_id, f"export/{name}", float(number))
    if created:
        client.set_terminated(run_id, "FINISHED")
    artifact_uri = f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{ARTIFACT_PATH}"
    out: dict[str, Any] = {"run_id": run_id, "new_run": created, "artifact_uri": artifact_uri, "registered": None}
    if settings.register_model:
        out["registered"] = _register(client, settings.register_model, settings.alias, artifact_uri, run_id, all_tags)
    return out


def _register(
    client: Any, name: str, alias: str | None, artifact_uri: str, run_id: str, tags: dict[str, str]
) -> dict[str, Any]:
    """A new version of ``name`` whose source is the logged bundle, tagged ``format=onnx-bundle``."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description="ONNX export bundles (python -m trainer.export)")
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(name, artifact_uri, run_id=run_id, tags={**tags, "format": BUNDLE_FORMAT_TAG})
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    log.info("registered %s version %s%s", name, version.version, f" as @{alias}" if alias else "")
    return {"name": name, "version": str(version.version), "alias": alias}
