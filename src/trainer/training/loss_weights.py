"""Loss weights from the training label counts (``module.class_weights`` / ``module.pos_weight``)."""

from __future__ import annotations

from typing import Any

from trainer.data.labels import LabelMap

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
