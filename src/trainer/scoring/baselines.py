"""Reference points every run is scored against: the majority-class baseline."""

from __future__ import annotations

from typing import Any

import torch

from trainer.data.labels import LabelMap
from trainer.scoring.metrics import compute_metrics

_SUPPORTED = ("macro_f1", "micro_f1", "f1_weighted", "accuracy", "f1")


def majority_baseline(
    train_labels: list[Any], targets: torch.Tensor, langs: list[str], label_map: LabelMap, main_metric: str
) -> dict[str, Any]:
    """Metrics of always predicting the most frequent training class (or, multi-label, label set)."""
    n, k = len(targets), label_map.num_labels
    if label_map.task == "multilabel":
        rate = torch.tensor(train_labels).float().mean(dim=0)
        probs = (rate >= 0.5).float().expand(n, k).clone()
    else:
        counts = torch.bincount(torch.tensor(train_labels), minlength=k)
        probs = torch.zeros(n, k)
        probs[:, int(counts.argmax())] = 1.0
    metric = main_metric if main_metric in _SUPPORTED else "macro_f1"
    m = compute_metrics(probs, targets, langs, label_map, main_metric=metric)
    return {
        "strategy": "majority",
        "overall": m["overall"],
        "per_language": {lang: v.get(metric) for lang, v in m["per_language"].items()},
    }
