"""The rows of each split, as columns, and seeded stratified splitting (ratio or k-fold).

:class:`SplitRows` holds one split as parallel lists (or, read back from the prepared-data cache, as
Arrow columns turned into lists only when first read). It is a ``Sequence[Example]``: code that
iterates examples keeps working, while an :class:`Example` object exists only while it is used.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, overload

import pyarrow as pa

from trainer.data.reader import DataError
from trainer.data.spec import DataSpec

# json.dumps(row, ensure_ascii=False) without building an encoder per row (half the time of a split digest).
_ROW_JSON = json.JSONEncoder(ensure_ascii=False).encode
_DIGEST_BLOCK = 10_000
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

    def __init__(
        self,
        sources: list[str],
        arrow: pa.Table | None = None,
        keys: list[bytes] | None = None,
        **columns: list[Any] | None,
    ) -> None:
        self.sources = sources
        self.arrow = arrow
        # dedupe_key of each row's text when the normalising workers made them (not cached: dedupe runs before).
        self.keys = keys
        self.dropped_empty = 0  # rows of the file(s) dropped for an empty text before splitting
        for name, value in columns.items():
            setattr(self, name, value)

    @classmethod
    def empty(cls, sources: list[str]) -> SplitRows:
        return cls(sources, **{c: [] for c in COLUMNS if c != "labels"}, labels=None)

    def _lists(self) -> dict[str, Any]:
        """The column lists themselves (no descriptor call per column per row); rows read back from Arrow
        are materialised once."""
        if "lines" not in self.__dict__:
            for name in ("ids", "texts", "langs", "raw_labels", "source_index", "rows", "lines"):
                getattr(self, name)
        return self.__dict__

    def append(self, ident: str, text: str, lang: str, raw_label: Any, source: int, row: int, line: int | None) -> None:
        columns = self._lists()
        columns["ids"].append(ident)
        columns["texts"].append(text)
        columns["langs"].append(lang)
        columns["raw_labels"].append(raw_label)
        columns["source_index"].append(source)
        columns["rows"].append(row)
        columns["lines"].append(line)

    def extend(self, **columns: list[Any]) -> None:
        """Append whole columns (every column but ``labels``, of equal length) to these rows."""
        lists = self._lists()
        for name, values in columns.items():
            lists[name].extend(values)

    @classmethod
    def concat(cls, parts: list[SplitRows]) -> SplitRows:
        """Several files' rows in order (each part's ``source_index`` renumbered)."""
        if len(parts) == 1:
            return parts[0]
        out = cls.empty([s for p in parts for s in p.sources])
        if all(p.keys is not None for p in parts):
            out.keys = [k for p in parts for k in p.keys or ()]
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
        return SplitRows(self.sources, keys=_pick(self.keys, indices), **picked)

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
        """Content hash of id, text, language and target of every row (``PreparedData.split_digest``).

        The sha256 of each row's ``json.dumps(row, ensure_ascii=False)`` one after another, fed in blocks.
        """
        h = hashlib.sha256()
        labels = self.labels if self.labels is not None else [None] * len(self)
        rows = zip(self.ids, self.texts, self.langs, labels, strict=True)
        while block := [_ROW_JSON(row) for row in islice(rows, _DIGEST_BLOCK)]:
            h.update("".join(block).encode())
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
# Label conflicts shown in the data report (the count covers them all).
_EXAMPLES = 5


def dedupe_key(text: str) -> bytes:
    """What two copies of a text share (:func:`matching_rule`): casefolded, whitespace runs as one space."""
    # A 128-bit digest instead of the text: a million keys take ~100 MB less; a collision is 2^-64 unlikely.
    return hashlib.blake2b(" ".join(text.casefold().split()).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def matching_rule(spec: DataSpec) -> str:
    """When two rows are copies of one text, in words (the data report's ``matching_rule``)."""
    cfg = spec.normalizer
    steps = [
        name
        for name, on in (
            ("escape repair", cfg.repair_escapes),
            ("Unicode NFC", cfg.unicode_nfc),
            ("zero-width characters removed", cfg.strip_zero_width),
            (f"links masked as {cfg.url_token}", cfg.mask_urls),
            (f"@handles masked as {cfg.user_token}", cfg.mask_users),
            (f"runs of {cfg.user_placeholder} collapsed", cfg.collapse_user_runs),
            ("lowercased", cfg.lowercase),
        )
        if on
    ]
    order = " > ".join(spec.dedupe_order())
    return (
        f"texts are equal after data.normalizer ({', '.join(steps) or 'no steps'}), then casefolded with every "
        f"whitespace run as one space; the first copy is kept in the order {order} (within a split: file "
        f"order), later copies are duplicates (same split) or leakage (another split)"
    )


def _label_text(raw: Any) -> str:
    return "|".join(raw) if isinstance(raw, tuple) else str(raw)


def _same_label(a: Any, b: Any) -> bool:
    return set(a) == set(b) if isinstance(a, tuple) and isinstance(b, tuple) else bool(a == b)


@dataclass
class Overlaps:
    """What :func:`dedupe` found per split and kind (``duplicate``/``leakage``): copies, drops, label conflicts."""

    found: dict[str, dict[str, int]]
    dropped: dict[str, dict[str, int]]
    conflicts: dict[str, dict[str, int]]
    examples: list[dict[str, Any]]

    def note(self, split: str, kind: str, rows: SplitRows, i: int, kept: tuple[str, Any]) -> None:
        self.found[split][kind] = self.found[split].get(kind, 0) + 1
        if _same_label(rows.raw_labels[i], kept[1]):
            return
        self.conflicts[split][kind] = self.conflicts[split].get(kind, 0) + 1
        if len(self.examples) < _EXAMPLES:
            where = rows.where(i)
            self.examples.append(
                {
                    "split": split,
                    "kind": kind,
                    "id": rows.ids[i],
                    "where": f"{where['file']} row {where['row']} (line {where['line']})",
                    "label": _label_text(rows.raw_labels[i]),
                    "kept_split": kept[0],
                    "kept_label": _label_text(kept[1]),
                }
            )


def dedupe(splits: dict[str, SplitRows], spec: DataSpec) -> Overlaps:
    """Apply ``data.on_duplicate`` (within a split) and ``data.on_leakage`` (across splits).

    Splits are visited in :meth:`DataSpec.dedupe_order`; the first copy of a text is kept and every
    later one is counted (``found``), dropped or an error by the policy, and counted as a conflict
    when its label differs from the kept copy's.
    """
    out = Overlaps({s: {} for s in splits}, {s: {} for s in splits}, {s: {} for s in splits}, [])
    # Text key -> (split, raw label) of its kept copy; the pairs are shared (a handful), not one per row.
    kept_copy: dict[bytes, tuple[str, Any]] = {}
    leakage = spec.leakage_policy()
    for split in spec.dedupe_order():
        rows = splits[split]
        pairs: dict[Any, tuple[str, Any]] = {}
        policies = {"duplicate": spec.duplicate_policy(split), "leakage": leakage}
        kept = []
        keys = rows.keys if rows.keys is not None else [dedupe_key(text) for text in rows.texts]
        for i, key in enumerate(keys):
            first = kept_copy.get(key)
            if first is None:
                raw = rows.raw_labels[i]
                kept_copy[key] = pairs.get(raw) or pairs.setdefault(raw, (split, raw))
                kept.append(i)
                continue
            kind = "duplicate" if first[0] == split else "leakage"
            out.note(split, kind, rows, i, first)
            if policies[kind] == "fail":
                what = (
                    f"duplicate text within split {split}" if kind == "duplicate" else f"text also in split {first[0]}"
                )
                raise DataError(f"{what} (data.on_{kind}=fail)", column=spec.text_column, **rows.where(i))
            if policies[kind] == "drop":
                out.dropped[split][kind] = out.dropped[split].get(kind, 0) + 1
                continue
            kept.append(i)
        if len(kept) != len(rows):
            splits[split] = rows.take(kept)
    return out


# -- splitting ---------------------------------------------------------------------------------------
def _stratum(raw_label: Any, lang: str) -> str:
    label = "|".join(sorted(raw_label)) if isinstance(raw_label, tuple) else raw_label
    return f"{lang}\t{label}"


def carve_keys(rows: SplitRows) -> list[str]:
    """Strata for validation_from_train: language and label; a multi-label row by its rarest label."""
    if not rows.raw_labels or not isinstance(rows.raw_labels[0], tuple):
        return [_stratum(raw, lang) for raw, lang in zip(rows.raw_labels, rows.langs, strict=True)]
    counts: Counter[str] = Counter()
    for raw, n in Counter(rows.raw_labels).items():
        for name in raw:
            counts[name] += n
    rarest = {raw: min(raw, key=lambda name: (counts[name], name)) if raw else "" for raw in set(rows.raw_labels)}
    return [f"{lang}\t{rarest[raw]}" for raw, lang in zip(rows.raw_labels, rows.langs, strict=True)]


def stratum_keys(rows: SplitRows) -> list[str]:
    """Strata for ratio and k-fold splits: language and label (multi-label: the label set)."""
    return [_stratum(raw, lang) for raw, lang in zip(rows.raw_labels, rows.langs, strict=True)]


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


def holdout_split(keys: Sequence[str], share: float, seed: int) -> dict[str, list[int]]:
    """``share`` of the rows (rounded) as validation, the rest train; stratified by ``keys``.

    Each stratum gives ``floor(n * share)`` rows; the rows still missing from the rounded total come
    from the strata with the largest remainders. A stratum always keeps a row in train.
    """
    shuffled: dict[str, list[int]] = {}
    taken: dict[str, int] = {}
    remainders: list[tuple[float, str]] = []
    for stratum, indices in _strata(keys).items():
        rng = random.Random(f"{seed}:validation_from_train:{stratum}")
        shuffled[stratum] = list(indices)
        rng.shuffle(shuffled[stratum])
        exact = len(indices) * share
        taken[stratum] = int(exact)
        remainders.append((exact - int(exact), stratum))
    missing = round(len(keys) * share) - sum(taken.values())
    for _, stratum in sorted(remainders, key=lambda r: (-r[0], r[1])):
        if missing <= 0:
            break
        if taken[stratum] + 1 < len(shuffled[stratum]):
            taken[stratum] += 1
            missing -= 1
    validation = sorted(i for stratum, rows in shuffled.items() for i in rows[: taken[stratum]])
    chosen = set(validation)
    return {"train": [i for i in range(len(keys)) if i not in chosen], "validation": validation}


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
