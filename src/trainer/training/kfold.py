"""The k-fold summary: fold runs read back from their run folders, per-fold scores and mean ± std.

Pure functions over finished ``trainer.train`` run folders, so folds trained here and folds trained
elsewhere (``from_runs``) are summarised by the same code.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from trainer.runs.folder import CONFIG, METRICS, RunFolder

# The k-fold job's own file, beside its config.yaml and the fold<k>/ run folders.
SUMMARY_FILE = "kfold_summary.json"


def read_fold_run(run_dir: Path) -> dict[str, Any]:
    """Fold number, config and metrics of one finished ``trainer.train`` run folder."""
    folder = RunFolder(Path(run_dir))
    missing = folder.missing((CONFIG, METRICS))
    if missing:
        raise FileNotFoundError(f"{folder.path / missing[0]}: not a finished trainer.train run folder (from_runs)")
    config = folder.config()
    # A split without a fold key (ratio/files) is one run: fold 0.
    fold = int((config["data"].get("split") or {}).get("fold", 0))
    return {
        "fold": fold,
        "run_dir": str(folder.path),
        "config": config,
        "metrics": folder.metrics(),
        "run_info": folder.run_info() or {},
    }


def _mean_std(values: list[float]) -> dict[str, float | int]:
    # Sample standard deviation (n - 1): the folds are a sample of possible splits.
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values)}


def summarize(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-fold scores and their mean ± std: overall metrics, per-class F1, per-language main metric."""
    folds = sorted(folds, key=lambda f: f["fold"])
    numbers = [f["fold"] for f in folds]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"fold numbers repeat across runs: {numbers}")
    main = folds[0]["metrics"]["main_metric"]
    data_names = {f["config"]["data"]["name"] for f in folds}
    if len(data_names) != 1 or len({f["metrics"]["main_metric"] for f in folds}) != 1:
        raise ValueError(f"runs mix datasets {sorted(data_names)} or main metrics; summarise one protocol at a time")
    return {
        "dataset": data_names.pop(),
        "main_metric": main,
        "folds": numbers,
        "per_fold": [_fold_row(f, main) for f in folds],
        "mean_std": _aggregate(folds, main),
        "std": "sample standard deviation (n - 1) over folds",
    }


def _aggregate(folds: list[dict[str, Any]], main: str) -> dict[str, Any]:
    aggregate: dict[str, Any] = {}
    for split in ("test", "validation"):
        scores = [f["metrics"][split] for f in folds]
        aggregate[split] = _mean_std_by_name([s["overall"] for s in scores])
        aggregate[f"{split}_per_class_f1"] = _mean_std_by_name(
            [{c: v["f1"] for c, v in s["per_class"].items()} for s in scores]
        )
        aggregate[f"{split}_per_language"] = _mean_std_by_name(
            [{lang: v.get(main) for lang, v in s["per_language"].items()} for s in scores]
        )
    return aggregate


def _mean_std_by_name(per_fold: list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """Mean ± std of each name's numeric values across folds (a fold without the name is left out)."""
    values: dict[str, list[float]] = {}
    for scores in per_fold:
        for name, value in scores.items():
            if isinstance(value, int | float) and value is not None:
                values.setdefault(name, []).append(float(value))
    return {k: _mean_std(v) for k, v in values.items()}


def _fold_row(fold: dict[str, Any], main: str) -> dict[str, Any]:
    m, info = fold["metrics"], fold["run_info"]
    return {
        "fold": fold["fold"],
        "run_dir": fold["run_dir"],
        f"test_{main}": m["test"]["overall"][main],
        f"validation_{main}": m["validation"]["overall"][main],
        "best_epoch_score": m.get("best_epoch_score"),
        "best_checkpoint": m.get("best_checkpoint"),
        "epochs_run": info.get("epochs_run"),
        "thresholds": m["test"].get("thresholds"),
        "duration_s": info.get("duration_s"),
        "host": info.get("host"),
    }


def child_run_ids(folds: list[dict[str, Any]], children: dict[str, str]) -> dict[str, str | None]:
    """Fold -> its MLflow run: the imported fold's own id, else the parent's child named after its folder."""
    return {str(f["fold"]): f.get("mlflow_run_id") or children.get(Path(f["run_dir"]).name) for f in folds}
