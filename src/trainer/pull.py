"""Deployers pull what won: ``python -m trainer.pull models:/<name>@champion dest/``.

Downloads the export bundle of the version (its own source for ``onnx-bundle`` versions, else the
``export/`` folder of its run) into a hidden folder beside ``dest``, checks every file against the
manifest's sha256 (nothing missing, nothing extra), reruns the reference predictor on the bundle's
smoke examples (:mod:`trainer.serving.smoke`), and only then renames it to ``dest``. Any mismatch fails
loudly (exit status 2), naming the file or example, and leaves nothing at ``dest``.

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

from trainer.serving.bundle import BundleError, verify_bundle
from trainer.serving.smoke import check_smoke
from trainer.tracking.bundle_store import download_bundle, find_bundle
from trainer.tracking.registry import RegistryError


def pull(ref: str, dest: Path, tracking_uri: str, overwrite: bool = False, atol: float | None = None) -> dict[str, Any]:
    """Fetch, verify and smoke-test the bundle of ``ref`` into ``dest``; raise on any mismatch."""
    dest = Path(dest)
    if dest.exists() and not (overwrite and dest.is_dir()):
        raise FileExistsError(f"{dest} already exists (pass --overwrite to replace it once the new bundle verified)")
    found = find_bundle(ref, tracking_uri)  # before any folder exists: an unknown ref leaves nothing behind
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        local = download_bundle(found, staging)
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
