"""``python -m trainer.pull`` refuses bundles the registry did not record (issue 13 #5), on a real MLflow server.

A bundle rewritten consistently (another int8 graph, regenerated ``smoke.json`` and manifest) verifies
against itself and passes its smoke examples; only the manifest sha256 that export recorded in the
registry (the version's ``manifest_sha256`` tag, or its run's ``export.manifest_sha256``) tells it apart.
A version without that record is refused before anything is downloaded, and a manifest naming a path
outside the bundle is refused even when the registry recorded it.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import require_demo_data
from tests.e2e.eval_support import shared_bundle, shared_run
from trainer.serving.bundle import MANIFEST, BundleError, read_manifest, sha256_file, write_manifest
from trainer.serving.precisions import FP32, REDUCED
from trainer.serving.smoke import check_smoke, write_smoke
from trainer.tracking.registry import BUNDLE_FORMAT_TAG, MANIFEST_TAG, RUN_MANIFEST_TAG, RegistryError

if "mlflow_server" not in dir(sys.modules.get("tests.conftest")):
    from tests.mlflow_server import mlflow_server  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def published(mlflow_server: Any, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The shared bundle, logged and registered with its manifest sha256 the way export publishes it."""
    from mlflow.tracking import MlflowClient

    require_demo_data()
    base = tmp_path_factory.getbasetemp()
    bundle = shared_bundle(base, shared_run(base, shared_cache))
    client = MlflowClient(mlflow_server.uri)
    ns = SimpleNamespace(
        client=client,
        uri=mlflow_server.uri,
        experiment=client.create_experiment(f"pull-tampered-{uuid.uuid4().hex[:8]}"),
        name=f"tampered-{uuid.uuid4().hex[:8]}",
        bundle=bundle,
        sha=sha256_file(bundle / MANIFEST),
    )
    client.create_registered_model(ns.name)
    return ns


def _register(ns: SimpleNamespace, bundle: Path, version_tags: dict[str, str], run_tags: dict[str, str]) -> str:
    """Log ``bundle`` under ``export/`` of a new run and register it; returns the ``models:/`` reference."""
    run_id = ns.client.create_run(ns.experiment, tags=run_tags).info.run_id
    ns.client.log_artifacts(run_id, str(bundle), "export")
    ns.client.set_terminated(run_id, "FINISHED")
    version = ns.client.create_model_version(ns.name, f"runs:/{run_id}/export", run_id=run_id, tags=version_tags)
    return f"models:/{ns.name}/{version.version}"


def _remanifest(bundle: Path, files: dict[str, Any] | None = None) -> None:
    """Rewrite the manifest over the folder's current files (plus ``files``), keeping its other fields."""
    manifest = read_manifest(bundle)
    (bundle / MANIFEST).unlink()
    write_manifest(bundle, {k: v for k, v in manifest.items() if k not in ("format", "files")})
    if files:
        rewritten = json.loads((bundle / MANIFEST).read_text())
        rewritten["files"].update(files)
        (bundle / MANIFEST).write_text(json.dumps(rewritten, indent=2))


def _rewritten(ns: SimpleNamespace, dest: Path) -> Path:
    """The shared bundle with another int8 graph, its smoke examples and manifest regenerated to match."""
    shutil.copytree(ns.bundle, dest)
    graph = next(p.graph for p in REDUCED if (dest / p.graph).is_file())
    shutil.copy2(dest / FP32.graph, dest / graph)  # other weights under the served graph's name
    write_smoke(dest, latency_repeats=1)
    _remanifest(dest)
    check_smoke(dest)  # consistent: it verifies and reproduces its own smoke examples
    return dest


def test_a_recorded_bundle_pulls_by_version_tag_and_by_run_tag(published: SimpleNamespace, tmp_path: Path) -> None:
    from trainer.pull import pull

    by_version = _register(published, published.bundle, {"format": BUNDLE_FORMAT_TAG, MANIFEST_TAG: published.sha}, {})
    report = pull(by_version, tmp_path / "a", published.uri)
    assert report["files_verified"] == len(read_manifest(tmp_path / "a")["files"])
    # A pyfunc version whose run holds the export: the run's export.manifest_sha256 is the record.
    by_run = _register(published, published.bundle, {}, {RUN_MANIFEST_TAG: published.sha})
    assert pull(by_run, tmp_path / "b", published.uri)["model"].startswith(published.name)


def test_a_consistently_rewritten_bundle_is_refused(published: SimpleNamespace, tmp_path: Path) -> None:
    from trainer.pull import main, pull

    rewritten = _rewritten(published, tmp_path / "rewritten")
    new_sha = sha256_file(rewritten / MANIFEST)
    ref = _register(published, rewritten, {"format": BUNDLE_FORMAT_TAG, MANIFEST_TAG: published.sha}, {})
    version = ref.rsplit("/", 1)[1]
    with pytest.raises(BundleError) as caught:
        pull(ref, tmp_path / "serving", published.uri)
    message = str(caught.value)
    assert f"{published.name}/{version}" in message and new_sha in message and published.sha in message
    assert f"version tag {MANIFEST_TAG}" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rewritten"]  # nothing at dest, no partial download
    assert main([ref, str(tmp_path / "cli"), "--tracking-uri", published.uri]) == 2


def test_a_version_without_a_recorded_manifest_is_refused_before_download(
    published: SimpleNamespace, tmp_path: Path
) -> None:
    from trainer.pull import pull

    ref = _register(published, published.bundle, {"format": BUNDLE_FORMAT_TAG}, {})
    with pytest.raises(RegistryError, match=rf"{published.name}/\d+.*no version tag {MANIFEST_TAG}"):
        pull(ref, tmp_path / "serving", published.uri)
    assert not list(tmp_path.iterdir())


def test_a_recorded_manifest_naming_a_path_outside_the_bundle_is_refused(
    published: SimpleNamespace, tmp_path: Path
) -> None:
    """Even a manifest the registry recorded may not check files beside the download."""
    from trainer.pull import pull

    victim = tmp_path / "victim.txt"  # where ../../ lands from the download folder
    victim.write_text("a file of the deploying machine")
    bundle = tmp_path / "escaping"
    shutil.copytree(published.bundle, bundle)
    _remanifest(bundle, {"../../victim.txt": {"sha256": sha256_file(victim), "bytes": victim.stat().st_size}})
    tags = {"format": BUNDLE_FORMAT_TAG, MANIFEST_TAG: sha256_file(bundle / MANIFEST)}
    ref = _register(published, bundle, tags, {})
    with pytest.raises(BundleError, match=r"outside the bundle.*'\.\./\.\./victim\.txt'"):
        pull(ref, tmp_path / "serving", published.uri)
    assert not (tmp_path / "serving").exists()
