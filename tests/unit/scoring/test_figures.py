"""Evaluation figures from plain tensors: each renders to a PNG, for single- and multi-label tasks."""

from __future__ import annotations

import io

import pytest
import torch
from matplotlib.figure import Figure

from trainer.scoring.calibration import expected_calibration_error
from trainer.scoring.figures import (
    confusion_matrix_figure,
    language_bar_figure,
    precision_recall_figure,
    reliability_figure,
)

NAMES = ["incitement", "not_extremist", "propaganda"]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG")
    return data


@pytest.fixture
def single_label() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(40, 3, generator=g).softmax(dim=-1)
    targets = torch.randint(0, 3, (40,), generator=g)
    return probs, targets


def test_confusion_matrix_counts_every_row(single_label: tuple[torch.Tensor, torch.Tensor]) -> None:
    probs, targets = single_label
    fig = confusion_matrix_figure(probs.argmax(dim=1), targets, NAMES)
    ax = fig.axes[0]
    counts = ax.images[0].get_array()
    assert counts.shape == (3, 3) and int(counts.sum()) == 40
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    _png(fig)


def test_multilabel_confusion_is_one_two_by_two_per_label() -> None:
    targets = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    preds = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]])
    fig = confusion_matrix_figure(preds, targets, NAMES, multilabel=True)
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == NAMES
    assert all(ax.images[0].get_array().shape == (2, 2) for ax in panels)
    _png(fig)


def test_pr_curves_one_line_per_class_and_a_class_without_positives(
    single_label: tuple[torch.Tensor, torch.Tensor],
) -> None:
    probs, _ = single_label
    targets = torch.tensor([0, 1] * 20)  # class 2 never occurs
    fig = precision_recall_figure(probs, targets, NAMES)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0].startswith("incitement (AP ") and legend[2] == "propaganda (no positives)"
    _png(fig)
    multi = precision_recall_figure(torch.rand(10, 3), torch.randint(0, 2, (10, 3)), NAMES, multilabel=True)
    assert len(multi.axes[0].get_legend().get_texts()) == 3


@pytest.mark.parametrize("multilabel", [False, True])
def test_reliability_title_carries_the_ece_of_the_calibration_report(multilabel: bool) -> None:
    g = torch.Generator().manual_seed(1)
    if multilabel:
        probs, targets = torch.rand(30, 3, generator=g), torch.randint(0, 2, (30, 3), generator=g)
    else:
        probs, targets = torch.rand(30, 3, generator=g).softmax(dim=-1), torch.randint(0, 3, (30,), generator=g)
    fig = reliability_figure(probs, targets, multilabel=multilabel, n_bins=10)
    ece = expected_calibration_error(probs, targets, multilabel, 10)
    assert fig.axes[0].get_title().endswith(f"(ECE {ece:.3f})")
    _png(fig)


def test_language_bars_keep_languages_without_a_value() -> None:
    fig = language_bar_figure(
        {"en": 0.8, "th": None, "id": 0.5}, "macro_f1", {"en": 10, "th": 2, "id": 4}, baseline=0.6
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["en", "id", "th"]
    labels = [t.get_text() for t in ax.texts]
    assert "n/a\nn=2" in labels and "0.80\nn=10" in labels
    assert ax.get_ylabel() == "macro_f1"
    _png(fig)
