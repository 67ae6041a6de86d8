"""The logged pyfunc served by MLflow's own REST server, as deployers run it (issue 15 #3).

A tiny run is trained and registered as ``<name>@candidate`` on a real ``mlflow server``
(:mod:`tests.mlflow_server`), then ``mlflow models serve -m models:/<name>@candidate --env-manager local``
is started in its own process group, with the venv's ``bin/`` on PATH (the scoring server runs
``uvicorn`` by name and exits 127 without it), exactly as ``make serve`` does. Both request shapes MLflow
accepts are posted to ``/invocations``:

- ``{"dataframe_split": {"columns": ["text"], "data": [["post 1"], ["post 2"]]}}``
- ``{"inputs": ["post 1", "post 2"]}``

and the answer, ``{"predictions": [{"label": ..., "score:<label>": ...}, ...]}`` (one record per post,
in order), must equal ``mlflow.pyfunc.load_model(...).predict(...)`` on the same posts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import DEMO_DIR, PROJECT_ROOT, require_demo_data
from tests.mlflow_server import _free_port, _healthy, _stop

pytestmark = pytest.mark.integration

mlflow = pytest.importorskip("mlflow")

STARTUP_TIMEOUT_S = 180
POSTS = ["an example post to classify", "Pemerintah mengadakan rapat @USER HTTPURL", "", "x " * 400]


def _demo_posts(n: int = 5) -> list[str]:
    import csv

    with (DEMO_DIR / "test.csv").open(encoding="utf-8", newline="") as fh:
        return [row["text"] for row, _ in zip(csv.DictReader(fh), range(n), strict=False)]


@pytest.fixture(scope="module")
def registered(mlflow_server: Any, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One tiny run, logged and registered through ``run_train`` with ``tracking=mlflow``."""
    from trainer.config import compose
    from trainer.train import run_train

    require_demo_data()
    tmp = tmp_path_factory.mktemp("serve")
    name = f"serve-{uuid.uuid4().hex[:8]}"
    overrides = [
        "experiment=demo_tiny",
        "tracking=mlflow",
        f"tracking.uri={mlflow_server.uri}",
        f"tracking.experiment_name=serve-{uuid.uuid4().hex[:8]}",
        f"tracking.register_model={name}",
        "tracking.log_system_metrics=false",
        f"paths.cache_dir={shared_cache}",
        "trainer.enable_progress_bar=false",
        "trainer.max_epochs=1",
        "+data.max_samples.train=160",
    ]
    run_train(compose("train", overrides), tmp / "run")
    return SimpleNamespace(uri=mlflow_server.uri, model=f"models:/{name}@candidate", tmp=tmp)


@pytest.fixture(scope="module")
def scoring_server(registered: SimpleNamespace) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "MLFLOW_TRACKING_URI": registered.uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    log_file = registered.tmp / "serve.log"
    command = [str(Path(bin_dir) / "mlflow"), "models", "serve", "-m", registered.model]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url, "ping"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace")[-3000:]
                pytest.fail(f"mlflow models serve exited {process.returncode} / timed out:\n{tail}")
            time.sleep(1)
        yield url
    finally:
        _stop(process)  # the whole process group: the server forks uvicorn workers


def _invoke(url: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
    assert set(body) == {"predictions"}, body
    return list(body["predictions"])


def _assert_same(served: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(served) == len(expected)
    for got, want in zip(served, expected, strict=True):
        assert set(got) == set(want) and got["label"] == want["label"]
        for key, value in want.items():
            if key.startswith("score:"):
                assert got[key] == pytest.approx(value, abs=1e-6), key


def test_scoring_server_answers_like_the_loaded_pyfunc(registered: SimpleNamespace, scoring_server: str) -> None:
    posts = _demo_posts() + POSTS
    (dst := registered.tmp / "pyfunc").mkdir()
    model = mlflow.pyfunc.load_model(registered.model, dst_path=str(dst))
    expected = model.predict(posts).to_dict(orient="records")
    assert {"label"} < set(expected[0]) and any(k.startswith("score:") for k in expected[0])

    split = _invoke(scoring_server, {"dataframe_split": {"columns": ["text"], "data": [[p] for p in posts]}})
    _assert_same(split, expected)
    _assert_same(_invoke(scoring_server, {"inputs": posts}), expected)
    assert len({row["label"] for row in split}) >= 1 and split[0] != split[-1]


def test_make_serve_runs_the_same_command_with_the_venv_on_path() -> None:
    """``make serve`` (dry run): the venv's bin/ on PATH, local env manager, the demo store by default."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.run(
        ["make", "-n", "serve", "MODEL=models:/seaguard-demo@candidate", "SERVE_PORT=5123"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if "models serve" in line)
    assert f"PATH={PROJECT_ROOT}/.venv/bin:" in line.replace('"', "")
    assert f"MLFLOW_TRACKING_URI=sqlite:///{PROJECT_ROOT}/mlruns/mlflow.db" in line.replace('"', "")
    assert "-m models:/seaguard-demo@candidate --env-manager local -h 127.0.0.1 -p 5123" in line.replace('"', "")
    missing = subprocess.run(["make", "serve"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert missing.returncode != 0 and "make serve MODEL=models:/<name>@<alias>" in missing.stdout + missing.stderr
