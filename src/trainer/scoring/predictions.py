"""Saved per-row predictions: what evaluation, bootstrap confidence intervals and comparison read.

One CSV per split: ``id, lang, gold, pred`` and one ``score:<label>`` column per label. Multi-label
gold/pred cells join the positive label names with ``|``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainer.data.labels import LabelMap
from trainer.scoring.metrics import predict_labels


def _names(row: torch.Tensor, label_map: LabelMap) -> str:
    if label_map.task == "multilabel":
        return "|".join(n for n, v in zip(label_map.names, row.tolist(), strict=True) if v >= 0.5)
    return label_map.names[int(row)]


def write_predictions(
    path: Path,
    ids: Sequence[str],
    langs: Sequence[str],
    targets: torch.Tensor,
    probs: torch.Tensor,
    label_map: LabelMap,
    thresholds: Sequence[float] | None,
) -> None:
    preds = predict_labels(probs, label_map, thresholds)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "lang", "gold", "pred", *[f"score:{n}" for n in label_map.names]])
        for i, ident in enumerate(ids):
            writer.writerow(
                [
                    ident,
                    langs[i],
                    _names(targets[i], label_map),
                    _names(preds[i], label_map),
                    *[f"{p:.9g}" for p in probs[i].tolist()],
                ]
            )  # .9g: float32 round-trips exactly


@dataclass
class Predictions:
    ids: list[str]
    langs: list[str]
    targets: torch.Tensor
    probs: torch.Tensor


def read_predictions(path: Path, label_map: LabelMap) -> Predictions:
    """Read a file written by :func:`write_predictions` back into tensors (label-map order)."""
    index = label_map.label2id
    ids: list[str] = []
    langs: list[str] = []
    targets: list[Any] = []
    probs: list[list[float]] = []
    with Path(path).open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [f"score:{n}" for n in label_map.names if f"score:{n}" not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: columns {missing} missing; the file does not match labels {label_map.names}")
        for row in reader:
            ids.append(row["id"])
            langs.append(row["lang"])
            if label_map.task == "multilabel":
                vec = [0.0] * label_map.num_labels
                for name in filter(None, row["gold"].split("|")):
                    vec[index[name]] = 1.0
                targets.append(vec)
            else:
                targets.append(index[row["gold"]])
            probs.append([float(row[f"score:{n}"]) for n in label_map.names])
    dtype = torch.float if label_map.task == "multilabel" else torch.long
    return Predictions(ids, langs, torch.tensor(targets, dtype=dtype), torch.tensor(probs))
