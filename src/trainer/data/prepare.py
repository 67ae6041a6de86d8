"""From a :class:`DataSpec` to validated, normalised, split and labelled examples plus a report.

Every problem in the input ends here, before any model is built, in one :class:`DataError` that names
the file, row and column. Nothing is dropped silently: each dropped row is counted in the report.

Rows are held as columns (:class:`~trainer.data.splits.SplitRows`), never as one object per row; a
CSV file is streamed (only the needed columns are kept, and any irregularity hands the file to
:func:`~trainer.data.reader.read_table`, whose checks and messages are the only ones); :mod:`trainer.data.file_rows` checks each
file's rows and normalises their texts (in worker processes when there are many). :mod:`trainer.data.prepared_cache` skips all of
this when the same files, config and normaliser were prepared before. Reading each format into
columns is :mod:`trainer.data.formats`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from trainer.data.file_rows import EmptyLabels, file_rows
from trainer.data.formats import FileColumns, data_digest, read_source, source_digests
from trainer.data.labels import LabelMap, build_label_map, encode_targets, mapping_hint
from trainer.data.reader import DataError
from trainer.data.report import DataReport, build_report
from trainer.data.spec import SPLITS, DataSpec
from trainer.data.splits import (
    Example,
    SplitRows,
    carve_keys,
    dedupe,
    holdout_split,
    kfold_split,
    ratio_split,
    stratum_keys,
)

__all__ = ["Example", "FileColumns", "PreparedData", "SplitRows", "data_digest", "prepare_data", "source_digests"]


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


# -- reading, checking and labelling ------------------------------------------------------------------
def _needed_columns(spec: DataSpec) -> list[str]:
    needed = [spec.text_column]
    needed += [spec.label_column] if spec.label_column else list(spec.label_columns)
    return needed + [c for c in (spec.language_column, spec.id_column) if c]


def _carve_validation(splits: dict[str, SplitRows], spec: DataSpec) -> None:
    """``split.validation_from_train`` of the (deduplicated) train rows become validation."""
    share = spec.split.validation_from_train
    assert share is not None
    train = splits["train"]
    picked = holdout_split(carve_keys(train), share, spec.split.seed)
    if not picked["validation"]:
        raise DataError(
            f"data.split.validation_from_train={share} of {len(train)} training rows is no row: "
            "raise the share or add a validation file",
            file=spec.files["train"],
        )
    splits["validation"] = train.take(picked["validation"])
    splits["train"] = train.take(picked["train"])


def _encode_labels(splits: dict[str, SplitRows], spec: DataSpec, label_map: LabelMap) -> None:
    column = spec.label_column or ",".join(spec.label_columns)
    for split, rows in splits.items():
        of = f"the training data (split {split})"
        hint = mapping_hint(rows.raw_labels, label_map.names, {}, key="data.label_names", target="a label", of=of)
        rows.labels = encode_targets(rows, label_map, column=column, hint=hint)


def _check_train_support(train: SplitRows, spec: DataSpec, label_map: LabelMap) -> None:
    counts = {n: 0 for n in label_map.names}
    for raw in train.raw_labels:
        for v in raw if isinstance(raw, tuple) else (raw,):
            counts[v] = counts.get(v, 0) + 1
    declared = set(spec.label_names.values()) if spec.task != "multilabel" else set(label_map.names)
    missing = sorted(n for n in declared if counts.get(n, 0) == 0)
    if missing:
        keys = sorted(k for k, v in spec.label_names.items() if v in missing and k != "*")
        why = f" (no training row has the raw label(s) {keys} that data.label_names maps to them)" if keys else ""
        where = spec.files.get("train") or spec.files.get("all")
        raise DataError(
            f"class(es) {missing} have zero training examples{why}",
            file=where,
            column=spec.label_column or ",".join(spec.label_columns),
        )


def _read_split(spec: DataSpec, key: str, split: str | None, empty: EmptyLabels) -> SplitRows:
    """Rows of ``files[key]`` (several files are concatenated in order); ``dropped_empty``: rows without text."""
    sources = spec.sources(key)
    parts = []
    for source in sources:
        path = Path(source.path).expanduser()
        cols = read_source(path, spec, split, _needed_columns(spec))
        # Row ids of several files get the file's name, so they stay unique and traceable.
        prefix = f"{path.stem}:" if len(sources) > 1 else ""
        parts.append(file_rows(cols, spec, key, source, empty, prefix))
        del cols  # the raw cells of one file at a time
    rows = SplitRows.concat(parts)
    rows.dropped_empty = sum(p.dropped_empty for p in parts)
    return rows


def _read_splits(spec: DataSpec, dropped: dict[str, dict[str, int]]) -> dict[str, SplitRows]:
    """Every split's rows; rows without text or label are counted in ``dropped`` (before splitting: train)."""
    empty = EmptyLabels()
    if spec.split.strategy == "files":
        splits = {s: _read_split(spec, s, s, empty) for s in SPLITS if s in spec.files}
        if "validation" not in splits:  # split.validation_from_train: carved after dedupe
            splits["validation"] = SplitRows.empty(splits["train"].sources)
    else:
        key = "all" if "all" in spec.files else "train"
        # files.all: an hf_disk DatasetDict must hold one split (which); files.train: its "train" split.
        splits = {"train": _read_split(spec, key, None if key == "all" else "train", empty)}
    empty.check(spec)
    for split, rows in splits.items():
        for reason, n in (("empty_text", rows.dropped_empty), ("empty_label", empty.counts.get(split, 0))):
            if n:
                dropped[split][reason] = n
    if spec.split.strategy == "files":
        return {s: splits[s] for s in SPLITS}
    rows = splits["train"]
    keys = stratum_keys(rows)
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


