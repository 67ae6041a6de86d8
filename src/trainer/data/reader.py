"""Read raw dataset files into rows that remember where they came from.

Errors name the file, the row (1-based data row, plus the physical line for text formats) and the
column, so a user can open the file and find the cell. What every reader guarantees:

- a file without data rows (header only, blank lines only) is a :class:`DataError` ("no rows");
- a column named twice (CSV header, or a key repeated in one JSON object) is a :class:`DataError`;
- a lone UTF-16 surrogate in a string (JSON's ``"\\ud83d"``, half an emoji) is a :class:`DataError`
  naming file, row and column, not repaired: it cannot be written as UTF-8, so it would crash the
  split digest, the tokenizer and tracking later, and which character was meant is not ours to guess;
- JSONL records are split on ``\\n`` only, so JSON text may hold raw U+2028/U+2029/U+0085;
- a UTF-8 byte-order mark at the start of a file is ignored;
- a CSV field may be as long as the file (Python's csv module stops at 131,072 characters);
- CSV line numbers count LF only (``grep -n``'s lines): a lone CR inside a quoted field is text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


class DataError(ValueError):
    """Bad input data. The message names the file, row and column where it applies."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        line: int | None = None,
    ) -> None:
        where = []
        if file is not None:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}" + (f" (line {line})" if line is not None else ""))
        elif line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.file, self.row, self.column, self.line = file, row, column, line


@dataclass
class RawTable:
    """Rows of one file, each with its 1-based data-row number and its physical line."""

    source: str
    columns: list[str]
    rows: list[dict[str, Any]]
    lines: list[int | None]

    def require_columns(self, names: list[str], key: str) -> None:
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise DataError(
                f"column(s) {missing} named by config key {key} not found; the file has {self.columns}",
                file=self.source,
            )


def _decode(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        bad = raw[err.start : err.end].hex(" ")
        raise DataError(
            f"bytes {bad} at byte offset {err.start} cannot be decoded as {encoding!r} "
            f"(set data.encoding, e.g. latin-1)",
            file=path,
            line=line,
        ) from None
    # A byte-order mark (spreadsheet exports, Notepad) is not part of the first column's name or record.
    return text[1:] if text.startswith("\ufeff") else text


@contextmanager
def _csv_field_limit(at_least: int) -> Iterator[None]:
    """Raise the csv module's process-wide field limit for one read: no field is longer than the file."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, at_least))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _check_header(header: list[str], path: Path) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError("is named more than once in the header", file=path, column=name)
        seen.add(name)


def _check_text(value: Any, path: Path, row: int, column: str, line: int | None) -> None:
    """DataError if a string in ``value`` (a cell, or a list/dict cell) holds a lone surrogate."""
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        if found:
            raise DataError(
                f"lone surrogate {ord(found.group()):#06x} at character {found.start()} (half of a character; "
                "fix the cell, e.g. drop the cut emoji)",
                file=path,
                row=row,
                column=column,
                line=line,
            )
    elif isinstance(value, list):
        for item in value:
            _check_text(item, path, row, column, line)
    elif isinstance(value, dict):
        for item in value.values():
            _check_text(item, path, row, column, line)


def _read_csv(path: Path, encoding: str, delimiter: str) -> RawTable:
    text = _decode(path, encoding)
    check_text = _SURROGATE.search(text) is not None
    with _csv_field_limit(len(text) + 1):
        try:
            return _parse_csv(text, path, delimiter, check_text, newline="\n")
        except csv.Error:
            pass  # a lone CR outside quotes: it ends a record (old Mac files), so split there too
        try:
            return _parse_csv(text, path, delimiter, check_text, newline="")
        except csv.Error as err:
            raise DataError(f"not readable as CSV ({err})", file=path) from None


def _parse_csv(text: str, path: Path, delimiter: str, check_text: bool, newline: str) -> RawTable:
    """Rows of ``text``. ``newline="\n"``: records and line numbers split at LF only, as ``grep -n`` counts,
    so a lone CR inside a quoted field is part of the field, not a line (``""`` also splits at CR).
    """
    reader = csv.reader(io.StringIO(text, newline=newline), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("file is empty (no header row)", file=path) from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    _check_header(header, path)
    rows: list[dict[str, Any]] = []
    lines: list[int | None] = []
    start_line = reader.line_num + 1
    for values in reader:
        if not values:
            start_line = reader.line_num + 1
            continue
        if len(values) != len(header):
            raise DataError(
                f"has {len(values)} fields but the header has {len(header)}",
                file=path,
                row=len(rows) + 1,
                line=start_line,
            )
        row = dict(zip(header, values, strict=True))
        if check_text:  # only when the decoded file holds a surrogate at all (odd encodings)
            for column, value in row.items():
                _check_text(value, path, len(rows) + 1, column, start_line)
        rows.append(row)
        lines.append(start_line)
        start_line = reader.line_num + 1
    return RawTable(str(path), header, rows, lines)


class _DuplicateKey(Exception):
    """A key repeated in one JSON object (json.loads would silently keep the last value)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return record


def _read_jsonl(path: Path, encoding: str) -> RawTable:
    text = _decode(path, encoding)
    rows: list[dict[str, Any]] = []
    lines: list[int | None] = []
    columns: dict[str, None] = {}
    # "\n" only: str.splitlines() also splits at U+2028/U+2029/U+0085, which JSON strings may hold raw.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        row = len(rows) + 1
        try:
            record = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as err:
            raise DataError(f"invalid JSON: {err.msg}", file=path, row=row, line=number) from None
        except _DuplicateKey as dup:
            message = "is named more than once in one record"
            raise DataError(message, file=path, row=row, column=str(dup), line=number) from None
        if not isinstance(record, dict):
            raise DataError("each line must be a JSON object", file=path, row=row, line=number)
        for column, value in record.items():
            _check_text(value, path, row, column, number)
        columns.update(dict.fromkeys(record))
        rows.append(record)
        lines.append(number)
    return RawTable(str(path), list(columns), rows, lines)


def _read_parquet(path: Path) -> RawTable:
    import pyarrow.parquet as pq  # datasets depends on pyarrow

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"not a readable parquet file ({err})", file=path) from None
    rows = table.to_pylist()
    return RawTable(str(path), table.column_names, rows, [None] * len(rows))


