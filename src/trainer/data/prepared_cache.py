"""Prepared data cached by what decides it: a hit reads, parses and normalises no raw row.

The key hashes the raw files' bytes (per split key, as in the data digest), the whole data spec (its
name and paths too: they appear in the report and in error messages), :data:`NORMALIZER_VERSION` and
:data:`CACHE_VERSION`. Hashing a 150 MB CSV takes well under a second; preparing it takes a minute.

Layout: ``<cache_root>/prepared/<name>-<key>/`` holds ``manifest.json`` (label map, report, digests,
languages, row sources) and one Arrow IPC file per split, memory-mapped on load; a column becomes
Python objects only when something reads it. The folder is written beside its target and renamed,
and one process per node prepares while the others wait on a file lock, then read what it wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from trainer.data.labels import LabelMap
from trainer.data.normalize import NORMALIZER_VERSION
from trainer.data.prepare import PreparedData, data_digest, prepare_data, require_rows, source_digests
from trainer.data.report import DataReport
from trainer.data.spec import SPLITS, DataSpec
from trainer.data.splits import SplitRows

# Bump when what prepare_data returns changes for the same files, config and normaliser version.
CACHE_VERSION = "2"  # 2: empty-label policy, carved validation, copies and label conflicts in the report
_MANIFEST = "manifest.json"


def prepared_key(spec: DataSpec, file_digests: dict[str, str]) -> str:
    """What decides the prepared data: file bytes, the whole spec, normaliser and cache versions."""
    return hashlib.sha256(
        json.dumps(
            {
                "spec": asdict(spec),
                "files": file_digests,
                "normalizer_version": NORMALIZER_VERSION,
                "version": CACHE_VERSION,
            },
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:24]


def prepared_path(spec: DataSpec, cache_root: Path, file_digests: dict[str, str] | None = None) -> Path:
    digests = source_digests(spec) if file_digests is None else file_digests
    return Path(cache_root) / "prepared" / f"{spec.name}-{prepared_key(spec, digests)}"


def prepare_data_cached(spec: DataSpec, cache_root: Path | None) -> PreparedData:
    """:func:`~trainer.data.prepare.prepare_data`, from ``cache_root/prepared`` when prepared before.

    ``cache_root=None`` prepares without a cache. A hit returns the same label map, report, digests
    and rows as a cold run (``cache_hit`` says which it was). This is the training path: an empty
    split is a DataError (:func:`~trainer.data.prepare.require_rows`), and nothing is cached unless
    preparing succeeded with rows in every split.
    """
    if cache_root is None:
        data = prepare_data(spec)
        require_rows(data)
        return data
    spec.validate()
    file_digests = source_digests(spec)
    target = prepared_path(spec, cache_root, file_digests)
    cached = load_prepared(target, spec)
    if cached is not None:
        return cached
    with _node_lock(target):
        cached = load_prepared(target, spec)  # another process of this node prepared it meanwhile
        if cached is not None:
            return cached
        data = prepare_data(spec)
        require_rows(data)
        if data.file_digests == file_digests:  # a file rewritten while it was read is not cached
            save_prepared(data, target)
            # What a later hit returns, from the files just written: the row lists are freed, and the
            # tokeniser reads the memory-mapped Arrow columns instead of converting the lists again.
            data = load_prepared(target, spec) or data
    data.cache_hit = False
    return data


def save_prepared(data: PreparedData, target: Path) -> None:
    """Arrow files and manifest beside ``target``, then renamed: readers never see half a cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for split in SPLITS:
            table = data.splits[split].to_arrow()
            with pa.OSFile(str(tmp / f"{split}.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        manifest = {
            "key": target.name,
            "digest": data.digest,
            "file_digests": data.file_digests,
            "split_digests": {s: data.split_digest(s) for s in SPLITS},
            "languages": data.languages,
            "label_map": data.label_map.to_dict(),
            "report": data.report.to_dict(),
            "sources": {s: data.splits[s].sources for s in SPLITS},
        }
        (tmp / _MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.rename(tmp, target)
    except OSError:  # another process won the race (its copy is identical), or the disk is full: no cache
        shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:  # anything else (an Arrow error, Ctrl-C): no half-written folder is left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_prepared(target: Path, spec: DataSpec) -> PreparedData | None:
    """The prepared data saved in ``target``, or None when there is none (or it cannot be read)."""
    try:
        manifest: dict[str, Any] = json.loads((target / _MANIFEST).read_text(encoding="utf-8"))
        splits = {s: _load_split(target / f"{s}.arrow", manifest["sources"][s]) for s in SPLITS}
    except (OSError, ValueError, KeyError):
        return None
    file_digests = manifest["file_digests"]
    if manifest["digest"] != data_digest(spec, file_digests):
        return None
    data = PreparedData(
        spec,
        LabelMap.from_dict(manifest["label_map"]),
        splits,
        DataReport(**manifest["report"]),
        manifest["digest"],
        file_digests,
        cache_hit=True,
    )
    data._split_digests.update(manifest["split_digests"])
    data._languages = list(manifest["languages"])
    return data


def _load_split(path: Path, sources: list[str]) -> SplitRows:
    # Memory-mapped: the OS pages in only the columns that are read.
    table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    return SplitRows(list(sources), arrow=table)


@contextmanager
def _node_lock(target: Path) -> Iterator[None]:
    """An exclusive lock next to ``target`` (released when the process ends, however it ends)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename alone keeps the cache consistent
        yield
        return
    with open(target.parent / f".{target.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
