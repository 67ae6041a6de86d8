"""One metric code path for training, evaluation, export gates and comparison (torchmetrics).

Metric names follow one scheme, used in metrics.json and in MLflow:
``{split}/{metric}`` overall, ``{split}/lang/{lang}/{metric}`` per language and
``{split}/class/{label}/{metric}`` per class. ``f1`` is the positive-class F1 of a binary task;
``f1_weighted`` is the per-class F1 averaged with weights equal to each class's support in the gold labels
(scikit-learn's ``f1_score(average="weighted")``; multi-label: weighted by each label's positives).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torchmetrics.functional.classification as tmf

from trainer.data.labels import LabelMap

# Limits on metric changes are in points (100 x metric). torchmetrics computes in float32, so a drop of
# exactly 1 point (85 -> 84 right of 100) comes out as 1.000005: comparisons against a limit allow this.
POINTS_TOLERANCE = 1e-4

MAIN_METRICS = ("macro_f1", "micro_f1", "f1_weighted", "accuracy", "f1", "auroc", "average_precision")
# Metrics that score both classes of a binary task, so threshold tuning for them weighs both.
_BOTH_CLASSES = ("macro_f1", "micro_f1", "f1_weighted", "accuracy")


def check_main_metric(name: str, task: str) -> None:
    """Refuse a ``module.main_metric`` the task does not define, before any model is loaded."""
    allowed = [m for m in MAIN_METRICS if m != "f1" or task == "binary"]
    if name not in allowed:
        raise ValueError(
            f"module.main_metric={name!r} is not a metric of a {task} task; choose one of {allowed}"
            + (" (f1 is the positive-class F1 of a binary task)" if name == "f1" else "")
        )


def predict_labels(probs: torch.Tensor, label_map: LabelMap, thresholds: Sequence[float] | None) -> torch.Tensor:
    """Decisions from probabilities: argmax, or tuned thresholds for binary/multi-label tasks."""
    if label_map.task == "multilabel":
        t = torch.tensor(thresholds if thresholds is not None else [0.5] * label_map.num_labels)
        return (probs >= t).long()
    if label_map.task == "binary":
        pos = label_map.positive_index
        assert pos is not None
        cut = thresholds[0] if thresholds is not None else 0.5
        is_pos = probs[:, pos] >= cut
        return torch.where(is_pos, torch.tensor(pos), torch.tensor(1 - pos))
    return probs.argmax(dim=-1)


def tune_thresholds(
    probs: torch.Tensor, targets: torch.Tensor, label_map: LabelMap, objective: str = "f1"
) -> list[float] | None:
    """Decision thresholds that maximise ``objective`` on validation data (None for multiclass).

    Binary: ``f1`` is the positive class's F1; ``macro_f1`` (the mean F1 of both classes), ``f1_weighted``
    (their support-weighted mean), ``micro_f1`` and ``accuracy`` score both classes, so a majority-heavy set is
    not tuned towards "always positive".
    Ranking metrics (``auroc``, ``average_precision``) do not depend on a threshold and tune F1.
    Multi-label: one threshold per label, maximising that label's F1 (macro-F1 is their mean).
    Candidates are the midpoints between sorted distinct scores (at most 512 quantiles), so the chosen
    threshold separates validation examples instead of sitting on one of them; ties go to the one nearest 0.5.
    """
    if label_map.task == "multiclass":
        return None
    if label_map.task == "binary":
        pos = int(label_map.positive_index or 0)
        columns = [(probs[:, pos], torch.eq(targets, pos).long())]
    else:
        columns = [(probs[:, k], targets[:, k].long()) for k in range(label_map.num_labels)]
    both_classes = label_map.task == "binary" and objective in _BOTH_CLASSES
    out = []
    for scores, truth in columns:
        if truth.sum() == 0 or truth.sum() == len(truth):
            out.append(0.5)
            continue
        distinct = torch.unique(scores)
        if len(distinct) > 512:
            distinct = torch.quantile(distinct.double(), torch.linspace(0, 1, 512, dtype=torch.float64)).float()
        cands = torch.cat([(distinct[:-1] + distinct[1:]) / 2, torch.tensor([0.5])])
        best, best_t = -1.0, 0.5
        for t in cands.tolist():
            pred = (scores >= t).long()
            if not both_classes:
                score = tmf.binary_f1_score(pred, truth).item()
            elif objective in ("macro_f1", "f1_weighted"):
                average: Literal["macro", "weighted"] = "macro" if objective == "macro_f1" else "weighted"
                score = tmf.multiclass_f1_score(pred, truth, num_classes=2, average=average).item()
            else:  # micro-F1 of a single-label task is accuracy
                score = torch.eq(pred, truth).float().mean().item()
            if score > best + 1e-12 or (abs(score - best) <= 1e-12 and abs(t - 0.5) < abs(best_t - 0.5)):
                best, best_t = score, t
        out.append(float(best_t))
    return out


def _safe(value: torch.Tensor) -> float | None:
    v = float(value)
    return None if v != v else v


def _overall(
    probs: torch.Tensor, targets: torch.Tensor, preds: torch.Tensor, label_map: LabelMap, with_ranking: bool
) -> dict[str, float | None]:
    k = label_map.num_labels
    if label_map.task == "multilabel":
        t = targets.long()
        out = {
            "accuracy": _safe(tmf.multilabel_exact_match(preds, t, num_labels=k)),
            "macro_f1": _safe(tmf.multilabel_f1_score(preds, t, num_labels=k, average="macro")),
            "micro_f1": _safe(tmf.multilabel_f1_score(preds, t, num_labels=k, average="micro")),
            "f1_weighted": _safe(tmf.multilabel_f1_score(preds, t, num_labels=k, average="weighted")),
        }
        if with_ranking:
            out["auroc"] = _safe(tmf.multilabel_auroc(probs, t, num_labels=k, average="macro"))
            out["average_precision"] = _safe(tmf.multilabel_average_precision(probs, t, num_labels=k))
        return out
    out = {
        "accuracy": _safe(tmf.multiclass_accuracy(preds, targets, num_classes=k, average="micro")),
        "macro_f1": _safe(tmf.multiclass_f1_score(preds, targets, num_classes=k, average="macro")),
        "micro_f1": _safe(tmf.multiclass_f1_score(preds, targets, num_classes=k, average="micro")),
        "f1_weighted": _safe(tmf.multiclass_f1_score(preds, targets, num_classes=k, average="weighted")),
    }
    if label_map.task == "binary":
        pos = int(label_map.positive_index or 0)
        truth = torch.eq(targets, pos).long()
        out["f1"] = _safe(tmf.binary_f1_score(torch.eq(preds, pos).long(), truth))
        out["precision"] = _safe(tmf.binary_precision(torch.eq(preds, pos).long(), truth))
        out["recall"] = _safe(tmf.binary_recall(torch.eq(preds, pos).long(), truth))
        if with_ranking and 0 < int(truth.sum()) < len(truth):
            out["auroc"] = _safe(tmf.binary_auroc(probs[:, pos], truth))
            out["average_precision"] = _safe(tmf.binary_average_precision(probs[:, pos], truth))
    elif with_ranking:
        out["auroc"] = _safe(tmf.multiclass_auroc(probs, targets, num_classes=k, average="macro"))
        out["average_precision"] = _safe(tmf.multiclass_average_precision(probs, targets, num_classes=k))
    return out


def _per_class(targets: torch.Tensor, preds: torch.Tensor, label_map: LabelMap) -> dict[str, dict[str, float]]:
    k = label_map.num_labels
    if label_map.task == "multilabel":
        t = targets.long()
        p = tmf.multilabel_precision(preds, t, num_labels=k, average="none")
        r = tmf.multilabel_recall(preds, t, num_labels=k, average="none")
        f = tmf.multilabel_f1_score(preds, t, num_labels=k, average="none")
        support = t.sum(dim=0)
    else:
        p = tmf.multiclass_precision(preds, targets, num_classes=k, average="none")
        r = tmf.multiclass_recall(preds, targets, num_classes=k, average="none")
        f = tmf.multiclass_f1_score(preds, targets, num_classes=k, average="none")
        support = torch.bincount(targets, minlength=k)
    return {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
        for i, name in enumerate(label_map.names)
    }


def compute_metrics(
    probs: torch.Tensor,
    targets: torch.Tensor,
    langs: Sequence[str],
    label_map: LabelMap,
    thresholds: Sequence[float] | None = None,
    main_metric: str = "macro_f1",
    min_language_rows: int = 1,
) -> dict[str, Any]:
    """Overall, per-class and per-language metrics of one split, as a JSON-ready dict."""
    probs = probs.float()
    preds = predict_labels(probs, label_map, thresholds)
    overall = _overall(probs, targets, preds, label_map, with_ranking=True)
    if main_metric not in overall:
        raise ValueError(
            f"main metric {main_metric!r} is not defined for task {label_map.task}; "
            f"choose one of {sorted(overall)} (config key: module.main_metric)"
        )
    per_language: dict[str, dict[str, float | None]] = {}
    lang_list = list(langs)
    for lang in sorted(set(lang_list)):
        idx = torch.tensor([i for i, x in enumerate(lang_list) if x == lang])
        if len(idx) < min_language_rows:
            continue
        sub = _overall(probs[idx], targets[idx], preds[idx], label_map, with_ranking=False)
        per_language[lang] = {"n": len(idx), **sub}
    return {
        "n": len(targets),
        "main_metric": main_metric,
        "overall": overall,
        "per_class": _per_class(targets, preds, label_map),
        "per_language": per_language,
        "thresholds": list(thresholds) if thresholds is not None else None,
    }


def flatten_metrics(split: str, metrics: dict[str, Any]) -> dict[str, float]:
    """``{split}/metric``, ``{split}/lang/{lang}/metric``, ``{split}/class/{label}/metric`` scalars."""
    flat: dict[str, float] = {}
    for name, value in metrics["overall"].items():
        if value is not None:
            flat[f"{split}/{name}"] = float(value)
    for lang, values in metrics["per_language"].items():
        for name, value in values.items():
            if value is not None:
                flat[f"{split}/lang/{lang}/{name}"] = float(value)
    for label, values in metrics["per_class"].items():
        for name, value in values.items():
            flat[f"{split}/class/{label}/{name}"] = float(value)
    return flat
