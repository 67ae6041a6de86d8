"""The tracking spool: logging calls that could not reach the tracking server, kept in the run folder.

MLflow has no offline mode. While ``tracking.uri`` is unreachable, the tracker's background writer
(:mod:`trainer.tracking.writer`) appends each call here instead, in order, and replays them when the
server answers again; ``python -m trainer.sync <run folder>`` replays what is left after the job ended.
The folder exists only when something was spooled::

    tracking_spool/
      README.md        what this is, and the command that sends it
      entries.jsonl    one call per line, append-only: {"seq": 1, "op": "batch" | "artifact" | ..., ...}
      artifacts/<seq>/ copies of the files an "artifact" entry uploads (taken when it was logged)
      state.json       tracking URI, run id, ``replayed_through`` (last seq the server has), ``pending``
      rejected.jsonl   entries the server refused (a bad value, not an outage), with its answer

Replay is idempotent: ``replayed_through`` advances after each entry the server took, and a metric
already in the server's history at the same (key, step, timestamp, value) is not sent again (a call
that timed out may still have been applied), so nothing is lost and nothing is logged twice.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from trainer.runs.folder import TRACKING_SPOOL, write_json
from trainer.tracking.connection import TrackingError, connect_uri

log = logging.getLogger(__name__)

ENTRIES = "entries.jsonl"
STATE = "state.json"
REJECTED = "rejected.jsonl"
ARTIFACTS = "artifacts"
README = "README.md"

Op = dict[str, Any]


class SpoolError(RuntimeError):
    """A spool folder that cannot be read; the message names the file."""


def is_transient(err: BaseException) -> bool:
    """True when the same call may succeed later: unreachable, timed out, overloaded (5xx, 429).

    A server's own MLflow error (bad value, unknown run) is final: replaying it would fail forever.
    """
    if isinstance(err, RestException):
        return err.get_http_status_code() >= 500 or err.get_http_status_code() == 429
    if isinstance(err, MlflowException):  # no MLflow answer: connection refused, timeout, a proxy's 503
        return err.get_http_status_code() >= 500 or err.get_http_status_code() in (408, 429)
    if isinstance(err, requests.HTTPError) and err.response is not None:  # artifact uploads
        return err.response.status_code >= 500 or err.response.status_code in (408, 429)
    return isinstance(err, OSError)  # requests' connection errors and timeouts are OSErrors


# -- sending one entry ---------------------------------------------------------------------------------
def send(client: MlflowClient, run_id: str, op: Op, base: Path | None, seen: MetricHistory | None = None) -> None:
    """Perform one logging call. ``base``: where an artifact entry's ``path`` is relative to.

    ``seen``: during a replay, the server's metric history, so a metric it already holds is skipped.
    """
    kind = op["op"]
    if kind == "batch":
        metrics = [Metric(k, v, ts, step) for k, v, ts, step in op.get("metrics", ())]
        if seen is not None:
            metrics = seen.missing(client, run_id, metrics)
        params = [Param(k, v) for k, v in op.get("params", ())]
        tags = [RunTag(k, v) for k, v in op.get("tags", ())]
        if metrics or params or tags:
            client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
    elif kind == "artifact":
        # Spooled: a copy inside the spool; live: the writer's staged copy.
        local = base / op["path"] if base is not None and "path" in op else Path(op["local"])
        if local.is_dir():
            client.log_artifacts(run_id, str(local), op.get("artifact_path"))
        else:
            client.log_artifact(run_id, str(local), op.get("artifact_path"))
    elif kind == "inputs":
        datasets = [
            DatasetInput(Dataset(**d["dataset"]), [InputTag(k, v) for k, v in d["tags"]]) for d in op["datasets"]
        ]
        client.log_inputs(run_id, datasets=datasets)
    elif kind == "terminate":
        client.set_terminated(run_id, op["status"], end_time=op.get("end_time"))
    else:
        raise SpoolError(f"unknown tracking spool entry op={kind!r} (seq {op.get('seq')})")


class MetricHistory:
    """The server's values per metric key, fetched once per key during one replay."""

    def __init__(self) -> None:
        self._known: dict[str, set[tuple[int, int, float]]] = {}

    def missing(self, client: MlflowClient, run_id: str, metrics: list[Metric]) -> list[Metric]:
        out = []
        for m in metrics:
            if m.key not in self._known:
                self._known[m.key] = {(h.step, h.timestamp, h.value) for h in client.get_metric_history(run_id, m.key)}
            point = (m.step, m.timestamp, m.value)
            if point not in self._known[m.key]:
                self._known[m.key].add(point)
                out.append(m)
        return out


