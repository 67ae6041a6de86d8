"""Deployers pull what won: ``python -m trainer.pull models:/<name>@champion dest/``.

Downloads the export bundle of the version (its own source for ``onnx-bundle`` versions, else the
``export/`` folder of its run) into a hidden folder beside ``dest``, checks the downloaded manifest's
sha256 against the one the registry recorded when export published it (the version's
``manifest_sha256`` tag, or its run's ``export.manifest_sha256``), checks every file against the
manifest's sha256 (nothing missing, nothing extra, no path leaving the bundle), reruns the reference
predictor on the bundle's smoke examples (:mod:`trainer.serving.smoke`), and only then renames it to
``dest``. Any mismatch fails loudly (exit status 2), naming the version, file or example, and leaves
nothing at ``dest``. A version without a recorded manifest sha256 is refused before anything is
downloaded: a bundle rewritten consistently (other graph, regenerated smoke examples and manifest)
verifies against itself, so only the registry's record can tell it apart.

Needs mlflow, onnxruntime and tokenizers only (no torch). The tracking server comes from
``--tracking-uri`` or ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from trainer.serving.bundle import MANIFEST, BundleError, sha256_file, verify_bundle
from trainer.serving.smoke import check_smoke
from trainer.tracking.bundle_store import RegisteredBundle, download_bundle, find_bundle
from trainer.tracking.registry import MANIFEST_TAG, RUN_MANIFEST_TAG, RegistryError


def pull(ref: str, dest: Path, tracking_uri: str, overwrite: bool = False, atol: float | None = None) -> dict[str, Any]:
    """Fetch, verify and smoke-test the bundle of ``ref`` into ``dest``; raise on any mismatch."""
    dest = Path(dest)
    if dest.exists() and not (overwrite and dest.is_dir()):
        raise FileExistsError(f"{dest} already exists (pass --overwrite to replace it once the new bundle verified)")
    found = find_bundle(ref, tracking_uri)  # before any folder exists: an unknown ref leaves nothing behind
    recorded = _recorded_manifest(found)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        local = download_bundle(found, staging)
        _check_manifest_record(found, local, recorded)
        manifest = verify_bundle(local)
        smoke = check_smoke(local, atol)
        if dest.exists():
            shutil.rmtree(dest)
        local.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "model": found.model,
        "ref": ref,
        "run_id": found.run_id,
        "source": found.source,
        "dest": str(dest),
        "files_verified": len(manifest["files"]),
        "smoke": smoke,
        "trained_from": (manifest.get("source") or {}).get("uri"),
    }


def _recorded_manifest(found: RegisteredBundle) -> str:
    """The manifest sha256 the registry holds for ``found``; without one the bundle cannot be trusted."""
    if found.manifest_sha256:
        return found.manifest_sha256
    raise RegistryError(
        f"{found.ref} (version {found.model}): the registry holds no sha256 of its bundle's {MANIFEST} "
        f"(no version tag {MANIFEST_TAG}, no run tag {RUN_MANIFEST_TAG}), so a rewritten bundle could not be "
        f"told apart; publish it with python -m trainer.export tracking=mlflow, or set the version tag "
        f"{MANIFEST_TAG} to the sha256 of a {MANIFEST} you checked"
    )


def _check_manifest_record(found: RegisteredBundle, local: Path, recorded: str) -> None:
    """The downloaded manifest is the one export published (its file table then pins every other file)."""
    path = local / MANIFEST
    got = sha256_file(path) if path.is_file() else "(missing)"
    if got != recorded:
        raise BundleError(
            f"{found.ref} (version {found.model}): downloaded {MANIFEST} has sha256 {got}, the registry "
            f"recorded {recorded} ({found.recorded_in}): the bundle was rewritten after it was published"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.pull", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="models:/<name>@<alias> or models:/<name>/<version>")
    parser.add_argument("dest", type=Path, help="folder to create with the verified bundle")
    parser.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI"),
        help="MLflow tracking server (default: $MLFLOW_TRACKING_URI)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace dest once the new bundle verified")
    parser.add_argument("--atol", type=float, default=None, help="smoke score tolerance (default: the bundle's)")
    args = parser.parse_args(argv)
    if not args.tracking_uri:
        parser.error("no tracking server: pass --tracking-uri or set MLFLOW_TRACKING_URI")
    try:
        report = pull(args.model, args.dest, args.tracking_uri, args.overwrite, args.atol)
    except (BundleError, RegistryError, FileExistsError) as err:
        print(f"PULL FAILED, nothing written to {args.dest}: {err}", file=sys.stderr, flush=True)
        return 2
    print(json.dumps(report, indent=2, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
