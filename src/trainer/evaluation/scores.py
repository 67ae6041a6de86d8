"""One split scored the way training scores it: the model's temperature and thresholds, then metrics and ECE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from trainer.data.prepare import Example
from trainer.evaluation.inputs import EvaluateSettings
from trainer.scoring.calibration import expected_calibration_error, probabilities
from trainer.scoring.metrics import compute_metrics
from trainer.tracking.references import ModelRef


@dataclass(frozen=True)
class Evaluation:
    """One model on one split of one dataset: what the folder, the figures and the tracker report."""

    ref: ModelRef
    dataset: str
    settings: EvaluateSettings
    ids: list[str]
    langs: list[str]
    targets: torch.Tensor
    # After the model's temperature: what a server would output.
    probs: torch.Tensor
    main_metric: str
    split_metrics: dict[str, Any]
    calibration: dict[str, Any]

    @property
    def split(self) -> str:
        return self.settings.split

    def metrics(self) -> dict[str, Any]:
        """The content of ``metrics.json``."""
        return {
            "main_metric": self.main_metric,
            "split": self.split,
            "dataset": self.dataset,
            self.split: self.split_metrics,
            "calibration": self.calibration,
        }


def score_split(
    ref: ModelRef,
    dataset: str,
    settings: EvaluateSettings,
    rows: list[Example],
    targets: torch.Tensor,
    logits: torch.Tensor,
) -> Evaluation:
    """Metrics of ``logits`` against ``targets`` (the training code path) and calibration before/after."""
    multilabel = ref.label_map.task == "multilabel"
    probs = probabilities(logits, multilabel, ref.temperature)
    langs = [e.lang for e in rows]
    main_metric = settings.main_metric or ref.main_metric or "macro_f1"
    split_metrics = compute_metrics(probs, targets, langs, ref.label_map, ref.thresholds, main_metric)
    ece_before = expected_calibration_error(probabilities(logits, multilabel), targets, multilabel, settings.n_bins)
    calibration = {
        "method": "temperature_scaling" if ref.temperature != 1.0 else "none",
        "temperature": ref.temperature,
        "fitted_on": "the model's validation split (training)",
        "n_bins": settings.n_bins,
        f"ece_before/{settings.split}": ece_before,
        f"ece_after/{settings.split}": expected_calibration_error(probs, targets, multilabel, settings.n_bins),
    }
    return Evaluation(
        ref, dataset, settings, [e.id for e in rows], langs, targets, probs, main_metric, split_metrics, calibration
    )
