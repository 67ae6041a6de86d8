"""What an evaluation scores: its settings, the data read as the model reads it, and the gold targets.

The model decides how the data is read (its text normaliser) and which label names count (its label
map); ``label_mapping`` renames another dataset's gold labels onto the model's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from trainer.data import ConfigError, DataError, DataSpec, LabelMap, data_spec_from_dict
from trainer.data.labels import encode_targets, mapping_hint
from trainer.data.prepare import Example, PreparedData
from trainer.data.spec import SPLITS
from trainer.tracking.references import ModelRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateSettings:
    """Top-level keys of ``configs/evaluate.yaml`` besides model, data and tracking."""

    split: str = "test"
    # Gold label name in the data (after data.label_names) -> label name of the model.
    label_mapping: dict[str, str] = field(default_factory=dict)
    graph: str = "auto"
    batch_size: int = 32
    main_metric: str | None = None
    n_bins: int = 15
    link_to_model_run: str = "child"

    def __post_init__(self) -> None:
        if self.split not in (*SPLITS, "all"):
            raise ConfigError(f"split={self.split!r} must be one of {[*SPLITS, 'all']}")
        if self.link_to_model_run not in ("child", "tag"):
            raise ConfigError(f"link_to_model_run={self.link_to_model_run!r} must be child or tag")


def settings_from_config(cfg: dict[str, Any]) -> EvaluateSettings:
    keys = set(EvaluateSettings.__dataclass_fields__)
    return EvaluateSettings(**{k: v for k, v in cfg.items() if k in keys})


def data_spec_for(ref: ModelRef, data: DataSpec | None, model: str) -> DataSpec:
    """``data`` (None: the data the model was trained on), read with the model's text normaliser."""
    if data is None:
        if ref.train_data is None:
            raise ConfigError(f"data= is required: {ref.uri} is a bundle and does not carry its training data config")
        data = data_spec_from_dict(ref.train_data)
    if data.normalizer != ref.normalizer:
        log.info("reading %s with the model's text normaliser (the data config's differs)", data.name)
    if (data.task == "multilabel") != (ref.label_map.task == "multilabel"):
        raise ConfigError(f"data.task={data.task} cannot be scored by a {ref.label_map.task} model ({model})")
    # The model sees text exactly as it did in training, whatever the data config says.
    return replace(data, normalizer=ref.normalizer)


def split_rows(prepared: PreparedData, split: str) -> list[Example]:
    """The rows of ``split``; "all": every row of the data (a set the model never saw: a test-only file)."""
    rows = [e for s in SPLITS for e in prepared.splits[s]] if split == "all" else list(prepared.splits[split])
    if not rows:
        raise DataError(f"split {split} of data {prepared.spec.name} has no rows")
    return rows


def label_column(spec: DataSpec) -> str:
    return spec.label_column or ",".join(spec.label_columns)


def map_targets(rows: list[Example], label_map: LabelMap, mapping: dict[str, str], column: str) -> torch.Tensor:
    """Gold labels of ``rows`` in the model's label order; a label the model lacks fails naming its row."""
    names = set(label_map.names)
    wrong = {k: v for k, v in mapping.items() if v not in names}
    if wrong:
        key, value = next(iter(wrong.items()))
        raise ConfigError(f"label_mapping.{key}={value!r} is not a label of the model {list(label_map.names)}")
    targets = encode_targets(rows, label_map, column=column, mapping=mapping, hint=_mapping_hint(rows, names, mapping))
    return torch.tensor(targets, dtype=torch.float if label_map.task == "multilabel" else torch.long)


def _mapping_hint(rows: list[Example], names: set[str], mapping: dict[str, str]) -> str:
    """The end of the message for a gold label the model lacks: every ``+label_mapping`` key to set at once."""
    return mapping_hint([e.raw_label for e in rows], names, mapping)