def _apply_max_samples(splits: dict[str, SplitRows], spec: DataSpec, dropped: dict[str, dict[str, int]]) -> None:
    for split, limit in spec.max_samples.items():
        if len(splits[split]) > limit:
            rng = random.Random(f"{spec.split.seed}:max_samples:{split}")
            keep = sorted(rng.sample(range(len(splits[split])), limit))
            dropped[split]["max_samples"] = len(splits[split]) - limit
            splits[split] = splits[split].take(keep)


def require_rows(data: PreparedData) -> None:
    """A DataError naming the first empty split: training needs rows in all three.

    :func:`prepare_data` allows an empty validation or test split (evaluation may read a test-only
    file); :func:`trainer.data.prepared_cache.prepare_data_cached`, the training path, calls this
    before anything is cached or a model is loaded.
    """
    for split, rows in data.splits.items():
        if not len(rows):
            dropped = data.report.dropped.get(split) or "nothing"
            raise DataError(
                f"split {split} has no rows (split.strategy={data.spec.split.strategy}, dropped: {dropped}); "
                "training needs rows in train, validation and test: check data.files, data.split and the "
                "on_* policies"
            )


def prepare_data(spec: DataSpec) -> PreparedData:
    """Read, validate, normalise, split, label and report ``spec``. Raises DataError on bad input.

    :func:`trainer.data.prepared_cache.prepare_data_cached` caches the result under ``paths.cache_dir``: a
    later call with the same files, config and normaliser reads it back without parsing a row.
    """
    spec.validate()
    dropped: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    splits = _read_splits(spec, dropped)
    if not len(splits["train"]):
        raise DataError(f"no training rows left (dropped: {dropped['train']})", file=spec.files.get("train"))
    label_map = _label_map(spec, splits["train"])
    _check_train_support(splits["train"], spec, label_map)
    _encode_labels(splits, spec, label_map)
    overlaps = dedupe(splits, spec)
    for split, reasons in overlaps.dropped.items():
        for reason, n in reasons.items():
            dropped[split][reason] = dropped[split].get(reason, 0) + n
    if spec.split.validation_from_train is not None:
        _carve_validation(splits, spec)
    _apply_max_samples(splits, spec, dropped)
    report = build_report(spec, label_map, splits, dropped, overlaps)
    file_digests = source_digests(spec)  # after reading: a missing file is the reader's error, in file order
    return PreparedData(spec, label_map, splits, report, data_digest(spec, file_digests), file_digests)
