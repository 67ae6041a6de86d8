"""The model registry as promote and pull use it: versions by alias or number, where a version's export
bundle and evidence live, and decisions recorded as version tags.

Torch-free (``mlflow`` only), because :mod:`trainer.pull` runs on deployment machines. Two kinds of
registered versions exist in this project:

- *pyfunc* versions, registered by training (``tracking.register_model``): the version's run is the
  training run; an export of it is logged into that run under ``export/``;
- *bundle* versions, registered by export (``publish.register_model``, tag ``format=onnx-bundle``):
  the version's source is the bundle itself, its run the source run (or an export run tagged
  ``source_run_id``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from trainer.serving.bundle import MANIFEST

BUNDLE_FORMAT_TAG = "onnx-bundle"
EXPORT_ARTIFACT = "export"
MAX_TAG = 5000
# sha256 of the bundle's manifest.json, written by trainer.export when it publishes: a tag of the registered
# bundle version, and (prefixed ``export.``) of the source run it logged the bundle into.
MANIFEST_TAG = "manifest_sha256"
RUN_MANIFEST_TAG = f"export.{MANIFEST_TAG}"


class RegistryError(ValueError):
    """A model reference cannot be resolved to what is needed; the message names it."""


def parse_model_uri(ref: str) -> tuple[str, str | None, str | None]:
    """``models:/name@alias`` → (name, alias, None); ``models:/name/3`` → (name, None, "3")."""
    if not ref.startswith("models:/"):
        raise RegistryError(f"{ref!r}: expected models:/<name>@<alias> or models:/<name>/<version>")
    body = ref.removeprefix("models:/")
    if "@" in body:
        name, alias = body.split("@", 1)
        return name, alias, None
    name, sep, number = body.rpartition("/")
    if not sep or not number.isdigit():
        raise RegistryError(f"{ref!r}: expected models:/<name>@<alias> or models:/<name>/<version>")
    return name, None, number


def model_version(client: Any, ref: str) -> Any:
    """The ``ModelVersion`` behind a ``models:/`` URI; a missing alias or version names ``ref``."""
    from mlflow.exceptions import MlflowException

    name, alias, number = parse_model_uri(ref)
    try:
        return client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, number)
    except MlflowException as err:
        raise RegistryError(f"{ref}: {err.message}") from None


def version_for_run(client: Any, name: str, run_id: str) -> Any:
    """The newest version of registered model ``name`` created from ``run_id``."""
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if not versions:
        raise RegistryError(
            f"run {run_id} has no version of registered model {name!r}: register it first "
            f"(train with tracking.register_model={name}, or export with publish.register_model)"
        )
    return max(versions, key=lambda v: int(v.version))


def _artifact_names(client: Any, run_id: str, path: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


def bundle_uri(client: Any, version: Any) -> str:
    """Where the export bundle of ``version`` lives (an artifact URI); fails when it has none."""
    if version.tags.get("format") == BUNDLE_FORMAT_TAG:
        return version.source
    if version.run_id and f"{EXPORT_ARTIFACT}/{MANIFEST}" in _artifact_names(client, version.run_id, EXPORT_ARTIFACT):
        return f"runs:/{version.run_id}/{EXPORT_ARTIFACT}"
    raise RegistryError(
        f"models:/{version.name}/{version.version} has no export bundle (not an onnx-bundle version, "
        f"and run {version.run_id} has no {EXPORT_ARTIFACT}/{MANIFEST}): run python -m trainer.export "
        f"source=models:/{version.name}/{version.version} tracking=mlflow first"
    )


def recorded_manifest_sha256(client: Any, version: Any) -> tuple[str, str] | None:
    """The manifest sha256 the registry recorded for the bundle of ``version``, and which tag held it.

    A bundle version's own ``manifest_sha256`` tag; for a pyfunc version whose bundle is its run's
    ``export/`` folder, the run's ``export.manifest_sha256`` tag. None when neither exists.
    """
    if version.tags.get(MANIFEST_TAG):
        return version.tags[MANIFEST_TAG], f"version tag {MANIFEST_TAG}"
    if version.tags.get("format") != BUNDLE_FORMAT_TAG and version.run_id:
        recorded = client.get_run(version.run_id).data.tags.get(RUN_MANIFEST_TAG)
        if recorded:
            return recorded, f"run {version.run_id} tag {RUN_MANIFEST_TAG}"
    return None


def evidence_run_id(client: Any, version: Any, split: str = "test") -> str:
    """The run holding ``predictions/<split>.csv`` for ``version`` (its run, or the export's source run)."""
    run_id = version.run_id
    for _ in range(2):
        if not run_id:
            break
        if f"predictions/{split}.csv" in _artifact_names(client, run_id, "predictions"):
            return run_id
        run_id = client.get_run(run_id).data.tags.get("source_run_id")
    raise RegistryError(
        f"models:/{version.name}/{version.version}: no run with predictions/{split}.csv "
        f"(run {version.run_id}); train with this trainer, or evaluate the model and register that"
    )


def record_decision(client: Any, version: Any, decision: dict[str, Any]) -> None:
    """The decision as tags on ``version``: the latest under ``promotion.*``, each one under its timestamp."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    against = decision.get("champion") or {}
    summary = f"{decision['decision']} against {against.get('version', 'none')}: {decision['reason']}"
    tags = {
        "promotion.decision": decision["decision"],
        "promotion.reason": decision["reason"],
        "promotion.against": f"{against['name']}/{against['version']}" if against else "none",
        "promotion.decided_at": stamp,
        "promotion.rules": json.dumps(decision["rules"], ensure_ascii=False),
        f"promotion.history.{stamp}": summary,
    }
    for key, value in tags.items():
        client.set_model_version_tag(version.name, version.version, key, value[:MAX_TAG])
