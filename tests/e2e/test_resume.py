"""Exact resume in place (issue 13 #6, #7): a run killed with SIGKILL and resumed with ``resume=<run folder>``
ends with the same weights, metrics history and best checkpoint as the run that was never interrupted, in the
same run folder and the same MLflow run.

The kill is real (``kill -9`` on the training process): as soon as a checkpoint lands mid-epoch (a ``last.ckpt``
every 3 steps, 5 steps an epoch), at an epoch boundary, and after fit while the run folder is being written.
Whenever it lands, the resumed run must match.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import PROJECT_ROOT, require_demo_data

pytestmark = pytest.mark.integration
pytest.importorskip("mlflow")


def _args(tmp: Path, cache: Path, run_dir: Path | None, *extra: str) -> list[str]:
    where = [f"hydra.run.dir={run_dir}"] if run_dir else [f"paths.output_dir={tmp / 'outputs'}"]
    return [
        "experiment=demo_tiny",
        "trainer.max_epochs=3",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1",
        "callbacks.early_stopping_patience=0",
        "+data.max_samples.train=160",
        "+data.max_samples.validation=42",
        "+data.max_samples.test=42",
        "tracking=mlflow",
        f"tracking.uri=sqlite:///{tmp / 'store' / 'mlflow.db'}",
        "tracking.experiment_name=resume",
        "tracking.log_model=false",
        "tracking.log_system_metrics=false",
        "tracking.figures_every_n_epochs=0",
        f"paths.cache_dir={cache}",
        *where,
        *extra,
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SEAGUARD_MLFLOW"))}
    return {**env, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _train(args: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "trainer.train", *args]
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=_env(), capture_output=True, text=True, timeout=600)


def _kill_when(args: list[str], marker: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.train", *args],
        cwd=PROJECT_ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, f"training ended before {marker.name} appeared"
        assert time.monotonic() < deadline, f"no {marker.name} after 300 s"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model" / "model.safetensors"))


def _history(run_dir: Path) -> list[tuple[int, int, float]]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return [(h["epoch"], h["step"], h["overall"]["macro_f1"]) for h in metrics["val_history"]]


@pytest.fixture(scope="module")
def uninterrupted(shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_demo_data()
    tmp = tmp_path_factory.mktemp("uninterrupted")
    proc = _train(_args(tmp, shared_cache, tmp / "a", "callbacks.checkpoint_every_n_steps=3"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "a"


@pytest.mark.parametrize("where", ["mid_epoch", "epoch_boundary", "after_fit"])
def test_killed_and_resumed_in_place_equals_uninterrupted(
    uninterrupted: Path, shared_cache: Path, tmp_path: Path, where: str
) -> None:
    run_dir = tmp_path / "b"
    every = ["callbacks.checkpoint_every_n_steps=3"] if where == "mid_epoch" else []
    args = _args(tmp_path, shared_cache, run_dir, *every)
    # Mid-epoch: last.ckpt first lands at step 3 of 5. Epoch boundary: at the end of epoch 0. After fit: while the
    # run folder is being written (its predictions/ appear before the model and run_info.json).
    marker = run_dir / ("predictions" if where == "after_fit" else "checkpoints/last.ckpt")
    _kill_when(args, marker)
    assert not (run_dir / "run_info.json").exists()

    resumed = _train(_args(tmp_path, shared_cache, None, *every, f"resume={run_dir}"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not (tmp_path / "outputs").exists(), "resume must continue in the run folder it names"

    want, got = _weights(uninterrupted), _weights(run_dir)
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want), "resumed weights differ from the uninterrupted run's"
    assert _history(run_dir) == _history(uninterrupted)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (uninterrupted, run_dir))
    assert b["best_epoch_score"] == a["best_epoch_score"] and b["test"]["overall"] == a["test"]["overall"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("resume").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["run_dir"] == str(run_dir)
    assert len(client.get_metric_history(run.info.run_id, "val/macro_f1")) == 3
    for key in run.data.metrics:  # issue 13 #8: the steps redone after the checkpoint are not logged twice
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert len(steps) == len(set(steps)), f"{key} has two values at one step: {sorted(steps)}"


def test_resume_auto_takes_the_newest_unfinished_run_or_starts_fresh(tmp_path: Path) -> None:
    from trainer.training.resume import ResumeError, resume_folder

    runs = tmp_path / "runs"
    assert resume_folder("auto", runs, "_tiny_demo") is None
    for name, finished in (("2026-01-01_00-00-00_tiny_demo", False), ("2026-01-02_00-00-00_tiny_demo", True)):
        (runs / name / "checkpoints").mkdir(parents=True)
        (runs / name / "checkpoints" / "last.ckpt").write_bytes(b"x")
        if finished:
            (runs / name / "run_info.json").write_text("{}")
    (runs / "2026-01-03_00-00-00_tiny_other" / "checkpoints").mkdir(parents=True)
    (runs / "2026-01-03_00-00-00_tiny_other" / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert resume_folder("auto", runs, "_tiny_demo") == runs / "2026-01-01_00-00-00_tiny_demo"
    with pytest.raises(ResumeError, match="last.ckpt"):
        resume_folder(str(tmp_path / "nowhere"), runs, "_tiny_demo")


def test_steps_redone_after_the_checkpoint_are_logged_once(
    shared_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 #8: a crash in the 5th batch, after last.ckpt at step 3; the 4th batch's train/loss (MLflow step 3)
    was logged. The resumed run redoes batches 4 and 5 and must not log step 3 again (before: two values there)."""
    require_demo_data()
    from mlflow.tracking import MlflowClient

    from trainer.config import compose
    from trainer.train import run_train
    from trainer.training.resume import EpochSeed

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    every = "callbacks.checkpoint_every_n_steps=3"
    overrides = [a for a in _args(tmp_path, shared_cache, None, every) if not a.startswith("paths.output_dir=")]
    original = EpochSeed.on_train_batch_end

    def crash_in_batch_5(self, trainer, pl_module, *args) -> None:  # the injected failure, not the subject
        original(self, trainer, pl_module, *args)
        if trainer.global_step == 5:
            raise RuntimeError("simulated preemption")

    monkeypatch.setattr(EpochSeed, "on_train_batch_end", crash_in_batch_5)
    with pytest.raises(RuntimeError, match="simulated preemption"):
        run_train(compose("train", overrides), tmp_path / "b")
    monkeypatch.setattr(EpochSeed, "on_train_batch_end", original)
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("resume").experiment_id])
    assert {m.step for m in client.get_metric_history(run.info.run_id, "train/loss")} == {0, 1, 2, 3}

    resumed = run_train(compose("train", [*overrides, f"resume={tmp_path / 'b'}"]), tmp_path / "unused")
    assert resumed is not None and resumed.run_dir == tmp_path / "b"
    (run,) = client.search_runs([client.get_experiment_by_name("resume").experiment_id])
    assert run.info.status == "FINISHED"
    for key in run.data.metrics:
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert len(steps) == len(set(steps)), f"{key} has two values at one step: {sorted(steps)}"
    assert len({m.step for m in client.get_metric_history(run.info.run_id, "train/loss")}) == 15  # 3 epochs x 5
