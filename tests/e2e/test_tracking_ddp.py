"""Two-process DDP (gloo, CPU) training is exactly one MLflow run, logged to by rank 0 only.

Lightning's DDP launcher re-executes the command line for rank 1, so the run goes through
``python -m trainer.train`` in a subprocess, as a user would start it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_demo_data, train_cli

pytestmark = pytest.mark.integration


def test_ddp_run_is_one_mlflow_run_with_one_value_per_step(
    mlflow_server: Any, shared_cache: Path, tmp_path: Path
) -> None:
    require_demo_data()
    from mlflow.tracking import MlflowClient

    experiment = f"ddp-{uuid.uuid4().hex[:8]}"
    run_dir = tmp_path / "run"
    args = [
        "experiment=demo_tiny",
        "trainer=ddp_cpu",
        "trainer.max_epochs=2",
        "+data.max_samples.train=160",
        "+data.max_samples.validation=42",
        "+data.max_samples.test=42",
        "callbacks.early_stopping_patience=0",
        "tracking=mlflow",
        f"tracking.uri={mlflow_server.uri}",
        f"tracking.experiment_name={experiment}",
        "tracking.log_model=false",
        "tracking.log_system_metrics=false",
        "tracking.figures_every_n_epochs=2",
        f"hydra.run.dir={run_dir}",
    ]
    proc = train_cli(args, shared_cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run_dir / "train_ddp_process_1.log").exists()  # rank 1 really ran

    client = MlflowClient(mlflow_server.uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1, "only rank 0 may create a run"
    run = runs[0]
    assert run.info.status == "FINISHED"
    for key in run.data.metrics:
        steps = Counter(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert max(steps.values()) == 1, f"{key} has several values at one step: {steps}"
    assert len(client.get_metric_history(run.info.run_id, "val/macro_f1")) == 2
    assert len(client.get_metric_history(run.info.run_id, "val/class/propaganda/f1")) == 2
    assert len(client.get_metric_history(run.info.run_id, "test/macro_f1")) == 1
    files = {f.path for f in client.list_artifacts(run.info.run_id, "figures/val")}
    assert files == {"figures/val/epoch_001"}
