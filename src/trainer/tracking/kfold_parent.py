"""The MLflow parent run of a k-fold job (``python -m trainer.kfold tracking=mlflow``).

Folds trained in this process become its children through the same ``PARENT_RUN_ENV`` hand-over as a
Hydra multirun; folds imported with ``from_runs`` are logged as child runs here. The parent gets the
mean and std of every test/validation metric and ``kfold_summary.json`` as artifact. Without
``tracking.backend=mlflow`` (or on a rank other than 0) every method is a no-op and mlflow is not imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trainer.runs.folder import CONFIG, DATA_REPORT, METRICS, RUN_INFO, THRESHOLDS
from trainer.runs.provenance import git_state
from trainer.scoring.metrics import flatten_metrics

# What an imported fold's run folder contributes as artifacts (the weights stay where they are).
IMPORTED_FOLD_FILES = (CONFIG, METRICS, RUN_INFO, DATA_REPORT, THRESHOLDS)


def flat_summary(summary: dict[str, Any]) -> dict[str, float]:
    """``mean_std`` of a k-fold summary as MLflow metrics: ``test/<metric>/mean``, ``test/class/<c>/std``, ..."""
    flat: dict[str, float] = {}
    for group, values in summary["mean_std"].items():
        for name, stats in values.items():
            key = f"{group}/{name}".replace("_per_class_f1/", "/class/").replace("_per_language/", "/lang/")
            flat[f"{key}/mean"] = stats["mean"]
            flat[f"{key}/std"] = stats["std"]
    return flat


class KfoldParent:
    """The parent run; ``tracking`` is the resolved ``tracking`` config group."""

    def __init__(self, tracking: dict[str, Any], run_dir: Path, dataset: str, model: str) -> None:
        self.client: Any = None
        self.run_id: str | None = None
        is_rank_zero = os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"
        if tracking.get("backend") != "mlflow" or not is_rank_zero:
            return
        from trainer.tracking.connection import MlflowSettings, connect, experiment_id
        from trainer.tracking.sweep import PARENT_RUN_ENV

        settings = MlflowSettings.from_dict(tracking)
        self.client = connect(settings)
        self.experiment_id = experiment_id(self.client, settings)
        git = git_state()
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"kfold-{run_dir.name}",
            tags={
                "kfold": "parent",
                "entry_point": "trainer.kfold",
                "run_dir": str(run_dir),
                "dataset": dataset,
                "model": model,
                "git_commit": str(git["commit"]),
                "git_dirty": str(git["dirty"]),
                **settings.tags,
            },
        )
        self.run_id = run.info.run_id
        self._env = PARENT_RUN_ENV
        os.environ[PARENT_RUN_ENV] = self.run_id  # run_train's tracker starts each fold as a child

    def import_fold(self, fold: dict[str, Any]) -> str | None:
        """Log a fold trained elsewhere as a child run: its test/validation metrics and run folder files."""
        if self.run_id is None:
            return None
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"fold{fold['fold']}",
            tags={
                "mlflow.parentRunId": self.run_id,
                "kfold": "child",
                "fold": str(fold["fold"]),
                "imported_from": fold["run_dir"],
                "dataset": fold["config"]["data"]["name"],
                "model": fold["config"]["model"]["name"],
                "hardware": fold["run_info"].get("host", "unknown"),
            },
        )
        metrics = {
            **flatten_metrics("test", fold["metrics"]["test"]),
            **flatten_metrics("val", fold["metrics"]["validation"]),
        }
        for name, value in metrics.items():
            self.client.log_metric(run.info.run_id, name.replace(" ", "_"), value)
        for name in IMPORTED_FOLD_FILES:
            if (Path(fold["run_dir"]) / name).is_file():
                self.client.log_artifact(run.info.run_id, str(Path(fold["run_dir"]) / name))
        self.client.set_terminated(run.info.run_id, "FINISHED")
        return run.info.run_id

    def children(self) -> dict[str, str]:
        """Run name -> id of this parent's child runs (folds trained here are named ``fold<k>``)."""
        if self.run_id is None:
            return {}
        runs = self.client.search_runs([self.experiment_id], f"tags.mlflow.parentRunId = '{self.run_id}'")
        return {r.info.run_name: r.info.run_id for r in runs}

    def finish(self, summary: dict[str, Any] | None, summary_path: Path | None) -> None:
        """End the parent: FINISHED with the summary's metrics and file, FAILED without a summary."""
        if self.run_id is None:
            return
        os.environ.pop(self._env, None)
        if summary is not None and summary_path is not None:
            for name, value in flat_summary(summary).items():
                self.client.log_metric(self.run_id, name, value)
            self.client.log_artifact(self.run_id, str(summary_path))
        self.client.set_terminated(self.run_id, "FINISHED" if summary is not None else "FAILED")
