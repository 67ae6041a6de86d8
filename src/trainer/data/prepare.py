"""From a :class:`DataSpec` to validated, normalised, split and labelled examples plus a report.

Every problem in the input ends here, before any model is built, in one :class:`DataError` that names
the file, row and column. Nothing is dropped silently: each dropped row is counted in the report.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainer.data.labels import LabelMap, build_label_map, encode_targets
from trainer.data.normalize import NORMALIZER_VERSION, normalize_text
from trainer.data.reader import DataError, RawTable, read_table
from trainer.data.report import DataReport, build_report
from trainer.data.spec import SPLITS, DataSpec, FileSource
from trainer.data.splits import kfold_split, ratio_split

_BINARY_VALUES = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "true": 1.0, "false": 0.0}


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


@dataclass
class PreparedData:
    spec: DataSpec
    label_map: LabelMap
    splits: dict[str, list[Example]]
    report: DataReport
    digest: str
    file_digests: dict[str, str] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        return sorted({e.lang for rows in self.splits.values() for e in rows})

    def split_digest(self, split: str) -> str:
        """Content hash of one processed split (what the model actually saw)."""
        h = hashlib.sha256()
        for e in self.splits[split]:
            h.update(json.dumps([e.id, e.text, e.lang, e.label], ensure_ascii=False).encode())
        return h.hexdigest()


def _hash_path(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _cell_text(table: RawTable, index: int, column: str) -> str:
    value = table.rows[index].get(column)
    if value is None or (isinstance(value, float) and value != value):
        raise DataError(
            "empty cell (no value)", file=table.source, row=index + 1, column=column, line=table.lines[index]
        )
    if not isinstance(value, str | int | float | bool):
        raise DataError(
            f"expected text, found {type(value).__name__}",
            file=table.source,
            row=index + 1,
            column=column,
            line=table.lines[index],
        )
    return str(value)


def _examples(
    table: RawTable, spec: DataSpec, split_key: str, source: FileSource, id_prefix: str = ""
) -> tuple[list[Example], int]:
    needed = [spec.text_column]
    needed += [spec.label_column] if spec.label_column else list(spec.label_columns)
    needed += [c for c in (spec.language_column, spec.id_column) if c]
    table.require_columns(needed, "data.text_column/label_column(s)/language_column/id_column")
    out: list[Example] = []
    empty = 0
    for i, row in enumerate(table.rows):
        where: dict[str, Any] = {"file": table.source, "row": i + 1, "line": table.lines[i]}
        value = row.get(spec.text_column)
        if value is not None and not isinstance(value, str):
            raise DataError(f"expected text, found {type(value).__name__} {value!r}", column=spec.text_column, **where)
        text = normalize_text(value or "", spec.normalizer)
        if not text:
            if spec.on_empty_text == "fail":
                raise DataError(
                    "empty text (set data.on_empty_text=drop to drop and count such rows)",
                    column=spec.text_column,
                    **where,
                )
            empty += 1
            continue
        raw_label: Any
        if spec.task == "multilabel" and spec.label_columns:
            positives = []
            for col in spec.label_columns:
                cell = _cell_text(table, i, col).strip().lower()
                if cell not in _BINARY_VALUES:
                    raise DataError(f"multi-label value must be 0 or 1, found {cell!r}", column=col, **where)
                if _BINARY_VALUES[cell] == 1.0:
                    positives.append(spec.label_names.get(col, col))
            raw_label = tuple(positives)
        elif spec.task == "multilabel":
            assert spec.label_column and spec.label_delimiter  # checked by DataSpec.validate
            cell = _cell_text(table, i, spec.label_column)
            parts = [p.strip() for p in cell.split(spec.label_delimiter) if p.strip()]
            raw_label = tuple(spec.label_name(p) for p in parts)
        else:
            assert spec.label_column
            cell = _cell_text(table, i, spec.label_column).strip()
            if not cell:
                raise DataError("empty label", column=spec.label_column, **where)
            if cell.endswith(".0") and cell[:-2].lstrip("-").isdigit():
                cell = cell[:-2]  # 1.0 from a float column is the label "1"
            raw_label = spec.label_name(cell)
        lang = source.language or spec.language or "und"
        if spec.language_column:
            lang = str(row.get(spec.language_column) or "").strip().lower() or "und"
        ident = id_prefix + (str(row[spec.id_column]) if spec.id_column else f"{split_key}-{i + 1}")
        out.append(Example(ident, text, lang, raw_label, table.source, i + 1, table.lines[i]))
    return out, empty


def _stratum(e: Example) -> str:
    label = "|".join(sorted(e.raw_label)) if isinstance(e.raw_label, tuple) else e.raw_label
    return f"{e.lang}\t{label}"


def _encode_labels(splits: dict[str, list[Example]], spec: DataSpec, label_map: LabelMap) -> None:
    column = spec.label_column or ",".join(spec.label_columns)
    for split, rows in splits.items():
        hint = f" of the training data (split {split}; map names with data.label_names)"
        for e, target in zip(rows, encode_targets(rows, label_map, column=column, hint=hint), strict=True):
            e.label = target


def _check_train_support(train: list[Example], spec: DataSpec, label_map: LabelMap) -> None:
    counts = {n: 0 for n in label_map.names}
    for e in train:
        for v in e.raw_label if isinstance(e.raw_label, tuple) else (e.raw_label,):
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


def _dedupe(splits: dict[str, list[Example]], spec: DataSpec) -> dict[str, dict[str, int]]:
    dropped: dict[str, dict[str, int]] = {s: {} for s in splits}
    seen_before: dict[str, str] = {}
    for split in SPLITS:
        rows = splits.get(split, [])
        kept, seen = [], set()
        for e in rows:
            key = " ".join(e.text.casefold().split())
            if key in seen:
                if spec.on_duplicate == "fail":
                    raise DataError(
                        f"duplicate text within split {split} (data.on_duplicate=fail)",
                        file=e.source,
                        row=e.row,
                        column=spec.text_column,
                        line=e.line,
                    )
                if spec.on_duplicate == "drop":
                    dropped[split]["duplicate"] = dropped[split].get("duplicate", 0) + 1
                    continue
            elif key in seen_before:
                if spec.on_leakage == "fail":
                    raise DataError(
                        f"text also in split {seen_before[key]} (data.on_leakage=fail)",
                        file=e.source,
                        row=e.row,
                        column=spec.text_column,
                        line=e.line,
                    )
                if spec.on_leakage == "drop":
                    dropped[split]["leakage"] = dropped[split].get("leakage", 0) + 1
                    continue
            seen.add(key)
            kept.append(e)
        for key in seen:
            seen_before.setdefault(key, split)
        splits[split] = kept
    return dropped


def _read_split(spec: DataSpec, key: str, split: str | None) -> tuple[list[Example], int, str]:
    """Examples of ``files[key]`` (several files are concatenated in order), empty rows, digest."""
    sources = spec.sources(key)
    rows: list[Example] = []
    empty = 0
    digests = []
    for source in sources:
        path = Path(source.path).expanduser()
        table = read_table(path, spec.format, spec.encoding, spec.csv_delimiter, split)
        digests.append(_hash_path(path))
        # Row ids of several files get the file's name, so they stay unique and traceable.
        prefix = f"{path.stem}:" if len(sources) > 1 else ""
        examples, n_empty = _examples(table, spec, key, source, prefix)
        rows += examples
        empty += n_empty
    digest = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
    return rows, empty, digest


def prepare_data(spec: DataSpec) -> PreparedData:
    """Read, validate, normalise, split, label and report ``spec``. Raises DataError on bad input."""
    spec.validate()
    file_digests: dict[str, str] = {}
    dropped: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    splits: dict[str, list[Example]] = {}
    if spec.split.strategy == "files":
        for split in SPLITS:
            splits[split], empty, file_digests[split] = _read_split(spec, split, split)
            if empty:
                dropped[split]["empty_text"] = empty
    else:
        key = "all" if "all" in spec.files else "train"
        # files.all: an hf_disk DatasetDict must hold one split (which); files.train: its "train" split.
        rows, empty, file_digests[key] = _read_split(spec, key, None if key == "all" else "train")
        if empty:
            dropped["train"]["empty_text"] = empty
        keys = [_stratum(e) for e in rows]
        s = spec.split
        idx = (
            ratio_split(keys, s.ratios, s.seed) if s.strategy == "ratio" else kfold_split(keys, s.folds, s.fold, s.seed)
        )
        splits = {name: [rows[i] for i in idx[name]] for name in SPLITS}

    train_values = [e.raw_label for e in splits["train"]]
    multilabel_names: tuple[str, ...] = ()
    if spec.task == "multilabel":
        multilabel_names = (
            tuple(spec.label_names.get(c, c) for c in spec.label_columns)
            if spec.label_columns
            else tuple(sorted({v for t in train_values for v in t}))
        )
    try:
        label_map = build_label_map(spec.task, train_values, spec.positive_label, multilabel_names)
    except ValueError as err:
        raise DataError(
            str(err), file=spec.files.get("train") or spec.files.get("all"), column=spec.label_column
        ) from None
    _check_train_support(splits["train"], spec, label_map)
    _encode_labels(splits, spec, label_map)
    for split, reasons in _dedupe(splits, spec).items():
        for reason, n in reasons.items():
            dropped[split][reason] = dropped[split].get(reason, 0) + n
    for split, limit in spec.max_samples.items():
        if len(splits[split]) > limit:
            rng = random.Random(f"{spec.split.seed}:max_samples:{split}")
            keep = sorted(rng.sample(range(len(splits[split])), limit))
            dropped[split]["max_samples"] = len(splits[split]) - limit
            splits[split] = [splits[split][i] for i in keep]

    h = hashlib.sha256(
        json.dumps(
            {
                "spec": {k: v for k, v in asdict(spec).items() if k not in ("name", "files")},
                "files": file_digests,
                "normalizer_version": NORMALIZER_VERSION,
            },
            sort_keys=True,
            default=str,
        ).encode()
    )
    report = build_report(spec, label_map, splits, dropped)
    return PreparedData(spec, label_map, splits, report, h.hexdigest(), file_digests)
