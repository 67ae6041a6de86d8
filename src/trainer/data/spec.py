"""Typed description of a dataset, built from ``configs/data/*.yaml``.

Every field is a config key under ``data.``; :func:`data_spec_from_dict` rejects unknown keys by name
so a typo in a YAML file fails before anything is read.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainer.data.normalize import NormalizerConfig

TaskType = Literal["binary", "multiclass", "multilabel"]
SPLITS = ("train", "validation", "test")


class ConfigError(ValueError):
    """A config value is wrong; the message names the key."""


@dataclass(frozen=True)
class SplitConfig:
    """How rows become train/validation/test.

    ``files``: each split has its own file (``DataSpec.files``).
    ``ratio``: one file (``files.all`` or ``files.train``) split by seeded stratified ratios.
    ``kfold``: one file split into ``folds`` stratified folds; fold ``fold`` is test, the next is
    validation, the rest is train.
    """

    strategy: Literal["files", "ratio", "kfold"] = "files"
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    folds: int = 5
    fold: int = 0
    seed: int = 13


@dataclass(frozen=True)
class FileSource:
    """One file of a split. ``language`` labels its rows when the file has no language column."""

    path: str
    language: str | None = None


@dataclass(frozen=True)
class DataSpec:
    name: str
    task: TaskType
    text_column: str
    # Split key (train/validation/test, or all) -> a path, or a list of paths / {path, language}
    # entries whose rows are concatenated in order (e.g. one file per language).
    files: dict[str, Any]
    format: Literal["csv", "jsonl", "parquet", "hf_disk"] = "csv"
    encoding: str = "utf-8"
    csv_delimiter: str = ","
    label_column: str | None = None
    label_columns: tuple[str, ...] = ()
    label_delimiter: str | None = None
    # Rename raw label values to readable names ({"0": "not_hs", "1": "hs"}); also how an
    # evaluation dataset's names are mapped onto a model's label map. The key "*" names every value
    # not listed ({"normal": "non_toxic", "*": "toxic"}).
    label_names: dict[str, str] = field(default_factory=dict)
    positive_label: str | None = None
    id_column: str | None = None
    language_column: str | None = None
    language: str | None = None
    split: SplitConfig = field(default_factory=SplitConfig)
    normalizer: NormalizerConfig = field(default_factory=NormalizerConfig)
    on_duplicate: Literal["keep", "drop", "fail"] = "drop"
    on_leakage: Literal["keep", "drop", "fail"] = "drop"
    on_empty_text: Literal["drop", "fail"] = "fail"
    max_samples: dict[str, int] = field(default_factory=dict)

    def sources(self, split_key: str) -> list[FileSource]:
        """The file(s) of ``files[split_key]``, in order."""
        value = self.files[split_key]
        entries = value if isinstance(value, list | tuple) else [value]
        out = []
        for i, entry in enumerate(entries):
            where = f"data.files.{split_key}" + (f"[{i}]" if isinstance(value, list | tuple) else "")
            if isinstance(entry, str | Path):
                out.append(FileSource(str(entry)))
            elif isinstance(entry, dict):
                out.append(build_dataclass(FileSource, dict(entry), where))
            else:
                raise ConfigError(f"{where} must be a path or a {{path, language}} mapping, got {entry!r}")
        if not out:
            raise ConfigError(f"data.files.{split_key} is an empty list")
        return out

    def resolve_path(self, split_key: str) -> Path:
        """The file of ``files[split_key]``; for several files, the folder that holds them all."""
        paths = [Path(s.path).expanduser() for s in self.sources(split_key)]
        if len(paths) == 1:
            return paths[0]
        return Path(os.path.commonpath([p.absolute() for p in paths]))

    def label_name(self, raw: str) -> str:
        """``label_names`` applied to one raw label value (``*`` for values not listed)."""
        return self.label_names.get(raw, self.label_names.get("*", raw))

    def validate(self) -> None:
        """Check combinations the type system cannot; raise ConfigError naming the key."""
        if self.task == "multilabel":
            if not self.label_columns and not (self.label_column and self.label_delimiter):
                raise ConfigError(
                    "data.label_columns (a list of 0/1 columns) or data.label_column with "
                    "data.label_delimiter is required for task=multilabel"
                )
        elif not self.label_column:
            raise ConfigError(f"data.label_column is required for task={self.task}")
        if self.split.strategy == "files":
            missing = [s for s in SPLITS if s not in self.files]
            if missing:
                raise ConfigError(f"data.files is missing {missing} (split.strategy=files needs all three)")
        elif not ({"all", "train"} & set(self.files)):
            raise ConfigError(f"data.files.all is required for split.strategy={self.split.strategy}")
        if self.split.strategy == "ratio" and abs(sum(self.split.ratios) - 1.0) > 1e-6:
            raise ConfigError(f"data.split.ratios must sum to 1, got {list(self.split.ratios)}")
        if self.split.strategy == "kfold" and not 0 <= self.split.fold < self.split.folds:
            raise ConfigError(f"data.split.fold={self.split.fold} is outside 0..{self.split.folds - 1}")
        for key in self.files:
            self.sources(key)
        unknown = set(self.max_samples) - set(SPLITS)
        if unknown:
            raise ConfigError(f"data.max_samples has unknown split(s) {sorted(unknown)}")


def build_dataclass(cls: type, values: dict[str, Any], prefix: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"unknown key(s) {[f'{prefix}.{k}' for k in unknown]}; allowed: {sorted(names)}")
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key == "split" and isinstance(value, dict):
            if "ratios" in value:
                value = {**value, "ratios": tuple(value["ratios"])}
            value = build_dataclass(SplitConfig, value, f"{prefix}.split")
        elif key == "normalizer" and isinstance(value, dict):
            value = build_dataclass(NormalizerConfig, value, f"{prefix}.normalizer")
        elif key == "label_columns" and value is not None:
            value = tuple(value)
        elif key in ("label_names", "files", "max_samples") and value is not None:
            value = {str(k): v for k, v in dict(value).items()}
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{prefix}: {err}") from err


def data_spec_from_dict(values: dict[str, Any], prefix: str = "data") -> DataSpec:
    """Build and validate a :class:`DataSpec` from a plain dict (e.g. ``OmegaConf.to_container``)."""
    spec = build_dataclass(DataSpec, dict(values), prefix)
    if spec.task not in ("binary", "multiclass", "multilabel"):
        raise ConfigError(f"{prefix}.task must be binary, multiclass or multilabel, got {spec.task!r}")
    spec.validate()
    return spec
