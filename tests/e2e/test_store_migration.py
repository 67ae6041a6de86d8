"""Issue 13 #11: parallel first runs into one new embedded (sqlite) store.

MLflow creates a new store's tables on first use, without a lock: two first runs of a sweep raced the
schema migration (``table _alembic_tmp_metrics already exists``, then ``Online migration expected to
match one row``) and broke the store for every later run. ``connect`` now migrates once under
``<db>.lock``. Four processes start at the same instant here; all must succeed and the store must stay
usable.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
pytest.importorskip("mlflow")

N_PROCESSES = 4

# One process: wait for the common start instant, then what a training job does first.
CHILD = """
import sys, time
from trainer.tracking.connection import MlflowSettings, connect, experiment_id

uri, start, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
time.sleep(max(0.0, start - time.time()))
settings = MlflowSettings(uri=uri, experiment_name="sweep")
client = connect(settings)
run = client.create_run(experiment_id(client, settings), run_name=name)
client.log_metric(run.info.run_id, "loss", 1.0, step=0)
client.set_terminated(run.info.run_id, "FINISHED")
print("ok", run.info.run_id)
"""


def _launch(uri: str, start: float, n: int) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, uri, str(start), f"job{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]


def test_parallel_first_runs_into_a_new_store_all_succeed(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    # Imports take seconds on a loaded machine: the start instant leaves time for all to be waiting.
    processes = _launch(uri, time.time() + 20, N_PROCESSES)
    results = [(p.wait(timeout=300), *p.communicate()) for p in processes]
    failures = [err[-2000:] for rc, _, err in results if rc != 0]
    assert not failures, failures

    # The store is usable afterwards: a later job finds every run and logs a new one.
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("sweep")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * N_PROCESSES
    assert all(r.data.metrics == {"loss": 1.0} for r in runs)
    later = client.create_run(experiment.experiment_id)
    client.set_terminated(later.info.run_id, "FINISHED")
    assert (tmp_path / "store" / "mlflow.db.lock").is_file()
