"""A secret that reaches the config through the environment is in nothing a run logs (issue 13 #4).

The attack from the issue: a shared experiment file puts ``${oc.env:MLFLOW_TRACKING_PASSWORD,none}`` into a
tag. Before, the password landed in an MLflow tag, a param and the ``config.yaml`` artifact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_demo_data, train_cli

pytestmark = pytest.mark.integration
pytest.importorskip("mlflow")

SECRET = "hunter2-s3cr3t-9f8e7d"


def test_an_environment_secret_is_redacted_in_tags_params_and_artifacts(
    shared_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_demo_data()
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    run_dir = tmp_path / "run"
    args = [
        "experiment=demo_tiny",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "+data.max_samples.train=64",
        "+data.max_samples.validation=42",
        "+data.max_samples.test=42",
        "tracking=mlflow",
        f"tracking.uri={uri}",
        "tracking.experiment_name=secrets",
        "tracking.log_model=false",
        "tracking.log_system_metrics=false",
        "tracking.figures_every_n_epochs=0",
        "+tracking.tags.build_id=${oc.env:MLFLOW_TRACKING_PASSWORD,none}",
        "+notes.api_token=literal-token-value",
        f"hydra.run.dir={run_dir}",
    ]
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    proc = train_cli(args, shared_cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("secrets").experiment_id])
    assert run.data.tags["build_id"] == "<redacted>"
    logged = {**run.data.tags, **run.data.params}
    assert not [k for k, v in logged.items() if SECRET in v or "literal-token-value" in v]
    artifact = Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path / "dl")))
    for text in (artifact.read_text(), (run_dir / "config.yaml").read_text()):
        assert SECRET not in text and "literal-token-value" not in text
    assert SECRET not in proc.stdout + proc.stderr
