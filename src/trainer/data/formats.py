"""The needed columns of one source file, in every ``data.format``, held as column lists (no row objects).

- ``csv``: streamed one line at a time, keeping only the needed columns; anything irregular hands the
  file to :func:`~trainer.data.reader.read_table`, whose checks and messages are the only ones.
- ``jsonl``, ``parquet``, ``hf_disk``: :func:`~trainer.data.reader.read_table`.
- ``fasttext``: one row per line, ``__label__a __label__b text``: the leading ``__label__`` tokens are
  the labels (several: a multi-label row), the rest of the line is the text. A line without a label
  gets an empty label (``data.on_empty_label`` decides), one without text an empty text
  (``data.on_empty_text``); both name the file and line.
- ``text_files``: a metadata CSV (``data.files``) whose ``data.id_column`` names one text file per
  row, ``data.text_dir / data.file_pattern`` (``"{id}.txt"``); a missing file is an error naming it
  and the CSV row.

Line numbers count LF only, as ``grep -n`` does. The digests of the source files' bytes (the cache
keys and the data digest) are here too.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from trainer.data.normalize import NORMALIZER_VERSION
from trainer.data.reader import _SURROGATE, DataError, _check_text, _csv_field_limit, _decode, read_table
from trainer.data.spec import SPLITS, DataSpec

FASTTEXT_PREFIX = "__label__"
_LEADING_LABEL = re.compile(r"\s*" + FASTTEXT_PREFIX + r"(\S*)")
# Rows named in an error that counts many (missing text files).
_SHOWN = 5
# Distinct values up to which a streamed CSV column shares one str object per value.
_SHARED_VALUES = 256


@dataclass
class FileColumns:
    """The needed columns of one file (cells as read) and each row's physical line."""

    source: str
    values: dict[str, list[Any]]
    lines: list[int | None]


def _missing_file(path: Path) -> DataError:
    return DataError(f"does not exist (resolved to {path.resolve()}); check data.files and paths.data_root", file=path)


# -- digests: the bytes of the source files ----------------------------------------------------------
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
    if spec.split.strategy == "files":
        keys = [s for s in SPLITS if s in spec.files]  # validation_from_train: no validation file
    else:
        keys = ["all" if "all" in spec.files else "train"]
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
    if spec.text_dir is not None:  # format=text_files: the texts are part of the data
        folder = Path(spec.text_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"data.text_dir is not a folder (resolved to {folder.resolve()})", file=folder)
        out["text_dir"] = _hash_path(folder)
    return out


