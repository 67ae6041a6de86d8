"""Typed description of a dataset, built from ``configs/data/*.yaml``.

Every field is a config key under ``data.``; :func:`data_spec_from_dict` rejects unknown keys by name
so a typo in a YAML file fails before anything is read.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainer.data.normalize import NormalizerConfig

TaskType = Literal["binary", "multiclass", "multilabel"]
Policy = Literal["keep", "drop", "fail"]
SPLITS = ("train", "validation", "test")
FORMATS = ("csv", "jsonl", "parquet", "hf_disk", "fasttext", "text_files")
# Keys whose value is text (a column, a label, a language): YAML turns an unquoted no/yes/0 into a bool/int.
_TEXT_KEYS = (
    "text_column",
    "label_column",
    "label_delimiter",
    "positive_label",
    "id_column",
    "language_column",
    "language",
    "csv_delimiter",
)
# How YAML 1.1 spells the values it reads as booleans or null (for the "quote it" hint).
_YAML_SPELLINGS = {True: ("yes", "true/on/y"), False: ("no", "false/off/n"), None: ("null", "~")}

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config value is wrong; the message names the key."""


@dataclass(frozen=True)
class SplitConfig:
    """How rows become train/validation/test.

    ``files``: each split has its own file (``DataSpec.files``). With ``validation_from_train`` (a
    share in (0, 1)) there is no validation file: that share of the train file becomes validation,
    seeded and stratified (language and label; multi-label rows by their rarest label), while the
    published test file is kept as it is.
    ``ratio``: one file (``files.all`` or ``files.train``) split by seeded stratified ratios.
    ``kfold``: one file split into ``folds`` stratified folds; fold ``fold`` is test, the next is
    validation, the rest is train.
    """

    strategy: Literal["files", "ratio", "kfold"] = "files"
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    folds: int = 5
    fold: int = 0
    seed: int = 13
    validation_from_train: float | None = None

    def check(self, files: dict[str, Any]) -> None:
        """Refuse splits that would be empty or files a strategy would not read; ConfigError naming the key."""
        if self.strategy not in ("files", "ratio", "kfold"):
            raise ConfigError(f"data.split.strategy={self.strategy!r} must be files, ratio or kfold")
        if self.validation_from_train is not None:
            self._check_carve(files)
        elif self.strategy == "files":
            missing = [s for s in SPLITS if s not in files]
            if missing:
                raise ConfigError(
                    f"data.files is missing {missing} (split.strategy=files needs all three; without a "
                    "validation file set data.split.validation_from_train, e.g. 0.1)"
                )
        if self.strategy == "files":
            return
        if not ({"all", "train"} & set(files)):
            raise ConfigError(f"data.files.all is required for split.strategy={self.strategy}")
        published = [k for k in ("validation", "test") if k in files]
        if self.strategy == "ratio":
            if published:
                raise ConfigError(
                    f"data.files.{published[0]} is set, but split.strategy=ratio splits one file into all three "
                    "splits and would not read it; to keep a published test file use split.strategy=files "
                    "with split.validation_from_train (e.g. 0.1)"
                )
            self._check_ratios()
        else:
            if published:  # trainer.kfold over a data config that also names published splits
                log.warning("split.strategy=kfold splits one file; data.files.%s is not read", "/".join(published))
            if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 3:
                raise ConfigError(
                    f"data.split.folds={self.folds!r} must be an integer >= 3 (one fold is test, the next "
                    "validation, the rest train: fewer folds leave train empty)"
                )
            if not 0 <= self.fold < self.folds:
                raise ConfigError(f"data.split.fold={self.fold} is outside 0..{self.folds - 1}")

    def _check_ratios(self) -> None:
        ratios = list(self.ratios)
        numbers = all(isinstance(r, int | float) and not isinstance(r, bool) for r in ratios)
        if len(ratios) != 3 or not numbers:
            raise ConfigError(f"data.split.ratios={ratios} must be three numbers [train, validation, test]")
        empty = [name for name, r in zip(SPLITS, ratios, strict=True) if r <= 0]
        if empty:
            raise ConfigError(
                f"data.split.ratios={ratios} leaves split(s) {empty} empty: every share must be > 0 "
                "(to keep a published test file, use split.strategy=files with split.validation_from_train)"
            )
        if abs(sum(ratios) - 1.0) > 1e-6:
            raise ConfigError(f"data.split.ratios must sum to 1, got {ratios} (sum {sum(ratios):g})")

    def _check_carve(self, files: dict[str, Any]) -> None:
        share = self.validation_from_train
        if self.strategy != "files":
            raise ConfigError(
                f"data.split.validation_from_train is for split.strategy=files (train + test files), "
                f"not {self.strategy}: ratio and kfold make the validation split themselves"
            )
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
            raise ConfigError(f"data.split.validation_from_train={share!r} must be a share between 0 and 1, e.g. 0.1")
        if "validation" in files:
            raise ConfigError(
                "data.split.validation_from_train is set and data.files.validation too: use the validation file "
                "(unset validation_from_train) or carve it from train (remove files.validation)"
            )
        missing = [s for s in ("train", "test") if s not in files]
        if missing:
            raise ConfigError(f"data.files is missing {missing} (split.validation_from_train needs train and test)")


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
    format: Literal["csv", "jsonl", "parquet", "hf_disk", "fasttext", "text_files"] = "csv"
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
    # None: the default of the strategy (duplicate_policy / leakage_policy): published test files
    # (split.strategy=files) keep every row; splits made here drop copies.
    on_duplicate: Policy | None = None
    on_leakage: Policy | None = None
    on_empty_text: Literal["drop", "fail"] = "fail"
    on_empty_label: Literal["drop", "fail"] = "fail"
    max_samples: dict[str, int] = field(default_factory=dict)
    # format=text_files: each row of the metadata file(s) in ``files`` names its text file by
    # ``id_column``: ``text_dir / file_pattern.format(id=<id>)``.
    text_dir: str | None = None
    file_pattern: str = "{id}.txt"

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

    def duplicate_policy(self, split: str) -> str:
        """``on_duplicate`` for ``split``; unset: keep within a published test file, else drop."""
        if self.on_duplicate is not None:
            return self.on_duplicate
        return "keep" if self.split.strategy == "files" and split == "test" else "drop"

    def leakage_policy(self) -> str:
        """``on_leakage``; unset: keep (and count) with published files, drop for splits made here."""
        if self.on_leakage is not None:
            return self.on_leakage
        return "keep" if self.split.strategy == "files" else "drop"

    def dedupe_order(self) -> tuple[str, ...]:
        """Splits in the order their copies are kept: a text's copy in a later split is the duplicate.

        Published files keep the test copy (then validation): dropping leakage costs the training
        side, never the test file. Splits made here keep the train copy, as they always did.
        """
        return ("test", "validation", "train") if self.split.strategy == "files" else SPLITS

    def validate(self) -> None:
        """Check combinations the type system cannot; raise ConfigError naming the key."""
        if self.task == "multilabel":
            by_column = self.label_column and (self.label_delimiter or self.format == "fasttext")
            if not self.label_columns and not by_column:
                raise ConfigError(
                    "data.label_columns (a list of 0/1 columns) or data.label_column with "
                    "data.label_delimiter is required for task=multilabel"
                )
        elif not self.label_column:
            raise ConfigError(f"data.label_column is required for task={self.task}")
        self._check_choices()
        self._check_format()
        self.split.check(self.files)
        for key in self.files:
            self.sources(key)
        unknown = set(self.max_samples) - set(SPLITS)
        if unknown:
            raise ConfigError(f"data.max_samples has unknown split(s) {sorted(unknown)}")

    def _check_choices(self) -> None:
        choices: list[tuple[str, Any, tuple[Any, ...]]] = [
            ("format", self.format, FORMATS),
            ("on_duplicate", self.on_duplicate, (None, "keep", "drop", "fail")),
            ("on_leakage", self.on_leakage, (None, "keep", "drop", "fail")),
            ("on_empty_text", self.on_empty_text, ("drop", "fail")),
            ("on_empty_label", self.on_empty_label, ("drop", "fail")),
        ]
        for key, value, allowed in choices:
            if value not in allowed:
                raise ConfigError(f"data.{key}={value!r} must be one of {[a for a in allowed if a is not None]}")

    def _check_format(self) -> None:
        if self.format == "fasttext":
            extra = [k for k in ("label_columns", "id_column", "language_column") if getattr(self, k)]
            if extra:
                raise ConfigError(
                    f"data.{extra[0]} does not apply to format=fasttext: a line holds __label__ values and "
                    "text only (they become data.label_column and data.text_column)"
                )
        if self.format != "text_files":
            if self.text_dir is not None:
                raise ConfigError(f"data.text_dir is for format=text_files, not {self.format}")
            return
        if not self.text_dir or not self.id_column:
            raise ConfigError(
                "format=text_files needs data.text_dir (the folder of text files) and data.id_column "
                "(the metadata column naming each row's file)"
            )
        fields = [f for _, f, _, _ in string.Formatter().parse(self.file_pattern) if f is not None]
        if fields != ["id"]:
            raise ConfigError(f'data.file_pattern={self.file_pattern!r} must hold {{id}} once, e.g. "{{id}}.txt"')


