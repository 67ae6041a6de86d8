"""Read raw dataset files into rows that remember where they came from.

Errors name the file, the row (1-based data row, plus the physical line for text formats) and the
column, so a user can open the file and find the cell.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        bad = raw[err.start : err.end].hex(" ")
        raise DataError(
            f"bytes {bad} at byte offset {err.start} cannot be decoded as {encoding!r} "
            f"(set data.encoding, e.g. latin-1)",
            file=path,
            line=line,
        ) from None


def _read_csv(path: Path, encoding: str, delimiter: str) -> RawTable:
    text = _decode(path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("file is empty (no header row)", file=path) from None
    header = [h.strip().lstrip("\ufeff") for h in header]
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
        rows.append(dict(zip(header, values, strict=True)))
        lines.append(start_line)
        start_line = reader.line_num + 1
    return RawTable(str(path), header, rows, lines)


def _read_jsonl(path: Path, encoding: str) -> RawTable:
    text = _decode(path, encoding)
    rows: list[dict[str, Any]] = []
    lines: list[int | None] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"invalid JSON: {err.msg}", file=path, row=len(rows) + 1, line=number) from None
        if not isinstance(record, dict):
            raise DataError("each line must be a JSON object", file=path, row=len(rows) + 1, line=number)
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
    if fmt == "csv":
        return _read_csv(path, encoding, delimiter)
    if fmt == "jsonl":
        return _read_jsonl(path, encoding)
    if fmt == "parquet":
        return _read_parquet(path)
    if fmt == "hf_disk":
        return _read_hf_disk(path, split)
    raise DataError(f"data.format={fmt!r} is not one of csv, jsonl, parquet, hf_disk")
