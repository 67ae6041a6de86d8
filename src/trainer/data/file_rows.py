"""One file's columns to its checked, normalised rows (:class:`~trainer.data.splits.SplitRows`).

Texts are normalised in worker processes when there are many, chunk by chunk, while the main process
checks the chunks already done. A chunk of plain rows (every text a non-empty string, every label
readable) becomes whole columns at once; any other chunk is checked row by row, so the first bad row
of the file, in file order, is the one a :class:`~trainer.data.reader.DataError` names.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from trainer.data.formats import FileColumns
from trainer.data.label_cells import LabelMemo
from trainer.data.normalize import NormalizerConfig, normalize_text
from trainer.data.reader import DataError
from trainer.data.spec import DataSpec, FileSource
from trainer.data.splits import SplitRows, dedupe_key

# -- normalising: in worker processes for many rows --------------------------------------------------
# Below this many texts the worker processes cost more than they save.
PARALLEL_FROM = 50_000
_CHUNK = 5_000


def _normalize_chunk(texts: list[str], cfg: NormalizerConfig) -> tuple[list[str], list[bytes]]:
    normalized = [normalize_text(t, cfg) for t in texts]
    return normalized, [dedupe_key(t) for t in normalized]


def fork_workers(n: int, parallel_from: int) -> int:
    """Forked worker processes for ``n`` rows: 1 below ``parallel_from`` or off Linux, else the usable cores (≤ 8).

    Fork: the workers inherit what is loaded (modules, the tokenizer, the texts) instead of receiving it pickled.
    """
    if n < parallel_from or sys.platform != "linux":
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def normalized_chunks(values: Sequence[Any], cfg: NormalizerConfig) -> Iterator[tuple[list[str], list[bytes]]]:
    """``normalize_text`` of every str cell ("" for others: the row check reports them) and its dedupe key.

    In chunks, in file order. With many rows, worker processes normalise ahead while the caller checks the
    chunks already done: on 2 cores the row loop runs beside the normalising instead of after it.
    """
    texts = [v if isinstance(v, str) else "" for v in values]
    workers = fork_workers(len(texts), PARALLEL_FROM)
    if workers == 1:
        yield _normalize_chunk(texts, cfg)
        return
    chunks = [texts[i : i + _CHUNK] for i in range(0, len(texts), _CHUNK)]
    del texts
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(partial(_normalize_chunk, cfg=cfg), chunks)


# -- checking, row by row or a chunk at a time -------------------------------------------------------
class _Interned(dict[Any, Any]):
    """One object per distinct value (languages, label names): a million rows share a handful."""

    def __missing__(self, key: Any) -> Any:
        self[key] = key
        return key


@dataclass
class EmptyLabels:
    """Rows without a label: all counted per split, the first few named in the error."""

    counts: dict[str, int] = field(default_factory=dict)
    first: list[dict[str, Any]] = field(default_factory=list)

    def add(self, split: str, where: dict[str, Any]) -> None:
        self.counts[split] = self.counts.get(split, 0) + 1
        if len(self.first) < 5:
            self.first.append(where)

    def check(self, spec: DataSpec) -> None:
        """With ``on_empty_label=fail``, one DataError counting every such row and naming the first ones."""
        total = sum(self.counts.values())
        if not total or spec.on_empty_label == "drop":
            return
        per_split = ", ".join(f"{split} {n}" for split, n in self.counts.items())
        shown = "; ".join(f"{w['file']} row {w['row']} (line {w['line']})" for w in self.first)
        raise DataError(
            f"{total} row(s) have an empty label ({per_split}; first: {shown}); with data.on_empty_label=fail "
            "(the default) every row needs one: set data.on_empty_label: drop (command line: "
            "++data.on_empty_label=drop) to drop them, counted per split in the data report",
            column=spec.label_column or ",".join(spec.label_columns),
            **self.first[0],
        )


def file_rows(
    cols: FileColumns, spec: DataSpec, split_key: str, source: FileSource, empty: EmptyLabels, id_prefix: str = ""
) -> SplitRows:
    """The rows of one file, checked in file order (the first bad row is the one reported)."""
    rows = _FileRows(cols, spec, split_key, source, empty, id_prefix)
    offset = 0
    for texts, keys in normalized_chunks(cols.values[spec.text_column], spec.normalizer):
        if not rows.add_clean(offset, texts, keys):
            rows.add_one_by_one(offset, texts, keys)
        offset += len(texts)
    rows.out.keys = rows.keys
    return rows.out


@dataclass
class _FileRows:
    """One file's rows, built chunk by chunk: a chunk of plain rows as whole columns, any other row by row."""

    cols: FileColumns
    spec: DataSpec
    split_key: str
    source: FileSource
    empty: EmptyLabels
    id_prefix: str
    interned: _Interned = field(default_factory=_Interned)
    labels: LabelMemo = field(default_factory=LabelMemo)
    keys: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = SplitRows.empty([self.cols.source])
        self.default_lang = self.source.language or self.spec.language or "und"
        # Where a row without a label is counted: rows of files.all are counted before splitting, as train.
        self.empty_split = "train" if self.split_key == "all" else self.split_key

    def where(self, i: int) -> dict[str, Any]:
        return {"file": self.cols.source, "row": i + 1, "line": self.cols.lines[i]}

    def lang(self, i: int) -> str:
        if not self.spec.language_column:
            return self.default_lang
        return self.interned[str(self.cols.values[self.spec.language_column][i] or "").strip().lower() or "und"]

    def ident(self, i: int) -> str:
        spec = self.spec
        return self.id_prefix + (
            str(self.cols.values[spec.id_column][i]) if spec.id_column else f"{self.split_key}-{i + 1}"
        )

    def add_clean(self, offset: int, texts: list[str], keys: list[bytes]) -> bool:
        """The chunk as whole columns when every text is a non-empty str and every label reads; else False."""
        span = range(offset, offset + len(texts))
        raw = self.cols.values[self.spec.text_column]
        if not all(texts) or not all(type(raw[i]) is str for i in span):
            return False
        try:  # a bad label cell: the row-by-row pass raises the error, with its row
            found = [self.labels.label(self.cols, i, self.spec, {}) for i in span]
        except DataError:
            return False
        kept = [j for j, label in enumerate(found) if label is not None]
        for j in (j for j, label in enumerate(found) if label is None):
            self.empty.add(self.empty_split, self.where(offset + j))
        self.out.extend(
            ids=[self.ident(offset + j) for j in kept],
            texts=[texts[j] for j in kept],
            langs=[self.lang(offset + j) for j in kept],
            raw_labels=[self.interned[found[j]] for j in kept],
            source_index=[0] * len(kept),
            rows=[offset + j + 1 for j in kept],
            lines=[self.cols.lines[offset + j] for j in kept],
        )
        self.keys.extend(keys[j] for j in kept)
        return True

    def add_one_by_one(self, offset: int, texts: list[str], keys: list[bytes]) -> None:
        """Each row checked in turn: the first bad one raises its DataError, empty ones are counted."""
        spec = self.spec
        for i, (text, key) in enumerate(zip(texts, keys, strict=True), start=offset):
            where = self.where(i)
            _check_text_cell(self.cols.values[spec.text_column][i], spec, where)
            if not text:
                _empty_text(spec, where)
                self.out.dropped_empty += 1
                continue
            raw_label = self.labels.label(self.cols, i, spec, where)
            if raw_label is None:
                self.empty.add(self.empty_split, where)
                continue
            self.out.append(self.ident(i), text, self.lang(i), self.interned[raw_label], 0, i + 1, self.cols.lines[i])
            self.keys.append(key)


def _check_text_cell(value: Any, spec: DataSpec, where: dict[str, Any]) -> None:
    if value is not None and not isinstance(value, str):
        raise DataError(f"expected text, found {type(value).__name__} {value!r}", column=spec.text_column, **where)


def _empty_text(spec: DataSpec, where: dict[str, Any]) -> None:
    """With ``on_empty_text=fail``, the row's error; with ``drop`` nothing (the caller counts it)."""
    if spec.on_empty_text == "fail":
        raise DataError(
            "empty text (set data.on_empty_text=drop to drop and count such rows)", column=spec.text_column, **where
        )