# -- the folder ----------------------------------------------------------------------------------------
class Spool:
    """``<run folder>/tracking_spool``: append, read back, replay. Safe to share between threads."""

    def __init__(self, run_dir: Path, uri: str, run_id: str) -> None:
        self.run_dir = run_dir
        self.path = run_dir / TRACKING_SPOOL
        self.uri = uri
        self.run_id = run_id
        self._lock = threading.Lock()
        self._next_seq = 1
        self._replayed_through = 0
        self._rejected = 0

    @classmethod
    def open(cls, run_dir: Path) -> Spool:
        """The spool a finished (or crashed) job left in ``run_dir``."""
        state_file = run_dir / TRACKING_SPOOL / STATE
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpoolError(f"{state_file}: no tracking spool here (nothing waits to be sent)") from None
        except json.JSONDecodeError as err:
            raise SpoolError(f"{state_file}: not valid JSON ({err})") from None
        spool = cls(run_dir, state["uri"], state["run_id"])
        spool._replayed_through = int(state.get("replayed_through", 0))
        spool._rejected = int(state.get("rejected", 0))
        last = max((e["seq"] for e in spool._read()), default=0)
        spool._next_seq = last + 1
        return spool

    @property
    def exists(self) -> bool:
        return self.path.is_dir()

    @property
    def rejected(self) -> int:
        return self._rejected

    def pending(self) -> int:
        """How many entries the server does not have yet."""
        return self._next_seq - 1 - self._replayed_through

    def append(self, op: Op) -> int:
        """Add one call (an artifact entry's ``local`` file or folder is moved in); returns its seq."""
        with self._lock:
            self._create()
            seq = self._next_seq
            entry = {k: v for k, v in op.items() if k != "local"}
            entry["seq"] = seq
            if "local" in op:
                target = self.path / ARTIFACTS / str(seq) / Path(op["local"]).name
                target.parent.mkdir(parents=True)
                shutil.move(op["local"], target)
                entry["path"] = target.relative_to(self.path).as_posix()
            with (self.path / ENTRIES).open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._next_seq = seq + 1
            self._save_state()
            return seq

    def replay(self, client: MlflowClient) -> bool:
        """Send every pending entry in order; stops at the first outage. True when nothing is left."""
        seen = MetricHistory()
        while True:
            with self._lock:
                todo = [e for e in self._read() if e["seq"] > self._replayed_through]
            if not todo:
                return True
            for entry in todo:
                try:
                    send(client, self.run_id, entry, self.path, seen)
                except Exception as err:  # noqa: BLE001 - sorted into outage / refusal below
                    if is_transient(err):
                        log.info("tracking spool: %s still unreachable (%s)", self.uri, _short(err))
                        return False
                    self.reject(entry, err)
                with self._lock:
                    self._replayed_through = entry["seq"]
                    self._save_state()

    def note_finished_locally(self, status: str) -> None:
        """The job ended with entries still here: state.json and the log say what to run."""
        with self._lock:
            self._save_state(job_status=status)
        log.warning(
            "tracking.uri=%s is unreachable: %d logging call(s) of run %s wait in %s; "
            "send them with: python -m trainer.sync %s",
            self.uri,
            self.pending(),
            self.run_id,
            self.path,
            self.run_dir,
        )

    # -- internals ---------------------------------------------------------------------------------
    def _create(self) -> None:
        if self.path.is_dir():
            return
        self.path.mkdir(parents=True)
        (self.path / README).write_text(
            "# Tracking spool\n\n"
            f"The tracking server ({self.uri}) could not be reached while this run was logging, so the\n"
            f"calls it missed (run {self.run_id}) were kept here, in order, to be sent when it answers.\n"
            "The training job sends them itself when the server comes back; `state.json` says how many\n"
            "are still pending. To send the rest later (it also finishes the run on the server):\n\n"
            f"    python -m trainer.sync {self.run_dir}\n",
            encoding="utf-8",
        )

    def _read(self) -> Iterator[Op]:
        file = self.path / ENTRIES
        if not file.is_file():
            return
        with file.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.endswith("\n"):
                    break  # a line cut by a crash mid-write: its call was never acknowledged either
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise SpoolError(f"{file}: line {n} is not valid JSON ({err})") from None

    def reject(self, entry: Op, err: BaseException) -> None:
        """Keep a call the server refused (not an outage: replaying it would fail again), and warn."""
        log.warning(
            "tracking.uri=%s refused a %s call (%s): kept in %s",
            self.uri,
            entry["op"],
            _short(err),
            self.path / REJECTED,
        )
        with self._lock:
            self._create()
            record = {k: v for k, v in entry.items() if k != "local"}
            with (self.path / REJECTED).open("a", encoding="utf-8") as f:
                f.write(json.dumps({**record, "error": str(err)}, ensure_ascii=False) + "\n")
            self._rejected += 1
            self._save_state()

    def _save_state(self, job_status: str | None = None) -> None:
        state = {
            "uri": self.uri,
            "run_id": self.run_id,
            "entries": self._next_seq - 1,
            "replayed_through": self._replayed_through,
            "pending": self.pending(),
            "rejected": self._rejected,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        previous = self.path / STATE
        if job_status is None and previous.is_file():
            job_status = json.loads(previous.read_text(encoding="utf-8")).get("job_status")
        if job_status is not None:
            state["job_status"] = job_status  # how the job ended locally, while the server did not know
        tmp = self.path / (STATE + ".tmp")
        write_json(tmp, state)
        os.replace(tmp, previous)  # a crash mid-write keeps the previous state


# -- python -m trainer.sync -------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    run_dir: Path
    uri: str
    run_id: str
    sent: int
    pending: int
    rejected: int

    @property
    def done(self) -> bool:
        return self.pending == 0

    def summary(self) -> str:
        head = f"run {self.run_id} in {self.uri}: {self.sent} spooled call(s) sent, {self.pending} pending"
        if self.rejected:
            head += f", {self.rejected} refused by the server (see {self.run_dir}/tracking_spool/rejected.jsonl)"
        if self.pending:
            head += f"; the server did not answer: run python -m trainer.sync {self.run_dir} again later"
        return head


def sync_run_folder(run_dir: Path, tracking_uri: str | None = None) -> SyncResult:
    """Send every pending spool entry of ``run_dir`` in order (idempotent: safe to run twice)."""
    try:
        spool = Spool.open(run_dir)
    except SpoolError as err:
        raise SystemExit(f"trainer.sync: {err}") from None
    if tracking_uri:
        spool.uri = tracking_uri
    before = spool.pending()
    rejected_before = spool.rejected
    try:
        client = connect_uri(spool.uri)
    except TrackingError:
        return SyncResult(run_dir, spool.uri, spool.run_id, 0, before, 0)
    spool.replay(client)
    left = spool.pending()
    return SyncResult(run_dir, spool.uri, spool.run_id, before - left, left, spool.rejected - rejected_before)


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:300]
