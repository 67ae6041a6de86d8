"""The label map: derived from the training data, sorted, saved with every artifact."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LabelMap:
    """Ordered class names of a task. Index ``i`` is output ``i`` of the model.

    For ``binary`` the positive class is ``names[positive_index]`` and the model has two logits.
    For ``multilabel`` each name is an independent sigmoid output.
    """

    task: str
    names: tuple[str, ...]
    positive_index: int | None = None

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate label names in {self.names}")

    @property
    def num_labels(self) -> int:
        return len(self.names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    @property
    def positive_label(self) -> str | None:
        return None if self.positive_index is None else self.names[self.positive_index]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "names": list(self.names),
            "id2label": {str(i): n for i, n in enumerate(self.names)},
            "positive_label": self.positive_label,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelMap:
        names = tuple(data["names"])
        pos = data.get("positive_label")
        return cls(data["task"], names, names.index(pos) if pos is not None else None)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LabelMap:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def build_label_map(
    task: str, train_values: list[Any], positive_label: str | None, multilabel_names: tuple[str, ...] = ()
) -> LabelMap:
    """Sorted label names seen in training data (or the multi-label column names, sorted)."""
    if task == "multilabel":
        return LabelMap(task, tuple(sorted(multilabel_names)))
    names = tuple(sorted({str(v) for v in train_values}))
    if task == "binary":
        if len(names) != 2:
            raise ValueError(f"task=binary needs exactly 2 classes in training data, found {list(names)}")
        pos = positive_label if positive_label is not None else names[1]
        if pos not in names:
            raise ValueError(f"data.positive_label={pos!r} is not one of the training labels {list(names)}")
        return LabelMap(task, names, names.index(pos))
    return LabelMap(task, names)


LOSS_WEIGHT_MODES = ("balanced", "sqrt_balanced")


def resolve_loss_weights(value: Any, label_map: LabelMap, train_labels: list[Any], key: str) -> list[float] | None:
    """A config's loss weights as given (a list, or None), or computed from the training counts when named."""
    if isinstance(value, str):
        return loss_weights_from_counts(label_map, train_labels, value, key)
    return value


def loss_weights_from_counts(label_map: LabelMap, train_labels: list[Any], mode: str, key: str) -> list[float]:
    """Per-label loss weights computed from the training split (``module.class_weights`` / ``module.pos_weight``).

    ``balanced``: single-label, ``n / (k * n_c)`` per class (scikit-learn's rule); multi-label, BCE
    ``pos_weight = n_neg / n_pos`` per label. ``sqrt_balanced`` takes the square root of either, a milder
    correction that often trains steadier on rare labels. A label with no training positives gets 1.0.
    """
    if mode not in LOSS_WEIGHT_MODES:
        raise ValueError(
            f"{key}={mode!r}: expected a list of {label_map.num_labels} numbers or one of {list(LOSS_WEIGHT_MODES)}"
        )
    k, n = label_map.num_labels, len(train_labels)
    if label_map.task == "multilabel":
        pos = [sum(int(row[j]) for row in train_labels) for j in range(k)]
        raw = [(n - p) / p if p else 1.0 for p in pos]
    else:
        counts = [0] * k
        for y in train_labels:
            counts[int(y)] += 1
        raw = [n / (k * c) if c else 1.0 for c in counts]
    return [round(w**0.5 if mode == "sqrt_balanced" else w, 6) for w in raw]
