"""The reference points' MLflow metrics: the majority baseline and the classical (TF-IDF) baseline.

``baseline_test/<metric>`` and ``baseline_test/lang/<lang>/<main metric>`` for the majority baseline;
``baseline_tfidf_val/...`` and ``baseline_tfidf_test/...`` for the TF-IDF baseline, with every metric
overall, per language and per class (:func:`trainer.scoring.metrics.flatten_metrics`'s names), so the
MLflow UI puts them beside ``best_val/...`` and ``test/...``.
"""

from __future__ import annotations

from typing import Any

from trainer.runs.folder import CLASSICAL_BASELINE as CLASSICAL
from trainer.scoring.metrics import flatten_metrics

CLASSICAL_SPLITS = (f"{CLASSICAL}_val", f"{CLASSICAL}_test")


def baseline_summary(metrics: dict[str, Any], main: str) -> dict[str, float]:
    """Every baseline scalar of a run's ``metrics.json`` dict, by MLflow metric name."""
    majority = metrics["baseline_test"]
    out = {f"baseline_test/{k}": v for k, v in majority["overall"].items() if v is not None}
    out.update(
        {f"baseline_test/lang/{lang}/{main}": v for lang, v in majority["per_language"].items() if v is not None}
    )
    for split in CLASSICAL_SPLITS:
        if metrics.get(split) is not None:
            out.update(flatten_metrics(split, metrics[split]))
    return out
