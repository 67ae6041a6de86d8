"""From a :class:`DataSpec` to validated, normalised, split and labelled examples plus a report.

Every problem in the input ends here, before any model is built, in one :class:`DataError` that names
the file, row and column. Nothing is dropped silently: each dropped row is counted in the report.

Rows are held as columns (:class:`~trainer.data.splits.SplitRows`), never as one object per row; a
CSV file is streamed (only the needed columns are kept, and any irregularity hands the file to
:func:`~trainer.data.reader.read_table`, whose checks and messages are the only ones); texts are
normalised in worker processes when there are many. :mod:`trainer.data.prepared_cache` skips all of
this when the same files, config and normaliser were prepared before.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from trainer.data.labels import LabelMap, build_label_map, encode_targets
from trainer.data.normalize import NORMALIZER_VERSION, NormalizerConfig, normalize_text
from trainer.data.reader import _SURROGATE, DataError, _csv_field_limit, read_table
from trainer.data.report import DataReport, build_report
from trainer.data.spec import SPLITS, DataSpec, FileSource
from trainer.data.splits import Example, SplitRows, dedupe, kfold_split, ratio_split

__all__ = ["Example", "FileColumns", "PreparedData", "SplitRows", "data_digest", "prepare_data", "source_digests"]

_BINARY_VALUES = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "true": 1.0, "false": 0.0}


@dataclass
class PreparedData:
    spec: DataSpec
    label_map: LabelMap
    splits: dict[str, SplitRows]
    report: DataReport
    digest: str
    file_digests: dict[str, str] = field(default_factory=dict)
    # True when read from trainer.data.prepared_cache, False when prepared now, None without a cache.
    cache_hit: bool | None = None
    _split_digests: dict[str, str] = field(default_factory=dict, repr=False)
    _languages: list[str] | None = field(default=None, repr=False)

    @property
    def languages(self) -> list[str]:
        if self._languages is None:
            self._languages = sorted({lang for rows in self.splits.values() for lang in set(rows.langs)})
        return self._languages

    def split_digest(self, split: str) -> str:
        """Content hash of one processed split (what the model actually saw); computed once."""
        if split not in self._split_digests:
            self._split_digests[split] = self.splits[split].digest()
        return self._split_digests[split]


def _hash_path(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def source_digests(spec: DataSpec) -> dict[str, str]:
    """Per split key read, the hash of its file(s): bytes only, nothing parsed (cheap cache keys)."""
    keys = list(SPLITS) if spec.split.strategy == "files" else ["all" if "all" in spec.files else "train"]
    out = {}
    for key in keys:
        paths = [Path(s.path).expanduser() for s in spec.sources(key)]
        missing = [p for p in paths if not p.exists()]
        if missing:  # the reader's own message
            raise DataError(
                f"does not exist (resolved to {missing[0].resolve()}); check data.files and paths.data_root",
                file=missing[0],
            )
        digests = [_hash_path(p) for p in paths]
        out[key] = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
    return out


def data_digest(spec: DataSpec, file_digests: dict[str, str]) -> str:
    """The prepared data's identity: spec (less name and paths), file hashes, normaliser version."""
    return hashlib.sha256(
        json.dumps(
            {
                "spec": {k: v for k, v in asdict(spec).items() if k not in ("name", "files")},
                "files": file_digests,
                "normalizer_version": NORMALIZER_VERSION,
            },
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()


# -- reading: the needed columns of one file ----------------------------------------------------------
# Below this many texts the worker processes cost more than they save.
PARALLEL_FROM = 50_000
_CHUNK = 5_000


@dataclass
class FileColumns:
    """The needed columns of one file (cells as read) and each row's physical line."""

    source: str
    values: dict[str, list[Any]]
    lines: list[int | None]


class _Irregular(Exception):
    """The streamed CSV needs the reader's full checks; it reports what it finds in its own words."""


def _lines(fh: IO[str]) -> Iterator[str]:
    first = True
    for line in fh:
        if first:  # a byte-order mark opens the file, not the first column's name (as the reader)
            line, first = line.removeprefix("\ufeff"), False
        if _SURROGATE.search(line):
            raise _Irregular
        yield line


def _stream_csv(path: Path, encoding: str, delimiter: str, needed: list[str]) -> FileColumns:
    """The reader's CSV parse, one line at a time, keeping only ``needed``; raises _Irregular on anything odd."""
    with path.open(encoding=encoding, newline="") as fh, _csv_field_limit(path.stat().st_size + 1):
        reader = csv.reader(_lines(fh), delimiter=delimiter)
        header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
        if not header or len(set(header)) != len(header) or not set(needed) <= set(header):
            raise _Irregular
        picks = [(c, header.index(c)) for c in dict.fromkeys(needed)]
        values: dict[str, list[Any]] = {c: [] for c, _ in picks}
        lines: list[int | None] = []
        start = reader.line_num + 1
        for cells in reader:
            if cells:
                if len(cells) != len(header):
                    raise _Irregular
                for column, j in picks:
                    values[column].append(cells[j])
                lines.append(start)
            start = reader.line_num + 1
    if not lines:
        raise _Irregular
    return FileColumns(str(path), values, lines)


def read_columns(
    path: Path, fmt: str, encoding: str, delimiter: str, split: str | None, needed: list[str]
) -> FileColumns:
    """The ``needed`` columns of one file; every problem is the reader's :class:`DataError`."""
    if fmt == "csv" and path.is_file():
        try:
            return _stream_csv(path, encoding, delimiter, needed)
        except (_Irregular, UnicodeError, LookupError, csv.Error):
            pass  # read_table below raises the exact error (or reads what the stream found odd)
    table = read_table(path, fmt, encoding, delimiter, split)
    table.require_columns(needed, "data.text_column/label_column(s)/language_column/id_column")
    values = {c: [row.get(c) for row in table.rows] for c in dict.fromkeys(needed)}
    return FileColumns(table.source, values, table.lines)


def _normalize_chunk(texts: list[str], cfg: NormalizerConfig) -> list[str]:
    return [normalize_text(t, cfg) for t in texts]


def normalize_workers(n: int) -> int:
    """Worker processes for ``n`` rows: 1 below :data:`PARALLEL_FROM` or off Linux, else the usable cores (≤ 8)."""
    if n < PARALLEL_FROM or sys.platform != "linux":  # fork: workers inherit the loaded modules
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def normalize_many(values: Sequence[Any], cfg: NormalizerConfig) -> list[str]:
    """``normalize_text`` of every str cell ("" for others: the row check reports them), in worker processes."""
    texts = [v if isinstance(v, str) else "" for v in values]
    workers = normalize_workers(len(texts))
    if workers == 1:
        return _normalize_chunk(texts, cfg)
    chunks = [texts[i : i + _CHUNK] for i in range(0, len(texts), _CHUNK)]
    del texts
    out: list[str] = []
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for part in pool.imap(partial(_normalize_chunk, cfg=cfg), chunks):
            out.extend(part)
    return out


# -- checking and labelling --------------------------------------------------------------------------
def _needed_columns(spec: DataSpec) -> list[str]:
    needed = [spec.text_column]
    needed += [spec.label_column] if spec.label_column else list(spec.label_columns)
    return needed + [c for c in (spec.language_column, spec.id_column) if c]


def _cell_text(value: Any, column: str, where: dict[str, Any]) -> str:
    if value is None or (isinstance(value, float) and value != value):
        raise DataError("empty cell (no value)", column=column, **where)
    if not isinstance(value, str | int | float | bool):
        raise DataError(f"expected text, found {type(value).__name__}", column=column, **where)
    return str(value)


class _Interned(dict[Any, Any]):
    """One object per distinct value (languages, label names): a million rows share a handful."""

    def __missing__(self, key: Any) -> Any:
        self[key] = key
        return key


def _raw_label(cols: FileColumns, i: int, spec: DataSpec, where: dict[str, Any]) -> Any:
    if spec.task == "multilabel" and spec.label_columns:
        positives = []
        for col in spec.label_columns:
            cell = _cell_text(cols.values[col][i], col, where).strip().lower()
            if cell not in _BINARY_VALUES:
                raise DataError(f"multi-label value must be 0 or 1, found {cell!r}", column=col, **where)
            if _BINARY_VALUES[cell] == 1.0:
                positives.append(spec.label_names.get(col, col))
        return tuple(positives)
    if spec.task == "multilabel":
        assert spec.label_column and spec.label_delimiter  # checked by DataSpec.validate
        cell = _cell_text(cols.values[spec.label_column][i], spec.label_column, where)
        parts = [p.strip() for p in cell.split(spec.label_delimiter) if p.strip()]
        return tuple(spec.label_name(p) for p in parts)
    assert spec.label_column
    cell = _cell_text(cols.values[spec.label_column][i], spec.label_column, where).strip()
    if not cell:
        raise DataError("empty label", column=spec.label_column, **where)
    if cell.endswith(".0") and cell[:-2].lstrip("-").isdigit():
        cell = cell[:-2]  # 1.0 from a float column is the label "1"
    return spec.label_name(cell)


def _examples(cols: FileColumns, spec: DataSpec, split_key: str, source: FileSource, id_prefix: str = "") -> SplitRows:
    """The rows of one file, checked in file order (the first bad row is the one reported)."""
    texts = normalize_many(cols.values[spec.text_column], spec.normalizer)
    out = SplitRows.empty([cols.source])
    interned = _Interned()
    default_lang = source.language or spec.language or "und"
    for i, text in enumerate(texts):
        where: dict[str, Any] = {"file": cols.source, "row": i + 1, "line": cols.lines[i]}
        value = cols.values[spec.text_column][i]
        if value is not None and not isinstance(value, str):
            raise DataError(f"expected text, found {type(value).__name__} {value!r}", column=spec.text_column, **where)
        if not text:
            if spec.on_empty_text == "fail":
                raise DataError(
                    "empty text (set data.on_empty_text=drop to drop and count such rows)",
                    column=spec.text_column,
                    **where,
                )
            out.dropped_empty += 1
            continue
        raw_label = interned[_raw_label(cols, i, spec, where)]
        lang = default_lang
        if spec.language_column:
            lang = interned[str(cols.values[spec.language_column][i] or "").strip().lower() or "und"]
        ident = id_prefix + (str(cols.values[spec.id_column][i]) if spec.id_column else f"{split_key}-{i + 1}")
        out.append(ident, text, lang, raw_label, 0, i + 1, cols.lines[i])
    return out


def _stratum(raw_label: Any, lang: str) -> str:
    label = "|".join(sorted(raw_label)) if isinstance(raw_label, tuple) else raw_label
    return f"{lang}\t{label}"


def _encode_labels(splits: dict[str, SplitRows], spec: DataSpec, label_map: LabelMap) -> None:
    column = spec.label_column or ",".join(spec.label_columns)
    for split, rows in splits.items():
        hint = f" of the training data (split {split}; map names with data.label_names)"
        rows.labels = encode_targets(rows, label_map, column=column, hint=hint)


def _check_train_support(train: SplitRows, spec: DataSpec, label_map: LabelMap) -> None:
    counts = {n: 0 for n in label_map.names}
    for raw in train.raw_labels:
        for v in raw if isinstance(raw, tuple) else (raw,):
            counts[v] = counts.get(v, 0) + 1
    declared = set(spec.label_names.values()) if spec.task != "multilabel" else set(label_map.names)
    missing = sorted(n for n in declared if counts.get(n, 0) == 0)
    if missing:
        where = spec.files.get("train") or spec.files.get("all")
        raise DataError(
            f"class(es) {missing} have zero training examples",
            file=where,
            column=spec.label_column or ",".join(spec.label_columns),
        )


def _read_split(spec: DataSpec, key: str, split: str | None) -> tuple[SplitRows, int]:
    """Rows of ``files[key]`` (several files are concatenated in order) and the number of empty rows."""
    sources = spec.sources(key)
    parts = []
    for source in sources:
        path = Path(source.path).expanduser()
        cols = read_columns(path, spec.format, spec.encoding, spec.csv_delimiter, split, _needed_columns(spec))
        # Row ids of several files get the file's name, so they stay unique and traceable.
        prefix = f"{path.stem}:" if len(sources) > 1 else ""
        parts.append(_examples(cols, spec, key, source, prefix))
        del cols  # the raw cells of one file at a time
    rows = SplitRows.concat(parts)
    return rows, sum(p.dropped_empty for p in parts)


def _read_splits(spec: DataSpec, dropped: dict[str, dict[str, int]]) -> dict[str, SplitRows]:
    if spec.split.strategy == "files":
        splits = {}
        for split in SPLITS:
            splits[split], empty = _read_split(spec, split, split)
            if empty:
                dropped[split]["empty_text"] = empty
        return splits
    key = "all" if "all" in spec.files else "train"
    # files.all: an hf_disk DatasetDict must hold one split (which); files.train: its "train" split.
    rows, empty = _read_split(spec, key, None if key == "all" else "train")
    if empty:
        dropped["train"]["empty_text"] = empty
    keys = [_stratum(raw, lang) for raw, lang in zip(rows.raw_labels, rows.langs, strict=True)]
    s = spec.split
    idx = ratio_split(keys, s.ratios, s.seed) if s.strategy == "ratio" else kfold_split(keys, s.folds, s.fold, s.seed)
    return {name: rows.take(idx[name]) for name in SPLITS}


def _label_map(spec: DataSpec, train: SplitRows) -> LabelMap:
    train_values = train.raw_labels
    multilabel_names: tuple[str, ...] = ()
    if spec.task == "multilabel":
        multilabel_names = (
            tuple(spec.label_names.get(c, c) for c in spec.label_columns)
            if spec.label_columns
            else tuple(sorted({v for t in set(train_values) for v in t}))
        )
    try:
        return build_label_map(spec.task, list(set(train_values)), spec.positive_label, multilabel_names)
    except ValueError as err:
        raise DataError(
            str(err), file=spec.files.get("train") or spec.files.get("all"), column=spec.label_column
        ) from None


def prepare_data(spec: DataSpec) -> PreparedData:
    """Read, validate, normalise, split, label and report ``spec``. Raises DataError on bad input.

    :func:`trainer.data.prepared_cache.prepare_data_cached` caches the result under ``paths.cache_dir``: a
    later call with the same files, config and normaliser reads it back without parsing a row.
    """
    spec.validate()
    dropped: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    splits = _read_splits(spec, dropped)
    label_map = _label_map(spec, splits["train"])
    _check_train_support(splits["train"], spec, label_map)
    _encode_labels(splits, spec, label_map)
    for split, reasons in dedupe(splits, spec).items():
        for reason, n in reasons.items():
            dropped[split][reason] = dropped[split].get(reason, 0) + n
    for split, limit in spec.max_samples.items():
        if len(splits[split]) > limit:
            rng = random.Random(f"{spec.split.seed}:max_samples:{split}")
            keep = sorted(rng.sample(range(len(splits[split])), limit))
            dropped[split]["max_samples"] = len(splits[split]) - limit
            splits[split] = splits[split].take(keep)
    report = build_report(spec, label_map, splits, dropped)
    file_digests = source_digests(spec)  # after reading: a missing file is the reader's error, in file order
    return PreparedData(spec, label_map, splits, report, data_digest(spec, file_digests), file_digests)
