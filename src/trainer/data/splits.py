"""The rows of each split, as columns, and seeded stratified splitting (ratio or k-fold).

:class:`SplitRows` holds one split as parallel lists (or, read back from the prepared-data cache, as
Arrow columns turned into lists only when first read). It is a ``Sequence[Example]``: code that
iterates examples keeps working, while an :class:`Example` object exists only while it is used.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import pyarrow as pa

from trainer.data.reader import DataError
from trainer.data.spec import SPLITS, DataSpec

COLUMNS = ("ids", "texts", "langs", "raw_labels", "labels", "source_index", "rows", "lines")


@dataclass
class Example:
    id: str
    text: str
    lang: str
    raw_label: Any  # str for single-label tasks, tuple[str, ...] of positive names for multi-label
    source: str
    row: int
    line: int | None
    label: Any = None  # int (single-label) or list[float] (multi-label), set once the map is known


class _Column:
    """A column list; from Arrow, converted to Python objects on first read (most runs read few columns)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: SplitRows | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        if self.name not in obj.__dict__:
            obj.__dict__[self.name] = obj._from_arrow(self.name)
        return obj.__dict__[self.name]

    def __set__(self, obj: SplitRows, value: Any) -> None:
        obj.__dict__[self.name] = value


class SplitRows(Sequence[Example]):
    """One split's rows as columns. ``labels`` is None until the label map is known."""

    ids = _Column()
    texts = _Column()
    langs = _Column()
    raw_labels = _Column()
    labels = _Column()
    source_index = _Column()
    rows = _Column()
    lines = _Column()

    def __init__(self, sources: list[str], arrow: pa.Table | None = None, **columns: list[Any] | None) -> None:
        self.sources = sources
        self.arrow = arrow
        self.dropped_empty = 0  # rows of the file(s) dropped for an empty text before splitting
        for name, value in columns.items():
            setattr(self, name, value)

    @classmethod
    def empty(cls, sources: list[str]) -> SplitRows:
        return cls(sources, **{c: [] for c in COLUMNS if c != "labels"}, labels=None)

    def append(self, ident: str, text: str, lang: str, raw_label: Any, source: int, row: int, line: int | None) -> None:
        self.ids.append(ident)
        self.texts.append(text)
        self.langs.append(lang)
        self.raw_labels.append(raw_label)
        self.source_index.append(source)
        self.rows.append(row)
        self.lines.append(line)

    @classmethod
    def concat(cls, parts: list[SplitRows]) -> SplitRows:
        """Several files' rows in order (each part's ``source_index`` renumbered)."""
        if len(parts) == 1:
            return parts[0]
        out = cls.empty([s for p in parts for s in p.sources])
        offset = 0
        for part in parts:
            for name in ("ids", "texts", "langs", "raw_labels", "rows", "lines"):
                getattr(out, name).extend(getattr(part, name))
            out.source_index.extend(i + offset for i in part.source_index)
            offset += len(part.sources)
        return out

    def take(self, indices: Sequence[int]) -> SplitRows:
        """The rows at ``indices``, in that order."""
        picked = {name: _pick(getattr(self, name), indices) for name in COLUMNS}
        return SplitRows(self.sources, **picked)

    # -- Sequence[Example] -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.arrow) if self.arrow is not None and "ids" not in self.__dict__ else len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> list[Example]: ...
    def __getitem__(self, index: int | slice) -> Example | list[Example]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        labels = self.labels
        return Example(
            self.ids[index],
            self.texts[index],
            self.langs[index],
            self.raw_labels[index],
            self.sources[self.source_index[index]],
            self.rows[index],
            self.lines[index],
            None if labels is None else labels[index],
        )

    def __iter__(self) -> Iterator[Example]:
        labels = self.labels if self.labels is not None else [None] * len(self)
        columns = (self.ids, self.texts, self.langs, self.raw_labels, self.source_index, self.rows, self.lines, labels)
        for ident, text, lang, raw, src, row, line, label in zip(*columns, strict=True):
            yield Example(ident, text, lang, raw, self.sources[src], row, line, label)

    # -- what prepare and the cache need -----------------------------------------------------------
    def where(self, index: int) -> dict[str, Any]:
        """``file``/``row``/``line`` of row ``index`` for a :class:`~trainer.data.reader.DataError`."""
        return {"file": self.sources[self.source_index[index]], "row": self.rows[index], "line": self.lines[index]}

    def digest(self) -> str:
        """Content hash of id, text, language and target of every row (``PreparedData.split_digest``)."""
        h = hashlib.sha256()
        labels = self.labels if self.labels is not None else [None] * len(self)
        for row in zip(self.ids, self.texts, self.langs, labels, strict=True):
            h.update(json.dumps(row, ensure_ascii=False).encode())
        return h.hexdigest()

    def to_arrow(self) -> pa.Table:
        """Every column as an Arrow table (multi-label names and targets as lists)."""
        if self.arrow is not None:
            return self.arrow
        raw = self.raw_labels
        raw_values = [list(r) for r in raw] if raw and isinstance(raw[0], tuple) else raw
        return pa.table(
            {
                "ids": pa.array(self.ids, pa.string()),
                "texts": pa.array(self.texts, pa.string()),
                "langs": pa.array(self.langs, pa.string()).dictionary_encode(),
                "raw_labels": pa.array(raw_values),
                "labels": pa.array(self.labels),
                "source_index": pa.array(self.source_index, pa.int32()),
                "rows": pa.array(self.rows, pa.int64()),
                "lines": pa.array(self.lines, pa.int64()),
            }
        )

    def _from_arrow(self, name: str) -> list[Any]:
        if self.arrow is None:
            raise AttributeError(name)
        values = self.arrow.column(name).to_pylist()
        if name == "raw_labels" and pa.types.is_list(self.arrow.schema.field(name).type):
            values = [tuple(v) for v in values]
        if name in ("langs", "raw_labels"):  # one object per distinct value, as prepared
            shared: dict[Any, Any] = {}
            values = [shared.setdefault(v, v) for v in values]
        return values


