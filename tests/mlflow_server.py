"""A real ``mlflow server`` for the tracking tests, started once per test session.

sqlite backend, proxied artifacts (``--serve-artifacts``) stored in a temp folder that only the
server writes: clients upload over HTTP, as they would to a team server. Started in its own process
group and stopped by killing the group, because the server runs uvicorn workers as child processes.
Registered as a fixture by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 120


@dataclass(frozen=True)
class MlflowServer:
    uri: str
    artifacts_dir: Path
    log_file: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(uri: str, path: str = "health") -> bool:
    """The server at ``uri`` answers 200 on ``path`` (``mlflow server``: health; ``mlflow models serve``: ping)."""
    try:
        with urllib.request.urlopen(f"{uri}/{path}", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    root = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    artifacts = root / "artifacts"
    log_file = root / "server.log"
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow_cli),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(artifacts),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # The job runner (GenAI evaluation jobs) spawns workers and slows startup; these tests need none.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(uri):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"mlflow server did not become healthy at {uri}; log tail:\n{tail}")
            time.sleep(0.5)
        yield MlflowServer(uri, artifacts, log_file)
    finally:
        _stop(process)
