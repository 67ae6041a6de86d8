"""After fit: the best checkpoint scored on validation and test, calibrated, with thresholds tuned on validation.

One metric code path (:func:`trainer.scoring.metrics.compute_metrics`) for every number a run reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from trainer.data.datamodule import TextDataModule
from trainer.data.prepare import PreparedData
from trainer.scoring.baselines import majority_baseline
from trainer.scoring.calibration import calibrate, probabilities
from trainer.scoring.classical import ClassicalResult, ClassicalSettings, SplitTexts, fit_classical
from trainer.scoring.metrics import compute_metrics, tune_thresholds
from trainer.training.module import ClassifierModule, predict_logits
from trainer.training.settings import CalibrationSettings


@dataclass
class SplitScores:
    """One split's calibrated probabilities, gold targets and languages, in the split's row order."""

    probs: torch.Tensor
    targets: torch.Tensor
    langs: list[str]


@dataclass
class FinalScores:
    validation: SplitScores
    test: SplitScores
    thresholds: list[float] | None
    calibration: dict[str, Any]
    metrics: dict[str, Any]


def score_best(
    module: ClassifierModule,
    dm: TextDataModule,
    data: PreparedData,
    calibration_settings: CalibrationSettings,
    main_metric: str,
) -> FinalScores:
    """Validation and test logits → temperature → thresholds tuned on validation → metrics + baseline."""
    val_logits, val_y, val_l = predict_logits(module, *dm.eval_loader("validation"))
    test_logits, test_y, test_l = predict_logits(module, *dm.eval_loader("test"))
    task = data.label_map.task
    calibration = calibrate(
        val_logits,
        val_y,
        {"validation": (val_logits, val_y), "test": (test_logits, test_y)},
        task,
        calibration_settings.temperature_scaling,
        calibration_settings.n_bins,
    )
    temperature = float(calibration["temperature"])  # type: ignore[arg-type]
    langs = dm.languages
    val = SplitScores(probabilities(val_logits, task == "multilabel", temperature), val_y, _names(val_l, langs))
    test = SplitScores(probabilities(test_logits, task == "multilabel", temperature), test_y, _names(test_l, langs))
    thresholds = tune_thresholds(val.probs, val.targets, data.label_map, objective=main_metric)
    train_labels = list(data.splits["train"].labels)
    metrics = {
        "main_metric": main_metric,
        "validation": compute_metrics(val.probs, val.targets, val.langs, data.label_map, thresholds, main_metric),
        "test": compute_metrics(test.probs, test.targets, test.langs, data.label_map, thresholds, main_metric),
        "baseline_test": majority_baseline(train_labels, test.targets, test.langs, data.label_map, main_metric),
        "calibration": calibration,
    }
    return FinalScores(val, test, thresholds, calibration, metrics)


def score_classical(data: PreparedData, settings: ClassicalSettings, main_metric: str) -> ClassicalResult | None:
    """The TF-IDF baseline on the same prepared splits (normalised texts) the model read; None when off.

    Only global rank 0 gets here (the other ranks return after fit), so DDP fits it once.
    """
    if not settings.enabled:
        return None
    splits = {s: SplitTexts(rows.texts, rows.labels, rows.langs) for s, rows in data.splits.items()}
    return fit_classical(splits["train"], splits["validation"], splits["test"], data.label_map, settings, main_metric)


def _names(lang_idx: torch.Tensor, languages: list[str]) -> list[str]:
    return [languages[i] for i in lang_idx.tolist()]
