"""``pulled.json``: what a folder pulled with ``python -m trainer.pull --precision P`` holds (its one owner).

Such a folder has one graph and the serving files, not the whole bundle: the file says which precision,
which files were taken (each checked against ``manifest.json``) and which were left on the server, so
:func:`trainer.serving.bundle.verify_bundle` and the predictor check exactly what is there. Stdlib only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.serving.bundle import MANIFEST, Bundle, BundleError, sha256_file

PULLED = "pulled.json"


def read_pulled(folder: Path) -> dict[str, Any] | None:
    """``pulled.json`` of a folder pulled with ``--precision`` (None for a whole bundle)."""
    path = Path(folder) / PULLED
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise BundleError(f"{path}: not valid JSON ({err})") from None


def write_pulled(folder: Path, precision: str, taken: Sequence[str], omitted: Sequence[str], **info: Any) -> None:
    """Say in the folder which precision it holds, which files were taken and which left on the server."""
    record = {"precision": precision, "files": sorted(taken), "omitted": sorted(omitted), **info}
    (Path(folder) / PULLED).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def verify_pulled(bundle: Bundle, taken: Sequence[str]) -> dict[str, Any]:
    """Check the files a ``--precision`` pull took against the manifest; the others must be absent.

    Like :meth:`Bundle.verify` for the files in ``taken`` (present, same size and sha256, nothing
    unlisted but :data:`PULLED`); a manifest naming a path outside the folder is refused first.
    """
    manifest = bundle.manifest()
    expected: dict[str, dict[str, Any]] = manifest.get("files") or {}
    unsafe = [rel for rel in expected if bundle.leaves_bundle(rel)]
    if unsafe:
        raise BundleError(f"bundle {bundle.path}: {MANIFEST} names paths outside the bundle: {unsafe}")
    problems = [f"{rel}: {PULLED} lists it, {MANIFEST} does not" for rel in taken if rel not in expected]
    for rel in taken:
        path, entry = bundle.path / rel, expected.get(rel)
        if entry is None:
            continue
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            problems.append(f"{rel}: size or sha256 differs from the manifest")
    extra = sorted(set(bundle.file_names()) - set(taken) - {PULLED})
    problems += [f"{rel}: not taken by the pull" for rel in extra]
    if problems:
        raise BundleError(f"bundle {bundle.path} does not match {MANIFEST}: " + "; ".join(problems))
    return manifest
