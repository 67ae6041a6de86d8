"""Tracking outages cost training nothing (issue 13 #10), against a real ``mlflow server`` we can hurt.

Each test starts its own server on a free port with its own sqlite store, so it can freeze it
(SIGSTOP: a hung server, every call times out), kill it (SIGKILL) and start it again on the same port
and store while a tiny model trains with ``trainer.log_every_n_steps=1``. A callback records
``time.monotonic()`` after every training batch, so a stalled logging call would show as a gap.
Afterwards the server must hold every metric exactly once per step and the run must be FINISHED.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_demo_data
from tests.mlflow_server import STARTUP_TIMEOUT_S, _free_port, _healthy
from trainer.config import compose
from trainer.runs.folder import TRACKING_SPOOL
from trainer.tracking.lightning_hooks import MlflowMetricsLogger
from trainer.tracking.mlflow_tracker import MlflowTracker
from trainer.train import run_train

pytestmark = pytest.mark.integration

mlflow = pytest.importorskip("mlflow")
import pytorch_lightning as pl  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

PACE_S = 0.15  # per batch: the tiny model trains faster than a server restarts
# The bar: no training step waits more than 1 s for tracking. What tracking costs a step is the
# logger call on the training thread (a queue put): held to MAX_LOG_CALL_S. The gap between two batches
# also holds the step's own compute, which on a shared 2-core CI box under load swings by seconds
# whatever tracking does; an outage stall (one 10 s request timeout, before: minutes) is far above
# MAX_PAUSE_S, so the gap bound still catches one.
MAX_LOG_CALL_S = 0.1
MAX_PAUSE_S = 5.0
LOG_CALLS: list[float] = []  # seconds per MlflowMetricsLogger.log_metrics call (the training thread's share)


class Server:
    """One ``mlflow server`` process group that can be frozen, killed and started again on one port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.root / "artifacts"),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(self.uri):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server at {self.uri} did not start: {self.root / 'server.log'}")
            time.sleep(0.3)

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)
        if sig == signal.SIGKILL:
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


class Outages(pl.Callback):
    """Times every training batch and runs ``script`` (in a thread) from the ``at_step``-th batch on.

    Training continues (``max_epochs`` is large) until the script is done and, if ``until``, until
    ``until()`` holds; then it stops at the end of that epoch.
    """

    def __init__(self, script: Any, at_step: int, until: Any = None) -> None:
        self.script, self.at_step, self.until = script, at_step, until
        self.times: list[tuple[int, int, float]] = []  # (epoch, batch index, monotonic time)
        self.thread: threading.Thread | None = None
        self.events: list[tuple[str, float]] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int) -> None:
        self.times.append((trainer.current_epoch, idx, time.monotonic()))
        if trainer.global_step == self.at_step and self.thread is None:
            self.thread = threading.Thread(target=self.script, args=(self.events,), daemon=True)
            self.thread.start()
        time.sleep(PACE_S)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        done = self.thread is not None and not self.thread.is_alive()
        if done and (self.until is None or self.until()):
            trainer.should_stop = True

    def pauses(self) -> list[tuple[float, int, int, float]]:
        """Waits between two batches of one epoch beyond the pacing sleep, longest first: (s, epoch, batch, t)."""
        pairs = zip(self.times, self.times[1:], strict=False)
        return sorted(((b[2] - a[2] - PACE_S, b[0], b[1], b[2]) for a, b in pairs if a[0] == b[0]), reverse=True)

    def longest_pause(self) -> float:
        return self.pauses()[0][0]

    def report(self) -> str:
        t0 = self.events[0][1] if self.events else 0.0
        top = [(round(s, 3), e, i, round(t - t0, 1)) for s, e, i, t in self.pauses()[:5]]
        events = [(name, round(t - t0, 1)) for name, t in self.events]
        slowest = max(LOG_CALLS, default=0.0)
        return (
            f"{len(self.times)} steps; events (s) {events}; longest pauses (s, epoch, batch, at s) {top}; "
            f"slowest logger call on the training thread {slowest * 1000:.2f} ms of {len(LOG_CALLS)}"
        )


def _train(tmp_path: Path, uri: str, outages: Outages, monkeypatch: pytest.MonkeyPatch, cache: Path) -> Any:
    require_demo_data()
    original = MlflowTracker.callbacks
    monkeypatch.setattr(MlflowTracker, "callbacks", lambda self: [*original(self), outages])
    log_metrics = MlflowMetricsLogger.log_metrics

    def timed(self: MlflowMetricsLogger, *args: Any, **kwargs: Any) -> None:
        started = time.monotonic()
        log_metrics(self, *args, **kwargs)
        LOG_CALLS.append(time.monotonic() - started)

    LOG_CALLS.clear()
    monkeypatch.setattr(MlflowMetricsLogger, "log_metrics", timed)
    cfg = compose(
        "train",
        [
            "experiment=demo_tiny",
            "tracking=mlflow",
            f"tracking.uri={uri}",
            "tracking.experiment_name=outage",
            "tracking.log_system_metrics=false",
            "tracking.log_model=false",
            "tracking.figures_every_n_epochs=0",
            f"paths.cache_dir={cache}",
            "trainer.enable_progress_bar=false",
            "trainer.log_every_n_steps=1",
            "trainer.max_epochs=60",
            "callbacks.early_stopping_patience=0",
            "+data.max_samples.train=64",
            "+data.max_samples.validation=32",
            "+data.max_samples.test=32",
        ],
    )
    return run_train(cfg, tmp_path / "run")


