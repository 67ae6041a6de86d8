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

``--precision int8`` (or ``fp32``, ``fp16``) pulls only what serving that graph needs: the manifest
first (checked against the registry's record), then every file it lists except the other
precisions' graphs and weights, each checked against the manifest; ``pulled.json`` in ``dest`` says
which precision the folder holds and which files stayed on the server, and the predictor refuses
another precision by name. The smoke examples are rerun when their graph was pulled (export writes
them with the reduced-precision graph, so an ``fp32`` pull of a quantised bundle skips them, and says so).

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

from trainer.serving.bundle import (
    CONFORMANCE,
    MANIFEST,
    Bundle,
    BundleError,
    sha256_file,
    verify_bundle,
    verify_pulled,
    write_pulled,
)
from trainer.serving.conformance import check_conformance
from trainer.serving.precisions import PRECISIONS
from trainer.serving.smoke import check_smoke, read_smoke
from trainer.tracking.bundle_store import RegisteredBundle, download_bundle, download_files, find_bundle
from trainer.tracking.registry import MANIFEST_TAG, RUN_MANIFEST_TAG, RegistryError


def pull(
    ref: str,
    dest: Path,
    tracking_uri: str,
    overwrite: bool = False,
    atol: float | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """Fetch, verify and smoke-test the bundle of ``ref`` (only ``precision``'s graph when given) into ``dest``."""
    dest = Path(dest)
    if dest.exists() and not (overwrite and dest.is_dir()):
        raise FileExistsError(f"{dest} already exists (pass --overwrite to replace it once the new bundle verified)")
    if precision is not None and precision not in PRECISIONS:
        raise BundleError(f"--precision {precision}: expected one of {sorted(PRECISIONS)}")
    found = find_bundle(ref, tracking_uri)  # before any folder exists: an unknown ref leaves nothing behind
    recorded = _recorded_manifest(found)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        if precision is None:
            local = download_bundle(found, staging)
            _check_manifest_record(found, local, recorded)
            manifest = verify_bundle(local)
            verified = list(manifest["files"])
        else:
            local, manifest, verified = _pull_precision(found, staging / "bundle", recorded, precision)
        smoke = _smoke(local, atol)
        conformance = _conformance(local, precision)
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
        "precision": precision or "all",
        "files_verified": len(verified),
        "smoke": smoke,
        "conformance": conformance,
        "trained_from": (manifest.get("source") or {}).get("uri"),
    }


def serving_files(manifest: dict[str, Any], precision: str) -> tuple[list[str], list[str]]:
    """The manifest's files a server of ``precision`` needs, and the other precisions' graphs it does not."""
    wanted = PRECISIONS[precision]
    files = list(manifest.get("files") or {})
    if wanted.graph not in files:
        held = [p.name for p in PRECISIONS.values() if p.graph in files]
        raise BundleError(f"--precision {precision}: the bundle has no {wanted.graph}; it holds {held}")
    others = {name for p in PRECISIONS.values() if p is not wanted for name in (p.graph, p.external_data)}
    return [f for f in files if f not in others], [f for f in files if f in others]


def _pull_precision(
    found: RegisteredBundle, local: Path, recorded: str, precision: str
) -> tuple[Path, dict[str, Any], list[str]]:
    """Manifest first (the registry's record pins it), then only the files ``precision`` serves with."""
    local.mkdir()
    download_files(found, [MANIFEST], local)
    _check_manifest_record(found, local, recorded)
    bundle = Bundle(local)
    manifest = bundle.manifest()
    unsafe = [rel for rel in manifest.get("files") or {} if bundle.leaves_bundle(rel)]
    if unsafe:  # before downloading: such a name would write outside the folder
        raise BundleError(f"{found.ref}: {MANIFEST} names paths outside the bundle: {unsafe}")
    taken, omitted = serving_files(manifest, precision)
    download_files(found, taken, local)
    write_pulled(local, precision, taken, omitted, ref=found.ref, model=found.model)
    return local, verify_pulled(bundle, taken), taken


def _smoke(local: Path, atol: float | None) -> dict[str, Any]:
    """Rerun the smoke examples when their graph is in the folder; otherwise say why not."""
    graph = read_smoke(local)["graph"]
    if not (local / graph).is_file():
        return {"skipped": f"the smoke examples were written with {graph}, which this pull left on the server"}
    return check_smoke(local, atol)


def _conformance(local: Path, precision: str | None) -> dict[str, Any]:
    """Replay the conformance vectors on the pulled graph(s); a bundle exported before them says so."""
    if not (local / CONFORMANCE).is_file():
        return {"skipped": f"the bundle has no {CONFORMANCE} (exported before conformance vectors existed)"}
    return check_conformance(local, precision)


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
    parser.add_argument(
        "--precision",
        choices=sorted(PRECISIONS),
        default=None,
        help="pull only this graph and the serving files (default: the whole bundle)",
    )
    args = parser.parse_args(argv)
    if not args.tracking_uri:
        parser.error("no tracking server: pass --tracking-uri or set MLFLOW_TRACKING_URI")
    try:
        report = pull(args.model, args.dest, args.tracking_uri, args.overwrite, args.atol, args.precision)
    except (BundleError, RegistryError, FileExistsError) as err:
        print(f"PULL FAILED, nothing written to {args.dest}: {err}", file=sys.stderr, flush=True)
        return 2
    print(json.dumps(report, indent=2, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