def yaml_text(value: Any, key: str, example: str | None = None) -> str:
    """``value`` as config text; a bool/None/float that YAML made of an unquoted word is a ConfigError.

    YAML 1.1 reads ``no``, ``off``, ``yes``, ``on`` as booleans and ``~``/``null`` as None, so
    ``label_names: {no: no_hate}`` arrives keyed by ``False``. Integers map to their digits (``0`` -> ``"0"``).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool) or value is None:
        word, others = _YAML_SPELLINGS[value]
        shown = example or f'"{word}"'
        raise ConfigError(
            f"{key} is {value!r}, not text: YAML reads an unquoted {word} ({others}) as {value!r}; "
            f"quote it as written in the data, e.g. {shown}"
        )
    raise ConfigError(f"{key} is {value!r} ({type(value).__name__}), not text: quote it as written in the data")


def _label_names(values: dict[Any, Any], prefix: str) -> dict[str, str]:
    """``label_names`` with text keys and names; a key YAML turned into a bool/None/float fails saying to quote it."""
    out: dict[str, str] = {}
    for key, name in values.items():
        shown = name if isinstance(name, str) else "<name>"
        if isinstance(key, bool) or key is None or not isinstance(key, str | int):
            spelled = isinstance(key, bool) or key is None  # (1.0 == True: look up only real booleans)
            word, others = _YAML_SPELLINGS[key] if spelled else (str(key), "")
            read_as = f"YAML reads an unquoted {word} ({others}) as {key!r}" if others else "a number with a point"
            raise ConfigError(
                f"{prefix}.label_names has the key {key!r}, not text ({read_as}): quote the key as written "
                f'in the data, e.g. "{word}": {shown}'
            )
        text = str(key)
        if text in out:
            raise ConfigError(
                f"{prefix}.label_names names {text!r} twice (once unquoted, read as a number): "
                f'quote the keys, e.g. "{text}": {shown}'
            )
        out[text] = yaml_text(name, f"{prefix}.label_names.{text}", f'"{text}": "{name}"')
    return out


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
            value = tuple(yaml_text(v, f"{prefix}.label_columns[{i}]") for i, v in enumerate(value))
        elif key == "label_names" and value is not None:
            value = _label_names(dict(value), prefix)
        elif key in ("files", "max_samples") and value is not None:
            value = {str(k): v for k, v in dict(value).items()}
        elif key in _TEXT_KEYS and value is not None:
            value = yaml_text(value, f"{prefix}.{key}")
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
