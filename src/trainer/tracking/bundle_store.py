"""Registered export bundles in MLflow, as :mod:`trainer.pull` fetches them: find, then download.

A ``models:/name@alias`` or ``models:/name/N`` reference names a version; its bundle is the version's
own source for ``onnx-bundle`` versions, else the ``export/`` folder of its run
(:func:`trainer.tracking.registry.bundle_uri`), and the sha256 of its ``manifest.json`` that export
recorded in the registry (:func:`trainer.tracking.registry.recorded_manifest_sha256`). Torch-free
(mlflow only, imported when called), because pull runs on deployment machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from trainer.tracking.registry import bundle_uri, model_version, recorded_manifest_sha256


@dataclass(frozen=True)
class RegisteredBundle:
    """Where the bundle of one registered version lives."""

    ref: str  # as given: models:/name@alias or models:/name/N
    name: str
    version: str
    run_id: str | None
    source: str  # artifact URI of the bundle folder
    tracking_uri: str
    manifest_sha256: str | None = None  # what the registry recorded at publish time; None: no record
    recorded_in: str = ""  # which tag held it, for messages

    @property
    def model(self) -> str:
        return f"{self.name}/{self.version}"


def find_bundle(ref: str, tracking_uri: str) -> RegisteredBundle:
    """The version behind ``ref`` and its bundle's artifact URI; a :class:`RegistryError` names what is missing."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    version = model_version(client, ref)
    source = bundle_uri(client, version)
    recorded, where = recorded_manifest_sha256(client, version) or (None, "")
    return RegisteredBundle(
        ref, version.name, str(version.version), version.run_id, source, tracking_uri, recorded, where
    )


def download_bundle(found: RegisteredBundle, dst: Path) -> Path:
    """Download the bundle folder into ``dst`` (which must exist); returns the local folder."""
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=found.source, dst_path=str(dst), tracking_uri=found.tracking_uri
    )
    return Path(local)


def download_files(found: RegisteredBundle, names: Sequence[str], dst: Path) -> Path:
    """Download only ``names`` (paths inside the bundle) into ``dst``, keeping their sub-folders."""
    import mlflow

    for rel in names:
        folder = Path(dst) / PurePosixPath(rel).parent
        folder.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"{found.source.rstrip('/')}/{rel}", dst_path=str(folder), tracking_uri=found.tracking_uri
        )
    return Path(dst)