def _pick(values: list[Any] | None, indices: Sequence[int]) -> list[Any] | None:
    return None if values is None else [values[i] for i in indices]


# -- duplicates and leakage -----------------------------------------------------------------------
def _dedupe_key(text: str) -> bytes:
    # A 128-bit digest instead of the text: a million keys take ~100 MB less; a collision is 2^-64 unlikely.
    return hashlib.blake2b(" ".join(text.casefold().split()).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def dedupe(splits: dict[str, SplitRows], spec: DataSpec) -> dict[str, dict[str, int]]:
    """Apply ``data.on_duplicate`` (within a split) and ``data.on_leakage`` (across splits); dropped counts."""
    dropped: dict[str, dict[str, int]] = {s: {} for s in splits}
    seen_before: dict[bytes, str] = {}
    for split in SPLITS:
        rows = splits[split]
        kept, seen = [], set()
        for i, text in enumerate(rows.texts):
            key = _dedupe_key(text)
            if key in seen:
                if spec.on_duplicate == "fail":
                    raise DataError(
                        f"duplicate text within split {split} (data.on_duplicate=fail)",
                        column=spec.text_column,
                        **rows.where(i),
                    )
                if spec.on_duplicate == "drop":
                    dropped[split]["duplicate"] = dropped[split].get("duplicate", 0) + 1
                    continue
            elif key in seen_before:
                if spec.on_leakage == "fail":
                    raise DataError(
                        f"text also in split {seen_before[key]} (data.on_leakage=fail)",
                        column=spec.text_column,
                        **rows.where(i),
                    )
                if spec.on_leakage == "drop":
                    dropped[split]["leakage"] = dropped[split].get("leakage", 0) + 1
                    continue
            seen.add(key)
            kept.append(i)
        for key in seen:
            seen_before.setdefault(key, split)
        if len(kept) != len(rows):
            splits[split] = rows.take(kept)
    return dropped


# -- splitting ---------------------------------------------------------------------------------------
def _strata(keys: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        groups[key].append(index)
    return dict(sorted(groups.items()))


def ratio_split(keys: Sequence[str], ratios: Sequence[float], seed: int) -> dict[str, list[int]]:
    """Split row indices into train/validation/test with ``ratios``, stratified by ``keys``.

    Each stratum is shuffled with its own seeded RNG so adding a class does not reshuffle the others.
    Rounding leftovers go to train, so small strata never vanish from training.
    """
    out: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for stratum, indices in _strata(keys).items():
        rng = random.Random(f"{seed}:{stratum}")
        shuffled = list(indices)
        rng.shuffle(shuffled)
        n = len(shuffled)
        n_val = int(n * ratios[1])
        n_test = int(n * ratios[2])
        out["test"].extend(shuffled[:n_test])
        out["validation"].extend(shuffled[n_test : n_test + n_val])
        out["train"].extend(shuffled[n_test + n_val :])
    return {k: sorted(v) for k, v in out.items()}


def kfold_split(keys: Sequence[str], folds: int, fold: int, seed: int) -> dict[str, list[int]]:
    """Fold ``fold`` is test, fold ``fold + 1`` (mod k) validation, the rest train; stratified."""
    assignment = [0] * len(keys)
    for stratum, indices in _strata(keys).items():
        rng = random.Random(f"{seed}:{stratum}")
        shuffled = list(indices)
        rng.shuffle(shuffled)
        for position, index in enumerate(shuffled):
            assignment[index] = position % folds
    val_fold = (fold + 1) % folds
    out: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for index, f in enumerate(assignment):
        out["test" if f == fold else "validation" if f == val_fold else "train"].append(index)
    return out
