"""Logging that never blocks training: one background thread sends a run's calls to MLflow.

Before, every ``log_batch`` ran on the training thread with MLflow's retries (~4 min per failing call):
an 82 s outage froze training for 128 s, and a server that never came back crashed the run. Now the
training thread only puts a call on a bounded queue (microseconds). The writer thread sends it; when the
server does not answer (refused, timed out, 5xx) the call and every later one go to the run folder's
:class:`~trainer.tracking.spool.Spool`, in order, and the writer replays the spool every
``retry_every_s`` until the server takes it; then it sends directly again. A call the server refuses
(a bad value) is kept in the spool's ``rejected.jsonl`` with a warning. Nothing here raises into training.
"""

from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from trainer.tracking.spool import Op, Spool, is_transient, send

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000  # calls; at one batch per training step that is minutes of a stalled writer
RETRY_EVERY_S = 5.0
PROBE_TIMEOUT_S = 2.0
CLOSE_TIMEOUT_S = 120.0
_STOP: Op = {"op": "stop"}


class TrackingWriter:
    """Sends one run's logging calls from a background thread; spools them while the server is away.

    Metrics carry the timestamp of the moment they were logged, not of the moment they were sent, so a
    replay writes the same points and the server's history can tell a point it already has.
    """

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        uri: str,
        run_dir: Path,
        *,
        queue_size: int = QUEUE_SIZE,
        retry_every_s: float = RETRY_EVERY_S,
    ) -> None:
        self._client = client
        self.run_id = run_id
        # Steps each metric already holds in the server (set on a resume): never logged a second time.
        self.logged_steps: dict[str, set[int]] = {}
        self.uri = uri
        self.spool = Spool(run_dir, uri, run_id)
        self._queue: queue.Queue[Op] = queue.Queue(maxsize=queue_size)
        self._retry_every_s = retry_every_s
        self._last_attempt = 0.0
        self._give_up_at: float | None = None  # set by close(): after it, spool without sending
        self._staging = Path(tempfile.mkdtemp(prefix="seaguard-tracking-"))
        self._thread = threading.Thread(target=self._run, name=f"mlflow-writer-{run_id[:8]}", daemon=True)
        self._thread.start()

    # -- the training side: never blocks, never raises ------------------------------------------------
    def log_batch(
        self,
        metrics: Iterable[tuple[str, float, int, int]] = (),
        params: Iterable[tuple[str, str]] = (),
        tags: Iterable[tuple[str, str]] = (),
    ) -> None:
        """``metrics``: (key, value, timestamp ms, step); params and tags: (key, value).

        A metric at a step the run already holds (a resumed run redoing the steps between its last checkpoint
        and the crash) is dropped: one value per metric per step.
        """
        kept = [list(m) for m in metrics if m[3] not in self.logged_steps.get(m[0], ())]
        if not kept and not params and not tags:
            return
        op: Op = {"op": "batch", "metrics": kept}
        op["params"], op["tags"] = [list(p) for p in params], [list(t) for t in tags]
        self._put(op)

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self.log_batch(metrics=[(k, float(v), now, step) for k, v in values.items()])

    def set_tag(self, key: str, value: str) -> None:
        self.log_batch(tags=[(key, value)])

    def log_artifact(self, local: Path, artifact_path: str | None = None) -> None:
        """A file or folder, copied now: it may change or vanish before the writer sends it."""
        target = Path(tempfile.mkdtemp(dir=self._staging)) / local.name
        if local.is_dir():
            shutil.copytree(local, target)
        else:
            shutil.copy2(local, target)
        self._put({"op": "artifact", "local": str(target), "artifact_path": artifact_path})

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """A matplotlib figure as ``artifact_file`` (rendered now, on this thread)."""
        folder, _, name = artifact_file.rpartition("/")
        target = Path(tempfile.mkdtemp(dir=self._staging)) / name
        figure.savefig(target)
        self._put({"op": "artifact", "local": str(target), "artifact_path": folder or None})

    def log_inputs(self, datasets: list[dict[str, Any]]) -> None:
        """``[{"dataset": {name, digest, source_type, source, schema, profile}, "tags": [[k, v]]}]``."""
        self._put({"op": "inputs", "datasets": datasets})

    def _put(self, op: Op) -> None:
        try:
            self._queue.put_nowait(op)
        except queue.Full:
            # The writer is stuck on a call: this one goes straight to disk rather than wait for it.
            log.warning("tracking writer queue full (%d calls): spooling directly", self._queue.maxsize)
            self.spool.append(op)

    # -- waiting for it ------------------------------------------------------------------------------
    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until the queue is handled (sent or spooled). True when the server has everything."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks and self.spool.pending() == 0

    @property
    def online(self) -> bool:
        """False while calls wait in the spool (the server did not answer the last attempt)."""
        return self.spool.pending() == 0

    def close(self, status: str, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Terminate the run (sent or spooled like any call) and stop. True when the server has it all."""
        self._give_up_at = time.monotonic() + timeout_s
        terminate = {"op": "terminate", "status": status, "end_time": int(time.time() * 1000)}
        try:
            self._queue.put(terminate, timeout=timeout_s)
        except queue.Full:
            self.spool.append(terminate)
        self._queue.put(_STOP)  # past the deadline the writer only spools: room comes quickly
        # The writer spools everything left once the deadline passes; one call's timeout is the most it can lag.
        self._thread.join(timeout_s + PROBE_TIMEOUT_S + 15)
        stuck = self._thread.is_alive()
        if stuck:  # one call hangs past every timeout: keep what is still queued on disk at least
            log.warning("tracking writer: a call to %s hangs; spooling the calls still queued", self.uri)
            self._drain_to_spool()
        shutil.rmtree(self._staging, ignore_errors=True)
        if stuck or self.spool.pending():
            self.spool.note_finished_locally(status)
            return False
        return True

    def _drain_to_spool(self) -> None:
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                return
            if op is not _STOP:
                self.spool.append(op)

    # -- the writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                op = self._queue.get(timeout=self._retry_every_s)
            except queue.Empty:
                self._retry()
                continue
            try:
                if op is _STOP:
                    self._retry(now=True)
                    return
                self._handle(op)
            except Exception:  # noqa: BLE001 - the writer must outlive any one call (a full disk, a bug)
                log.exception("tracking writer: could not send or spool a %s call to %s", op.get("op"), self.uri)
            finally:
                self._queue.task_done()

    def _handle(self, op: Op) -> None:
        if self.spool.pending() or self._gave_up():
            self.spool.append(op)  # behind what is already waiting: the server gets them in order
            self._retry()
            return
        try:
            send(self._client, self.run_id, op, None)
        except Exception as err:  # noqa: BLE001 - sorted into outage / refusal below
            if not is_transient(err):
                self.spool.reject(op, err)
                return
            log.warning(
                "tracking.uri=%s did not answer (%s): spooling to %s and retrying every %.0f s; training goes on",
                self.uri,
                str(err).splitlines()[0][:200],
                self.spool.path,
                self._retry_every_s,
            )
            self._last_attempt = time.monotonic()
            self.spool.append(op)
            return
        if op["op"] == "artifact":
            shutil.rmtree(Path(op["local"]).parent, ignore_errors=True)

    def _retry(self, now: bool = False) -> None:
        """Replay the spool if it holds anything, at most every ``retry_every_s`` (unless ``now``)."""
        if not self.spool.pending() or self._gave_up():
            return
        if not now and time.monotonic() - self._last_attempt < self._retry_every_s:
            return
        self._last_attempt = time.monotonic()
        if not self._answers():
            return
        waiting = self.spool.pending()
        if self.spool.replay(self._client):
            log.warning("tracking.uri=%s answers again: %d spooled call(s) sent", self.uri, waiting)

    def _answers(self) -> bool:
        """A quick health probe, so an outage costs the writer seconds, not one full call timeout."""
        if not self.uri.startswith(("http://", "https://")):
            return True
        try:
            with urllib.request.urlopen(self.uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S):
                return True
        except urllib.error.HTTPError:
            return True  # it answered: a proxy may guard /health
        except OSError:
            return False

    def _gave_up(self) -> bool:
        return self._give_up_at is not None and time.monotonic() > self._give_up_at