def _check_server(uri: str, run_dir: Path, outages: Outages) -> Any:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("outage")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    for key in run.data.metrics:
        steps = Counter(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert max(steps.values()) == 1, f"{key} logged twice at one step: {steps.most_common(3)}"
    # Every training step reached the server: one train/loss point per batch Lightning ran.
    loss_steps = {m.step for m in client.get_metric_history(run.info.run_id, "train/loss")}
    assert len(loss_steps) == len(outages.times)
    epochs = 1 + max(e for e, _, _ in outages.times)
    assert len(client.get_metric_history(run.info.run_id, "val/macro_f1")) == epochs
    assert "test/macro_f1" in run.data.metrics and run.data.params["trainer.log_every_n_steps"] == "1"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.json", "labels.json", "predictions"} <= artifacts
    return run


def test_server_frozen_then_killed_and_restarted_mid_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_cache: Path
) -> None:
    """SIGSTOP 15 s (calls time out, then the frozen requests land), then SIGKILL and a restart."""
    server = Server(tmp_path)
    server.start()

    def script(events: list[tuple[str, float]]) -> None:
        for action, wait_s in ((signal.SIGSTOP, 15), (signal.SIGCONT, 8), (signal.SIGKILL, 4)):
            events.append((action.name, time.monotonic()))
            server.signal(action)
            time.sleep(wait_s)
        server.start()
        events.append(("restarted", time.monotonic()))

    spool_state = tmp_path / "run" / TRACKING_SPOOL / "state.json"
    # Stop once the writer has caught up: the spool exists and has nothing pending.
    outages = Outages(
        script, at_step=3, until=lambda: spool_state.is_file() and '"pending": 0' in spool_state.read_text()
    )
    try:
        result = _train(tmp_path, server.uri, outages, monkeypatch, shared_cache)
        assert result is not None
        print("\n" + outages.report())
        assert max(LOG_CALLS) < MAX_LOG_CALL_S, outages.report()
        assert outages.longest_pause() < MAX_PAUSE_S, outages.report()
        _check_server(server.uri, result.run_dir, outages)
        assert '"pending": 0' in spool_state.read_text()  # replayed by the writer itself
    finally:
        server.stop()


def test_server_down_at_the_end_then_trainer_sync_finishes_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_cache: Path
) -> None:
    """SIGKILL mid-run, no restart before the job ends: the job ends normally, the folder says so."""
    server = Server(tmp_path)
    server.start()

    def script(events: list[tuple[str, float]]) -> None:
        events.append(("SIGKILL", time.monotonic()))
        server.signal(signal.SIGKILL)
        time.sleep(3)

    outages = Outages(script, at_step=3)
    try:
        started = time.monotonic()
        result = _train(tmp_path, server.uri, outages, monkeypatch, shared_cache)
        assert result is not None
        after_last_step = time.monotonic() - outages.times[-1][2]
        print(
            f"\n{outages.report()}; "
            f"test+save+finish after the last step {after_last_step:.1f} s; job {time.monotonic() - started:.1f} s"
        )
        assert max(LOG_CALLS) < MAX_LOG_CALL_S, outages.report()
        assert outages.longest_pause() < MAX_PAUSE_S, outages.report()
        spool = result.run_dir / TRACKING_SPOOL
        state = (spool / "state.json").read_text()
        assert '"job_status": "FINISHED"' in state and '"pending": 0' not in state
        assert "python -m trainer.sync" in (spool / "README.md").read_text()

        server.start()
        sync = subprocess.run(
            [sys.executable, "-m", "trainer.sync", str(result.run_dir)], capture_output=True, text=True, timeout=300
        )
        assert sync.returncode == 0, sync.stderr[-3000:]
        assert "0 pending" in sync.stdout
        _check_server(server.uri, result.run_dir, outages)
        again = subprocess.run(
            [sys.executable, "-m", "trainer.sync", str(result.run_dir)], capture_output=True, text=True, timeout=300
        )
        assert again.returncode == 0 and "0 spooled call(s) sent" in again.stdout  # idempotent
        _check_server(server.uri, result.run_dir, outages)
    finally:
        server.stop()
