"""Hydra multirun → one MLflow parent run per sweep, every job a child run.

Registered in ``configs/hydra/default.yaml`` under ``hydra.callbacks``; Hydra builds it for every
run, so it must stay cheap: it does nothing (and imports no mlflow) unless a *multirun* starts with
``tracking.backend=mlflow``. It then opens the parent run and exports its id in
:data:`PARENT_RUN_ENV`; each job's tracker reads it and starts its
run as a child. Works with launchers whose jobs inherit the environment (basic, joblib).

The parent lives in the experiment of the base config: when a sweep spans datasets and
``tracking.experiment_name`` follows ``data.name``, set the experiment name explicitly so that
parent and children share one experiment (the UI nests runs within an experiment only).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

# Defined here, not beside the tracker, so that importing it (Hydra does, for every run) pulls in no mlflow.
PARENT_RUN_ENV = "SEAGUARD_MLFLOW_PARENT_RUN_ID"


class MlflowSweepCallback(Callback):
    def __init__(self) -> None:
        self._client: Any = None
        self._run_id: str | None = None
        self._failed = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        tracking = config.get("tracking")
        if tracking is None or tracking.get("backend") != "mlflow":
            return
        from trainer.runs.provenance import git_state
        from trainer.tracking.connection import MlflowSettings, connect, experiment_id

        settings = MlflowSettings.from_dict(OmegaConf.to_container(tracking, resolve=True))  # type: ignore[arg-type]
        self._client = connect(settings)
        sweep_dir = Path(str(config.hydra.sweep.dir))
        overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False) or []
        git = git_state()
        run = self._client.create_run(
            experiment_id(self._client, settings),
            run_name=settings.run_name or f"sweep-{sweep_dir.name}",
            tags={
                "sweep": "parent",
                "sweep_dir": str(sweep_dir),
                "sweep_overrides": " ".join(map(str, overrides)),
                "entry_point": "trainer.train (multirun)",
                "git_commit": str(git["commit"]),
                "git_dirty": str(git["dirty"]),
                **settings.tags,
            },
        )
        self._run_id = run.info.run_id
        os.environ[PARENT_RUN_ENV] = self._run_id

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from hydra.core.utils import JobStatus

        if self._run_id is not None and job_return.status == JobStatus.FAILED:
            self._failed += 1
            # A failing job stops the basic sweeper before on_multirun_end: close the parent now.
            self._client.set_terminated(self._run_id, "FAILED")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._run_id is None:
            return
        if not self._failed:
            self._client.set_terminated(self._run_id, "FINISHED")
        if os.environ.get(PARENT_RUN_ENV) == self._run_id:
            os.environ.pop(PARENT_RUN_ENV)
        self._run_id = None
