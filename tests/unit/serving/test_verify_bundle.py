"""``verify_bundle`` refuses manifest names that leave the bundle (issue 13 #5).

A manifest is data that travels with the bundle: ``../`` names, absolute paths and symlinks must not make
it check (and count as verified) files outside the folder. Plain files only, no model needed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from trainer.serving.bundle import MANIFEST, BundleError, sha256_file, verify_bundle, write_manifest


def _bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "sub").mkdir(parents=True)
    (bundle / "labels.json").write_text(json.dumps({"names": ["a", "b"]}))
    (bundle / "sub" / "w.bin").write_bytes(b"weights")
    write_manifest(bundle, {})
    return bundle


def _add_to_manifest(bundle: Path, name: str, target: Path) -> None:
    """List ``name`` in the manifest with the true size and sha256 of ``target``, as an attacker would."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"][name] = {"sha256": sha256_file(target), "bytes": target.stat().st_size}
    (bundle / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside.txt"
    secret.write_text("not part of any bundle")
    return secret


def test_a_clean_bundle_verifies(tmp_path: Path) -> None:
    assert set(verify_bundle(_bundle(tmp_path))["files"]) == {"labels.json", "sub/w.bin"}


@pytest.mark.parametrize("name", ["../outside.txt", "sub/../../outside.txt", "./../outside.txt", "..\\outside.txt"])
def test_dotdot_names_are_refused(tmp_path: Path, outside: Path, name: str) -> None:
    bundle = _bundle(tmp_path)
    _add_to_manifest(bundle, name, outside)
    with pytest.raises(BundleError, match=r"outside the bundle.*" + re.escape(repr(name))):
        verify_bundle(bundle)


def test_absolute_names_are_refused(tmp_path: Path, outside: Path) -> None:
    bundle = _bundle(tmp_path)
    _add_to_manifest(bundle, str(outside), outside)
    with pytest.raises(BundleError, match=rf"outside the bundle.*{outside.name}"):
        verify_bundle(bundle)
    manifest = json.loads((bundle / MANIFEST).read_text())
    del manifest["files"][str(outside)]
    manifest["files"]["C:/Windows/win.ini"] = {"sha256": "0" * 64, "bytes": 1}
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"outside the bundle.*'C:/Windows/win\.ini'"):
        verify_bundle(bundle)


def test_a_symlinked_file_pointing_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    bundle = _bundle(tmp_path)
    os.symlink(outside, bundle / "tokenizer.json")
    _add_to_manifest(bundle, "tokenizer.json", outside)
    with pytest.raises(BundleError, match=r"outside the bundle.*'tokenizer\.json'"):
        verify_bundle(bundle)


def test_a_symlinked_folder_pointing_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    bundle = _bundle(tmp_path)
    os.symlink(outside.parent, bundle / "linked")
    _add_to_manifest(bundle, f"linked/{outside.name}", outside)
    with pytest.raises(BundleError, match=rf"outside the bundle.*'linked/{outside.name}'"):
        verify_bundle(bundle)


def test_a_symlink_inside_the_bundle_still_verifies(tmp_path: Path) -> None:
    """Only names that leave the folder are refused; a link to a sibling is checked like its target."""
    bundle = _bundle(tmp_path)
    os.symlink("labels.json", bundle / "labels_copy.json")
    _add_to_manifest(bundle, "labels_copy.json", bundle / "labels.json")
    assert "labels_copy.json" in verify_bundle(bundle)["files"]


def test_every_unsafe_name_is_listed_and_nothing_counts_as_verified(tmp_path: Path, outside: Path) -> None:
    bundle = _bundle(tmp_path)
    _add_to_manifest(bundle, "../outside.txt", outside)
    _add_to_manifest(bundle, str(outside), outside)
    with pytest.raises(BundleError) as caught:
        verify_bundle(bundle)
    assert "'../outside.txt'" in str(caught.value) and repr(str(outside)) in str(caught.value)