def data_digest(spec: DataSpec, file_digests: dict[str, str]) -> str:
    """The prepared data's identity: spec (less name and paths), file hashes, normaliser version."""
    return hashlib.sha256(
        json.dumps(
            {
                "spec": {k: v for k, v in asdict(spec).items() if k not in ("name", "files", "text_dir")},
                "files": file_digests,
                "normalizer_version": NORMALIZER_VERSION,
            },
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()


# -- csv (streamed) and the reader's formats ----------------------------------------------------------
class _Irregular(Exception):
    """The streamed CSV needs the reader's full checks; it reports what it finds in its own words."""


# Their strict decoders never yield a lone surrogate (the reader's error): no line of theirs needs the check.
_NO_SURROGATES = frozenset({"utf-8", "utf-8-sig", "iso8859-1", "ascii", "cp1252"})


def _lines(fh: IO[str], check_surrogates: bool) -> Iterator[str]:
    first = True
    for line in fh:
        if first:  # a byte-order mark opens the file, not the first column's name (as the reader)
            line, first = line.removeprefix("\ufeff"), False
        if check_surrogates and _SURROGATE.search(line):
            raise _Irregular
        yield line


def _stream_csv(path: Path, encoding: str, delimiter: str, needed: list[str]) -> FileColumns:
    """The reader's CSV parse, one line at a time, keeping only ``needed``; raises _Irregular on anything odd."""
    # newline="\n": lines end at LF only, so a lone CR in a quoted field is text and line numbers are grep's.
    with path.open(encoding=encoding, newline="\n") as fh, _csv_field_limit(path.stat().st_size + 1):
        check = codecs.lookup(encoding).name not in _NO_SURROGATES
        reader = csv.reader(_lines(fh, check), delimiter=delimiter)
        header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
        if not header or len(set(header)) != len(header) or not set(needed) <= set(header):
            raise _Irregular
        picks = [(c, header.index(c)) for c in dict.fromkeys(needed)]
        values: dict[str, list[Any]] = {c: [] for c, _ in picks}
        # Label and language cells repeat a few values: one str object per value, not per cell (12 label
        # columns x 1M rows were ~600 MB of "0"/"1" strings). A column stops sharing once it has many values.
        pools: dict[str, dict[str, str] | None] = {c: {} for c, _ in picks}
        lines: list[int | None] = []
        start = reader.line_num + 1
        for cells in reader:
            if cells:
                if len(cells) != len(header):
                    raise _Irregular
                for column, j in picks:
                    cell, pool = cells[j], pools[column]
                    if pool is not None:
                        cell = pool.setdefault(cell, cell)
                        if len(pool) > _SHARED_VALUES:
                            pools[column] = None
                    values[column].append(cell)
                lines.append(start)
            start = reader.line_num + 1
    if not lines:
        raise _Irregular
    return FileColumns(str(path), values, lines)


def read_columns(
    path: Path, fmt: str, encoding: str, delimiter: str, split: str | None, needed: list[str]
) -> FileColumns:
    """The ``needed`` columns of one csv/jsonl/parquet/hf_disk file; every problem is the reader's :class:`DataError`."""
    if fmt == "csv" and path.is_file():
        try:
            return _stream_csv(path, encoding, delimiter, needed)
        except (_Irregular, UnicodeError, LookupError, csv.Error):
            pass  # read_table below raises the exact error (or reads what the stream found odd)
    table = read_table(path, fmt, encoding, delimiter, split)
    table.require_columns(needed, "data.text_column/label_column(s)/language_column/id_column")
    values = {c: [row.get(c) for row in table.rows] for c in dict.fromkeys(needed)}
    return FileColumns(table.source, values, table.lines)


# -- fasttext -----------------------------------------------------------------------------------------
def _fasttext_line(line: str, path: Path, number: int) -> tuple[list[str], str]:
    """The leading ``__label__`` values of one line and the text after them."""
    labels, pos = [], 0
    while found := _LEADING_LABEL.match(line, pos):
        if not found.group(1):
            raise DataError(f"{FASTTEXT_PREFIX} without a label name", file=path, line=number)
        labels.append(found.group(1))
        pos = found.end()
    return labels, line[pos:].strip()


def read_fasttext(path: Path, encoding: str, text_column: str, label_column: str) -> FileColumns:
    """Rows of a fastText file: ``label_column`` holds each line's labels as a tuple (None: no label)."""
    if not path.is_file():
        raise _missing_file(path)
    texts: list[str] = []
    labels: list[tuple[str, ...] | None] = []
    lines: list[int | None] = []
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per label set, not one per row
    try:
        with path.open(encoding=encoding, newline="\n") as fh:
            for number, line in enumerate(fh, start=1):
                if number == 1:
                    line = line.removeprefix("\ufeff")
                if not line.strip():
                    continue
                found, text = _fasttext_line(line, path, number)
                _check_text(text, path, len(texts) + 1, text_column, number)
                texts.append(text)
                labels.append(shared.setdefault(tuple(found), tuple(found)) if found else None)
                lines.append(number)
    except UnicodeDecodeError:
        _decode(path, encoding)  # raises the reader's error: the byte offset and line
        raise
    if not texts:
        raise DataError("no rows (the file holds no data records)", file=path)
    return FileColumns(str(path), {text_column: texts, label_column: labels}, lines)


# -- text_files: one text file per metadata row -------------------------------------------------------
def _text_path(folder: Path, pattern: str, ident: Any, cols: FileColumns, i: int, column: str) -> Path:
    name = "" if ident is None else str(ident).strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise DataError(
            f"id {ident!r} cannot name a file in data.text_dir (empty, or a path)",
            file=cols.source,
            row=i + 1,
            line=cols.lines[i],
            column=column,
        )
    return folder / pattern.format(id=name)


def attach_text_files(meta: FileColumns, spec: DataSpec) -> FileColumns:
    """``meta`` with ``spec.text_column`` filled from each row's text file (a final line break dropped)."""
    assert spec.text_dir is not None and spec.id_column is not None  # DataSpec.validate
    folder = Path(spec.text_dir).expanduser()
    if not folder.is_dir():
        raise DataError(f"data.text_dir is not a folder (resolved to {folder.resolve()})", file=folder)
    texts: list[str] = []
    missing: list[int] = []
    for i, ident in enumerate(meta.values[spec.id_column]):
        path = _text_path(folder, spec.file_pattern, ident, meta, i, spec.id_column)
        if not path.is_file():
            missing.append(i)
            texts.append("")
            continue
        text = _decode(path, spec.encoding).rstrip("\r\n")
        _check_text(text, path, 1, spec.text_column, None)
        texts.append(text)
    if missing:
        first = missing[0]
        shown = ", ".join(f"row {i + 1} (line {meta.lines[i]})" for i in missing[:_SHOWN])
        path = _text_path(folder, spec.file_pattern, meta.values[spec.id_column][first], meta, first, spec.id_column)
        raise DataError(
            f"text file {path} (data.text_dir + data.file_pattern={spec.file_pattern!r}) does not exist; "
            f"{len(missing)} row(s) of this file name a missing text file: {shown}",
            file=meta.source,
            row=first + 1,
            line=meta.lines[first],
            column=spec.id_column,
        )
    meta.values[spec.text_column] = texts
    return meta


def read_source(path: Path, spec: DataSpec, split: str | None, needed: list[str]) -> FileColumns:
    """The ``needed`` columns of one file of ``spec.format``; ``split`` picks an hf_disk split."""
    if spec.format == "fasttext":
        assert spec.label_column is not None  # DataSpec.validate: fastText rows have one label field
        return read_fasttext(path, spec.encoding, spec.text_column, spec.label_column)
    if spec.format == "text_files":
        columns = [c for c in needed if c != spec.text_column]
        meta = read_columns(path, "csv", spec.encoding, spec.csv_delimiter, None, columns)
        return attach_text_files(meta, spec)
    return read_columns(path, spec.format, spec.encoding, spec.csv_delimiter, split, needed)
