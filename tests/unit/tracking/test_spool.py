"""The tracking spool and its replay, and the background writer facing a dead server (issue 13 #10).

Real MLflow clients throughout: an embedded sqlite store takes the replays, and a closed port on
127.0.0.1 is the dead server (connection refused, like a killed ``mlflow server``). One fake, for the
one failure a real client cannot produce on demand: a call the server applied whose answer never came.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException, RestException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from trainer.runs.folder import TRACKING_SPOOL  # noqa: E402
from trainer.tracking.connection import CLIENT_ENV, connect_uri  # noqa: E402
from trainer.tracking.spool import Spool, is_transient, sync_run_folder  # noqa: E402
from trainer.tracking.writer import TrackingWriter  # noqa: E402


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowClient, str]:
    """One real embedded store for the module (creating its tables takes seconds)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    client = connect_uri(uri)
    return client, uri


@pytest.fixture
def store(
    database: tuple[MlflowClient, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[MlflowClient, str, str]:
    """A new RUNNING run in the store: (client, uri, run_id); HTTP clients as connect() sets them up."""
    for name, value in CLIENT_ENV.items():
        monkeypatch.setenv(name, value)
    client, uri = database
    experiment = client.create_experiment(tmp_path.name, artifact_location=(tmp_path / "artifacts").as_uri())
    return client, uri, client.create_run(experiment).info.run_id


def _dead_uri() -> str:
    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _fill(spool: Spool, tmp_path: Path, steps: int = 5) -> None:
    artifact = tmp_path / "staged" / "notes.txt"
    artifact.parent.mkdir(exist_ok=True)
    artifact.write_text("hello", encoding="utf-8")
    spool.append({"op": "batch", "metrics": [], "params": [["lr", "0.001"]], "tags": [["owner", "tests"]]})
    for step in range(steps):
        spool.append({"op": "batch", "metrics": [["train/loss", 1.0 / (step + 1), 1000 + step, step]]})
    spool.append({"op": "artifact", "local": str(artifact), "artifact_path": "extra"})
    spool.append({"op": "terminate", "status": "FINISHED", "end_time": 5000})


def _steps(client: MlflowClient, run_id: str, key: str = "train/loss") -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def test_replay_sends_everything_in_order_once(store: Any, tmp_path: Path) -> None:
    client, uri, run_id = store
    spool = Spool(tmp_path / "run", uri, run_id)
    _fill(spool, tmp_path)
    assert spool.pending() == 8
    assert not (tmp_path / "staged" / "notes.txt").exists()  # moved into the spool, not referenced
    assert spool.replay(client) and spool.pending() == 0
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params == {"lr": "0.001"} and run.data.tags["owner"] == "tests"
    assert _steps(client, run_id) == [0, 1, 2, 3, 4]
    assert [a.path for a in client.list_artifacts(run_id, "extra")] == ["extra/notes.txt"]
    # A second replay (trainer.sync run twice, or after the writer already did it) sends nothing.
    reopened = Spool.open(tmp_path / "run")
    assert reopened.pending() == 0 and reopened.replay(client)
    assert _steps(client, run_id) == [0, 1, 2, 3, 4]
    state = json.loads((tmp_path / "run" / TRACKING_SPOOL / "state.json").read_text())
    assert state["replayed_through"] == state["entries"] == 8 and state["uri"] == uri


class AppliedThenTimedOut:
    """A real client whose ``fail_at``-th log_batch reaches the store but whose answer is lost."""

    def __init__(self, client: MlflowClient, fail_at: int) -> None:
        self._client, self._left = client, fail_at

    def log_batch(self, *args: Any, **kwargs: Any) -> None:
        self._client.log_batch(*args, **kwargs)
        self._left -= 1
        if self._left == 0:
            raise MlflowException("API request to http://x/api/2.0/mlflow/runs/log-batch failed with timeout")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_replay_cut_by_a_lost_answer_resumes_without_duplicates(store: Any, tmp_path: Path) -> None:
    client, uri, run_id = store
    spool = Spool(tmp_path / "run", uri, run_id)
    _fill(spool, tmp_path)
    assert not spool.replay(AppliedThenTimedOut(client, fail_at=3))  # type: ignore[arg-type]
    assert spool.pending() == 6  # the applied-but-unanswered entry still counts as pending
    assert _steps(client, run_id) == [0, 1]
    result = sync_run_folder(tmp_path / "run")
    assert result.done and result.sent == 6
    assert _steps(client, run_id) == [0, 1, 2, 3, 4]  # step 1 is in the store once, not twice
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_refused_call_is_kept_apart_and_the_replay_goes_on(store: Any, tmp_path: Path) -> None:
    client, uri, run_id = store
    client.log_param(run_id, "lr", "0.5")  # params are immutable: the spooled "0.001" will be refused
    spool = Spool(tmp_path / "run", uri, run_id)
    _fill(spool, tmp_path)
    assert spool.replay(client) and spool.pending() == 0 and spool.rejected == 1
    rejected = (tmp_path / "run" / TRACKING_SPOOL / "rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 1 and json.loads(rejected[0])["params"] == [["lr", "0.001"]]
    assert _steps(client, run_id) == [0, 1, 2, 3, 4] and client.get_run(run_id).info.status == "FINISHED"


def test_a_line_cut_by_a_crash_is_ignored(store: Any, tmp_path: Path) -> None:
    client, uri, run_id = store
    spool = Spool(tmp_path / "run", uri, run_id)
    spool.append({"op": "batch", "metrics": [["m", 1.0, 1000, 0]]})
    with (spool.path / "entries.jsonl").open("a") as f:
        f.write('{"op": "batch", "metrics": [["m", 2.0, 10')
    reopened = Spool.open(tmp_path / "run")
    assert reopened.replay(client)
    assert [m.value for m in client.get_metric_history(run_id, "m")] == [1.0]


def test_no_spool_means_nothing_to_sync(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no tracking spool"):
        sync_run_folder(tmp_path)


def test_outage_errors_are_told_from_refusals() -> None:
    assert is_transient(MlflowException("API request to http://h failed with exception ConnectionError"))
    assert is_transient(MlflowException("failed with error code 503 != 200", error_code="TEMPORARILY_UNAVAILABLE"))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": "changed param"}))
    assert not is_transient(ValueError("a bug"))


def test_writer_facing_a_dead_server_never_blocks_and_spools_in_order(store: Any, tmp_path: Path) -> None:
    client, uri, run_id = store
    dead = _dead_uri()
    writer = TrackingWriter(MlflowClient(dead), run_id, dead, tmp_path / "run", retry_every_s=0.2)
    figure_source = tmp_path / "config.yaml"
    figure_source.write_text("a: 1\n", encoding="utf-8")
    slowest = 0.0
    for step in range(50):
        started = time.monotonic()
        writer.log_metrics({"train/loss": 1.0 / (step + 1)}, step)
        slowest = max(slowest, time.monotonic() - started)
    writer.log_artifact(figure_source)
    writer.set_tag("best_checkpoint", "best.ckpt")
    assert slowest < 0.05  # a queue put, whatever the server does
    assert not writer.close("FINISHED", timeout_s=30)
    state = json.loads((tmp_path / "run" / TRACKING_SPOOL / "state.json").read_text())
    assert state["pending"] == 53 and state["job_status"] == "FINISHED" and state["uri"] == dead
    assert "python -m trainer.sync" in (tmp_path / "run" / TRACKING_SPOOL / "README.md").read_text()
    # The server moved: trainer.sync --tracking-uri sends it all there.
    result = sync_run_folder(tmp_path / "run", uri)
    assert result.done and result.sent == 53
    assert _steps(client, run_id) == list(range(50))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["best_checkpoint"] == "best.ckpt"
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.yaml"]


def test_writer_with_a_live_store_sends_directly_and_leaves_no_spool(store: Any, tmp_path: Path) -> None:
    client, uri, run_id = store
    writer = TrackingWriter(client, run_id, uri, tmp_path / "run")
    for step in range(10):
        writer.log_metrics({"train/loss": 0.5}, step)
    assert writer.close("FINISHED")
    assert not (tmp_path / "run" / TRACKING_SPOOL).exists()
    assert _steps(client, run_id) == list(range(10)) and client.get_run(run_id).info.status == "FINISHED"
