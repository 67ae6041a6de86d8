"""Evaluation figures from plain tensors: confusion matrix, PR curves, reliability diagram, per-language bars.

Shared by training (MLflow images per validation epoch and for test) and the evaluation command. Each
function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``: such figures never touch
a GUI backend or pyplot's global figure list, so they are safe in training threads and on headless
machines, and ``savefig`` renders them with Agg. Nothing here knows about MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torchmetrics.functional.classification as tmf
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from trainer.scoring.calibration import expected_calibration_error, reliability_bins


def _size(n_labels: int) -> tuple[float, float]:
    side = min(4.0 + 0.5 * n_labels, 12.0)
    return side, side * 0.85


def confusion_matrix_figure(
    preds: torch.Tensor,
    targets: torch.Tensor,
    label_names: Sequence[str],
    multilabel: bool = False,
    title: str = "Confusion matrix",
) -> Figure:
    """Counts of true (rows) against predicted (columns) labels.

    Args:
        preds: predicted class indices ``(n,)``, or a 0/1 matrix ``(n, k)`` when ``multilabel``.
        targets: true class indices ``(n,)``, or a 0/1 matrix ``(n, k)`` when ``multilabel``.
        label_names: class names in output order.
        multilabel: draw one 2x2 (negative/positive) matrix per label instead of one k x k matrix.
    """
    names = list(label_names)
    k = len(names)
    if multilabel:
        cm = tmf.multilabel_confusion_matrix(preds.long(), targets.long(), num_labels=k)  # (k, 2, 2)
        cols = min(k, 4)
        rows = (k + cols - 1) // cols
        fig = Figure(figsize=(3.2 * cols, 3.0 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i >= k:
                ax.set_axis_off()
                continue
            _draw_matrix(ax, cm[i], ["neg", "pos"])
            ax.set_title(names[i])
        fig.suptitle(title)
        return fig
    cm = tmf.multiclass_confusion_matrix(preds.long(), targets.long(), num_classes=k)
    fig = Figure(figsize=_size(k), layout="constrained")
    ax = fig.subplots()
    _draw_matrix(ax, cm, names)
    ax.set_title(title)
    return fig


def _draw_matrix(ax: Axes, cm: torch.Tensor, names: list[str]) -> None:
    counts = cm.cpu().numpy()
    image = ax.imshow(counts, cmap="Blues")
    high = counts.max() if counts.size else 0
    for (r, c), value in np.ndenumerate(counts):
        # White text on dark cells keeps every count readable.
        ax.text(
            c, r, str(int(value)), ha="center", va="center", color="white" if high and value > high / 2 else "black"
        )
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)


def _one_vs_rest(probs: torch.Tensor, targets: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """0/1 truth per class, ``(n, k)``, for per-class curves."""
    if multilabel:
        return targets.long()
    return torch.nn.functional.one_hot(targets.long(), probs.shape[1])


def precision_recall_figure(
    probs: torch.Tensor,
    targets: torch.Tensor,
    label_names: Sequence[str],
    multilabel: bool = False,
    title: str = "Precision-recall",
) -> Figure:
    """One precision-recall curve per class (one-vs-rest), average precision in the legend.

    Args:
        probs: class probabilities ``(n, k)`` (softmax, or sigmoid when ``multilabel``).
        targets: true class indices ``(n,)``, or a 0/1 matrix ``(n, k)`` when ``multilabel``.
    """
    truth = _one_vs_rest(probs, targets, multilabel)
    fig = Figure(figsize=(6.0, 5.0), layout="constrained")
    ax = fig.subplots()
    for i, name in enumerate(label_names):
        positives = int(truth[:, i].sum())
        if positives == 0:
            # No positive example: the curve is undefined, but the legend still says why it is missing.
            ax.plot([], [], label=f"{name} (no positives)")
            continue
        precision, recall, _ = tmf.binary_precision_recall_curve(probs[:, i].float(), truth[:, i])
        ap = float(tmf.binary_average_precision(probs[:, i].float(), truth[:, i]))
        ax.plot(recall.numpy(), precision.numpy(), label=f"{name} (AP {ap:.3f}, n={positives})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    ax.set_title(title)
    return fig


def reliability_figure(
    probs: torch.Tensor, targets: torch.Tensor, multilabel: bool = False, n_bins: int = 15, title: str = "Reliability"
) -> Figure:
    """Accuracy against confidence per equal-width bin, with the expected calibration error in the title.

    Bins and ECE come from :mod:`trainer.scoring.calibration`, so the figure and ``calibration.json`` agree.
    """
    conf, acc, count = reliability_bins(probs.float(), targets, multilabel, n_bins)
    ece = expected_calibration_error(probs.float(), targets, multilabel, n_bins)
    width = 1.0 / n_bins
    centers = [(b + 0.5) * width for b in range(n_bins)]
    filled = [b for b in range(n_bins) if count[b] > 0]
    fig = Figure(figsize=(5.5, 5.0), layout="constrained")
    ax = fig.subplots()
    ax.bar(
        [centers[b] for b in filled],
        [float(acc[b]) for b in filled],
        width=width * 0.95,
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    if filled:
        ax.plot(
            [float(conf[b]) for b in filled],
            [float(acc[b]) for b in filled],
            marker="o",
            color="tab:red",
            label="mean confidence",
        )
    for b in filled:
        ax.text(centers[b], 0.02, str(int(count[b])), ha="center", fontsize="x-small")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title(f"{title} (ECE {ece:.3f})")
    return fig


def language_bar_figure(
    values: Mapping[str, float | None],
    metric: str,
    counts: Mapping[str, int] | None = None,
    baseline: float | None = None,
    title: str | None = None,
) -> Figure:
    """One bar per language for ``metric``; ``counts`` label each bar with its row count.

    Languages whose metric is undefined (``None``) keep an empty slot, so a missing language is
    visible rather than silently absent.
    """
    langs = sorted(values)
    heights = [values[lang] or 0.0 for lang in langs]
    fig = Figure(figsize=(max(4.0, 0.7 * len(langs) + 2.0), 4.0), layout="constrained")
    ax = fig.subplots()
    bars = ax.bar(langs, heights, color="tab:blue")
    for bar, lang in zip(bars, langs, strict=True):
        label = "n/a" if values[lang] is None else f"{values[lang]:.2f}"
        if counts is not None and lang in counts:
            label += f"\nn={counts[lang]}"
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            bar.get_height() + 0.01,
            label,
            ha="center",
            va="bottom",
            fontsize="x-small",
        )
    if baseline is not None:
        ax.axhline(baseline, linestyle="--", color="grey", label=f"overall {baseline:.3f}")
        ax.legend(loc="upper right", fontsize="small")
    ax.set_ylim(0.0, 1.15)
    ax.set_xlabel("language")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} per language")
    return fig
