"""Save: the run folder explains itself (every file through :class:`trainer.runs.folder.RunFolder`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from trainer.data.datamodule import TextDataModule
from trainer.data.prepare import PreparedData
from trainer.runs.folder import CLASSICAL_BASELINE, RunFolder
from trainer.runs.provenance import run_info
from trainer.scoring.classical import ClassicalSettings, SplitTexts
from trainer.scoring.predictions import write_predictions
from trainer.training.final_scores import FinalScores, score_classical
from trainer.training.fit import LossWeights
from trainer.training.module import ClassifierModule
from trainer.training.settings import TrainSettings


def run_metrics(
    scores: FinalScores, best: Any, weights: LossWeights, module: ClassifierModule, main_metric: str
) -> dict[str, Any]:
    """``metrics.json``: the scores, which checkpoint produced them, loss weights and the per-epoch history."""
    m = scores.metrics
    return {
        "main_metric": main_metric,
        "best_checkpoint": Path(best.best_model_path).name,
        "best_epoch_score": float(best.best_model_score) if best.best_model_score is not None else None,
        "validation": m["validation"],
        "test": m["test"],
        "baseline_test": m["baseline_test"],
        "calibration": m["calibration"],
        "loss_weights": weights.to_dict(),
        "val_history": module.val_history,
    }


def save_run_folder(
    folder: RunFolder,
    settings: TrainSettings,
    data: PreparedData,
    dm: TextDataModule,
    scores: FinalScores,
    metrics: dict[str, Any],
) -> None:
    """Config, labels, thresholds, metrics, calibration, predictions, data report and digest.

    The TF-IDF baseline (``classical`` group) is fitted here, so its numbers join ``metrics`` (metrics.json,
    then MLflow and the summary, which read the same dict) and its test predictions the model's.
    """
    save_classical_baseline(folder, settings, data, metrics)
    folder.write_config(settings.config)
    folder.write_labels(data.label_map)
    folder.write_thresholds(data.label_map, scores.thresholds, tuned_on="validation")
    folder.write_metrics(metrics)
    folder.write_calibration(scores.calibration)
    for split, s in (("validation", scores.validation), ("test", scores.test)):
        write_predictions(
            folder.predictions_file(split),
            dm.ids(split),
            s.langs,
            s.targets,
            s.probs,
            data.label_map,
            scores.thresholds,
        )
    folder.write_data_report(data.report.to_dict())
    folder.write_data_digest(
        {"digest": data.digest, "files": data.file_digests, "splits": {s: data.split_digest(s) for s in data.splits}}
    )


def save_classical_baseline(
    folder: RunFolder, settings: TrainSettings, data: PreparedData, metrics: dict[str, Any]
) -> None:
    """Fit the classical baseline, add ``baseline_tfidf_val``/``_test`` to ``metrics`` and write its validation
    and test predictions beside the model's (same ids, order and columns, so a comparison pairs them row by row,
    and :mod:`trainer.comparison.ensemble` can average it with models on validation before deciding on test)."""
    baseline = ClassicalSettings.from_dict(settings.config.get("classical"))
    result = score_classical(data, baseline, metrics["main_metric"])
    if result is None:
        return
    metrics.update(result.metrics(baseline))
    for split, probs in (("validation", result.validation_probs), ("test", result.test_probs)):
        rows = data.splits[split]
        write_predictions(
            folder.baseline_predictions_file(split),
            list(rows.ids),
            list(rows.langs),
            SplitTexts(rows.texts, rows.labels, rows.langs).targets(data.label_map),
            probs,
            data.label_map,
            None,
        )


def save_model(folder: RunFolder, module: ClassifierModule, tokenizer: Any) -> None:
    """The best checkpoint as a transformers folder (safetensors) with its tokenizer."""
    module.model.save_pretrained(folder.model_dir, safe_serialization=True)
    tokenizer.save_pretrained(folder.model_dir)


def save_run_info(
    folder: RunFolder,
    settings: TrainSettings,
    started: datetime,
    model_source: dict[str, Any],
    dm: TextDataModule,
    trainer: pl.Trainer,
    main_value: float,
) -> None:
    """``run_info.json`` (provenance, timings, cache) and the folder's README."""
    folder.write_run_info(
        run_info(
            "trainer.train",
            started,
            {
                "model_source": model_source,
                "dataset": settings.data.name,
                "task": settings.data.task,
                "languages": dm.languages,
                "tokenisation_cache": {"hit": dm.cache_hit, "path": str(dm.cache_dir)},
                "truncation": dm.truncation.to_dict(),
                "epochs_run": trainer.current_epoch,
                "global_steps": trainer.global_step,
            },
        )
    )
    folder.write_readme(
        {
            "model": settings.model.name,
            "data": settings.data.name,
            "task": settings.data.task,
            f"test {settings.module.main_metric}": f"{main_value:.4f}",
            **_baseline_summary(folder, settings.module.main_metric),
        }
    )


def _baseline_summary(folder: RunFolder, main: str) -> dict[str, str]:
    """The README's baseline lines, from metrics.json (written before the README)."""
    metrics = folder.metrics() or {}
    out = {}
    for key, label in (("baseline_test", "majority baseline"), (f"{CLASSICAL_BASELINE}_test", "TF-IDF baseline")):
        value = (metrics.get(key) or {}).get("overall", {}).get(main)
        if value is not None:
            out[f"test {main}, {label}"] = f"{value:.4f}"
    return out
