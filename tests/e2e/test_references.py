"""The one resolver (trainer.tracking.references) against a real embedded store, with only tracking.uri given.

Before the resolver used the given URI for every MLflow call, ``export source=<run id>`` and
``evaluate model=<run id>`` with an explicit ``tracking.uri`` failed with "Logged model with ID 'm-…' not
found" and left a stray ``./mlflow.db`` in the current directory: the logged model's ``models:/m-…`` URI was
resolved against the process-wide default store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import require_demo_data
from trainer.config import compose
from trainer.train import run_train

pytestmark = pytest.mark.integration
pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def embedded_run(shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    require_demo_data()
    tmp = tmp_path_factory.mktemp("references")
    uri = f"sqlite:///{tmp / 'store' / 'mlflow.db'}"
    cfg = compose(
        "train",
        [
            "experiment=demo_tiny",
            "tracking=mlflow",
            f"tracking.uri={uri}",
            "tracking.experiment_name=refs",
            "tracking.register_model=tiny-refs",
            "tracking.figures_every_n_epochs=0",
            "tracking.log_system_metrics=false",
            f"paths.cache_dir={shared_cache}",
            "trainer.enable_progress_bar=false",
            "trainer.max_epochs=1",
            "+data.max_samples.train=96",
            "+data.max_samples.validation=42",
            "+data.max_samples.test=42",
        ],
    )
    result = run_train(cfg, tmp / "run")
    assert result is not None
    from mlflow.tracking import MlflowClient

    (run,) = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("refs").experiment_id])
    return SimpleNamespace(uri=uri, run_id=run.info.run_id, run_dir=result.run_dir, tmp=tmp)


_RESOLVE = """
import json, sys
from pathlib import Path
from trainer.tracking.references import resolve_model, resolve_source
ref, dl, uri = sys.argv[1:4]
source = resolve_source(ref, Path(dl) / "source", uri)
model = resolve_model(ref, Path(dl) / "model", uri)
print(json.dumps({"run_id": source.run_id, "model_dir": str(source.model_dir), "model_run_id": model.run_id}))
"""


@pytest.mark.parametrize("form", ["run_id", "runs_uri", "alias", "version"])
def test_mlflow_references_resolve_with_only_the_given_uri(
    embedded_run: SimpleNamespace, form: str, tmp_path: Path
) -> None:
    """A fresh process (no process-wide tracking URI set by an earlier run), run from an empty folder."""
    ref = {
        "run_id": embedded_run.run_id,
        "runs_uri": f"runs:/{embedded_run.run_id}",
        "alias": "models:/tiny-refs@candidate",
        "version": "models:/tiny-refs/1",
    }[form]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out = subprocess.run(
        [sys.executable, "-c", _RESOLVE, ref, str(tmp_path / "dl"), embedded_run.uri],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["run_id"] == got["model_run_id"] == embedded_run.run_id
    for weights in (embedded_run.run_dir / "model").glob("*.safetensors"):
        assert (Path(got["model_dir"]) / weights.name).read_bytes() == weights.read_bytes()
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_a_reference_into_mlflow_without_any_uri_names_the_key(
    embedded_run: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.tracking.references import SourceError, resolve_source

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(SourceError, match="tracking.uri"):
        resolve_source(embedded_run.run_id, tmp_path, None)