def _read_hf_disk(path: Path, split: str | None) -> RawTable:
    """One split of a ``save_to_disk`` folder; ``split=None`` (``data.files.all``) needs exactly one."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as err:  # a folder, but not one save_to_disk wrote
        raise DataError(f"not a saved dataset for data.format=hf_disk ({err})", file=path) from None
    if isinstance(loaded, datasets.DatasetDict):
        if split is None:
            if len(loaded) != 1:
                raise DataError(
                    f"saved dataset has splits {list(loaded)}; data.files.all reads one: point data.files.train "
                    f"at it to re-split its 'train', or use data.split.strategy=files",
                    file=path,
                )
            (split,) = loaded
        if split not in loaded:
            raise DataError(f"saved dataset has splits {list(loaded)}, not {split!r}", file=path)
        loaded = loaded[split]
    name = f"{path}[{split}]" if split else str(path)
    rows = loaded.to_list()
    return RawTable(name, list(loaded.column_names), rows, [None] * len(rows))


def read_table(
    path: Path, fmt: str, encoding: str = "utf-8", delimiter: str = ",", split: str | None = "train"
) -> RawTable:
    """Read one file of ``fmt`` (csv, jsonl, parquet, hf_disk) into a :class:`RawTable`.

    ``split``: which split of an ``hf_disk`` DatasetDict; None takes its only split.
    """
    if not path.exists():
        raise DataError(
            f"does not exist (resolved to {path.resolve()}); check data.files and paths.data_root", file=path
        )
    readers = {
        "csv": lambda: _read_csv(path, encoding, delimiter),
        "jsonl": lambda: _read_jsonl(path, encoding),
        "parquet": lambda: _read_parquet(path),
        "hf_disk": lambda: _read_hf_disk(path, split),
    }
    if fmt not in readers:
        raise DataError(f"data.format={fmt!r} is not one of csv, jsonl, parquet, hf_disk")
    table = readers[fmt]()
    if not table.rows:
        # Caught here, not as an IndexError in tokenisation or a 0-label map later.
        raise DataError("no rows (the file holds no data records)", file=table.source)
    return table
