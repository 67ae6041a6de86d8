"""MLflow tracking end to end: what an evaluator finds in MLflow without the run folder.

One tiny run against a real ``mlflow server`` (proxied artifacts, session fixture ``mlflow_server``)
is checked item by item through ``MlflowClient``; then a resume in the embedded sqlite store and a
two-job multirun (parent + child runs).
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.conftest import DEMO_DIR, require_demo_data, train_cli
from trainer.config import compose
from trainer.tracking.params import MAX_PARAM_VALUE, flatten_config
from trainer.train import run_train

pytestmark = pytest.mark.integration

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

LANGS = {"ar", "en", "id", "ms", "my", "th", "tl"}
LABELS = ["incitement", "not_extremist", "propaganda", "recruitment"]
FIGURES = {"confusion_matrix.png", "precision_recall.png", "reliability.png", "per_language.png"}
LONG_VALUE = "x" * (MAX_PARAM_VALUE + 500)


def _tracking(uri: str, experiment: str, *extra: str, rows: tuple[int, int, int] = (160, 140, 140)) -> list[str]:
    """Overrides for a tiny tracked run; ``rows`` caps train/validation/test (140 = the whole demo split)."""
    train, validation, test = rows
    return [
        "experiment=demo_tiny",
        "tracking=mlflow",
        f"tracking.uri={uri}",
        f"tracking.experiment_name={experiment}",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1",
        "callbacks.early_stopping_patience=0",
        f"+data.max_samples.train={train}",
        f"+data.max_samples.validation={validation}",
        f"+data.max_samples.test={test}",
        *extra,
    ]


def _only_run(client: MlflowClient, experiment: str) -> Any:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment} was not created"
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def _artifact_files(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        out |= _artifact_files(client, run_id, item.path) if item.is_dir else {item.path}
    return out


@pytest.fixture(scope="module")
def tracked(mlflow_server: Any, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One 2-epoch tiny run logged to the server, registered as ``<name>@candidate``."""
    require_demo_data()
    tmp = tmp_path_factory.mktemp("tracked")
    experiment, model_name = f"it-{uuid.uuid4().hex[:8]}", f"tiny-{uuid.uuid4().hex[:8]}"
    cfg = compose(
        "train",
        _tracking(
            mlflow_server.uri,
            experiment,
            f"paths.cache_dir={shared_cache}",
            "trainer.max_epochs=2",
            f"tracking.register_model={model_name}",
            "tracking.system_metrics_interval_s=1",
            "+tracking.tags.owner=tests",
            f"+notes={LONG_VALUE}",
        ),
    )
    # Run from an empty folder: anything the client wrote to its own disk would show up here.
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        result = run_train(cfg, tmp / "run")
    finally:
        os.chdir(cwd)
    assert result is not None
    client = MlflowClient(mlflow_server.uri)
    run = _only_run(client, experiment)
    return SimpleNamespace(
        client=client,
        run=run,
        run_id=run.info.run_id,
        run_dir=result.run_dir,
        cwd=tmp,
        model_name=model_name,
        server=mlflow_server,
        download=tmp / "download",
    )


def test_run_finished_with_artifacts_proxied_by_the_server(tracked: SimpleNamespace) -> None:
    assert tracked.run.info.status == "FINISHED"
    assert tracked.run.info.artifact_uri.startswith("mlflow-artifacts:/")
    assert (tracked.server.artifacts_dir / tracked.run.info.experiment_id / tracked.run_id).is_dir()
    assert sorted(p.name for p in tracked.cwd.iterdir()) == ["run"]  # no mlruns/ or mlartifacts/ on the client


def test_params_are_the_whole_flattened_config(tracked: SimpleNamespace) -> None:
    config = yaml.safe_load((tracked.run_dir / "config.yaml").read_text(encoding="utf-8"))
    flat = flatten_config(config)
    params = tracked.run.data.params
    assert len(params) == len(flat)
    assert params["module.optimizer.lr"] == "0.001" and params["trainer.max_epochs"] == "2"
    assert params["notes"].startswith("xxx") and "config.yaml" in params["notes"]
    assert len(params["notes"]) <= MAX_PARAM_VALUE
    # ... and the value that did not fit is whole in the config artifact, identical to the run folder's.
    local = tracked.client.download_artifacts(tracked.run_id, "config.yaml", str(tracked.download))
    assert Path(local).read_bytes() == (tracked.run_dir / "config.yaml").read_bytes()
    assert yaml.safe_load(Path(local).read_text(encoding="utf-8"))["notes"] == LONG_VALUE


def test_tags(tracked: SimpleNamespace) -> None:
    tags = tracked.run.data.tags
    for key in (
        "git_commit",
        "git_dirty",
        "entry_point",
        "model_source",
        "dataset",
        "task",
        "languages",
        "host",
        "version.torch",
        "version.transformers",
        "version.mlflow",
        "version.pytorch-lightning",
    ):
        assert tags.get(key), key
    assert tags["dataset"] == "demo" and tags["task"] == "multiclass" and tags["model_source"] == "tiny"
    assert set(tags["languages"].split(",")) == LANGS
    assert tags["owner"] == "tests"
    assert tags["entry_point"] == "trainer.train"


def test_each_split_is_a_dataset_input_with_digest_and_source(tracked: SimpleNamespace) -> None:
    digests = json.loads((tracked.run_dir / "data_digest.json").read_text())["splits"]
    inputs = {i.dataset.name: i for i in tracked.run.inputs.dataset_inputs}
    assert set(inputs) == {"demo/train", "demo/validation", "demo/test"}
    for split in ("train", "validation", "test"):
        item = inputs[f"demo/{split}"]
        assert item.dataset.digest == digests[split][:32]
        assert json.loads(item.dataset.source)["uri"] == str((DEMO_DIR / f"{split}.csv").resolve())
        tags = {t.key: t.value for t in item.tags}
        assert tags["mlflow.data.context"] == split and tags["split_sha256"] == digests[split]


def test_metrics_per_step_epoch_language_and_class(tracked: SimpleNamespace) -> None:
    client, run_id = tracked.client, tracked.run_id
    history = {k: client.get_metric_history(run_id, k) for k in tracked.run.data.metrics}
    for key, values in history.items():
        steps = Counter(m.step for m in values)
        assert max(steps.values()) == 1, f"{key} logged twice at one step: {steps}"
    train_steps = [m.step for m in history["train/loss"]]
    assert len(train_steps) > 2 and len(history["train/lr"]) == len(train_steps)
    for key in (
        "val/macro_f1",
        "val/loss",
        "val/lang/en/macro_f1",
        "val/lang/th/accuracy",
        "val/class/propaganda/f1",
        "val/class/recruitment/support",
    ):
        assert len(history[key]) == 2, key  # one per epoch
    # Validation metrics computed by the module and by the tracker callback share their steps.
    assert [m.step for m in history["val/macro_f1"]] == [m.step for m in history["val/class/propaganda/f1"]]
    for lang in LANGS:
        assert f"test/lang/{lang}/macro_f1" in history and f"best_val/lang/{lang}/macro_f1" in history
    for label in LABELS:
        assert f"test/class/{label}/f1" in history
    metrics = json.loads((tracked.run_dir / "metrics.json").read_text())
    assert history["test/macro_f1"][0].value == pytest.approx(metrics["test"]["overall"]["macro_f1"])
    assert "calibration/temperature" in history and "baseline_test/macro_f1" in history
    system = {k for k in history if k.startswith("system/")}
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= system


def test_figures_and_run_folder_files_are_artifacts(tracked: SimpleNamespace) -> None:
    files = _artifact_files(tracked.client, tracked.run_id)
    for folder in ("figures/val/epoch_000", "figures/val/epoch_001", "figures/test"):
        assert {f"{folder}/{name}" for name in FIGURES} <= files, folder
    for name in (
        "config.yaml",
        "data_report.json",
        "labels.json",
        "thresholds.json",
        "metrics.json",
        "calibration.json",
        "data_digest.json",
        "run_info.json",
        "README.md",
        "predictions/validation.csv",
        "predictions/test.csv",
        "predictions/baseline_tfidf_validation.csv",  # trainer.ensemble with_baseline_tfidf reads it from a run
        "predictions/baseline_tfidf_test.csv",
    ):
        assert name in files, name
    local = tracked.client.download_artifacts(tracked.run_id, "metrics.json", str(tracked.download))
    assert Path(local).read_bytes() == (tracked.run_dir / "metrics.json").read_bytes()


def test_registered_model_predicts_raw_text_like_the_run(tracked: SimpleNamespace) -> None:
    version = tracked.client.get_model_version_by_alias(tracked.model_name, "candidate")
    assert version.run_id == tracked.run_id
    assert version.tags["dataset"] == "demo" and version.tags["main_metric"] == "macro_f1"
    # dst_path: without it mlflow downloads into a tempfile.mkdtemp() that nothing deletes (79 MB a session).
    (dst := tracked.download / "pyfunc").mkdir(parents=True)
    model = mlflow.pyfunc.load_model(f"models:/{tracked.model_name}@candidate", dst_path=str(dst))
    assert model.metadata.signature is not None and model.metadata.get_input_schema() is not None
    assert model.metadata.saved_input_example_info is not None  # the UI and serving show a real example

    with (tracked.run_dir / "predictions" / "test.csv").open(encoding="utf-8", newline="") as fh:
        expected = {row["id"]: row for row in csv.DictReader(fh)}
    with (DEMO_DIR / "test.csv").open(encoding="utf-8", newline="") as fh:
        raw = [row for row in csv.DictReader(fh) if row["id"] in expected][:12]
    out = model.predict([row["text"] for row in raw])  # raw, un-normalised text
    assert list(out.columns) == ["label", *(f"score:{label}" for label in LABELS)]
    for (_, got), row in zip(out.iterrows(), raw, strict=True):
        want = expected[row["id"]]
        assert got["label"] == want["pred"]
        for label in LABELS:
            assert got[f"score:{label}"] == pytest.approx(float(want[f"score:{label}"]), abs=1e-4)
    frame = model.predict(pd.DataFrame({"text": [raw[0]["text"]]}))
    assert frame.iloc[0]["label"] == out.iloc[0]["label"]


def test_export_and_compare_read_what_the_tracker_logged(tracked: SimpleNamespace) -> None:
    """The weights travel once, inside the pyfunc model: export finds them there, compare reads their size."""
    from trainer.comparison.evidence import download_evidence
    from trainer.tracking.references import resolve_source

    local_weights = sorted((tracked.run_dir / "model").glob("*.safetensors"))
    assert local_weights
    source = resolve_source(tracked.run_id, tracked.download / "export_source", tracked.server.uri)
    assert source.kind == "mlflow_run" and source.run_id == tracked.run_id
    assert (source.model_dir / "config.json").is_file()
    for path in local_weights:  # the very weights of the run's best model
        assert (source.model_dir / path.name).read_bytes() == path.read_bytes()
    assert (source.run_dir / "labels.json").read_bytes() == (tracked.run_dir / "labels.json").read_bytes()
    size_mb = sum(p.stat().st_size for p in local_weights) / 1e6
    assert tracked.run.data.metrics["model_mb"] == pytest.approx(size_mb)
    evidence = download_evidence(
        tracked.client, tracked.run_id, "test", tracked.download / "evidence", tracked.server.uri
    )
    assert evidence.costs["model_mb"] == pytest.approx(size_mb)


def test_resume_continues_the_same_run_in_the_embedded_store(shared_cache: Path, tmp_path: Path) -> None:
    """Embedded sqlite store (the default kind): artifacts beside the database; resume keeps the run id."""
    require_demo_data()
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    common = _tracking(
        uri,
        "resume",
        f"paths.cache_dir={shared_cache}",
        "tracking.log_model=false",
        "tracking.figures_every_n_epochs=0",
        "tracking.system_metrics_interval_s=1",
        rows=(96, 42, 42),
    )
    first = run_train(compose("train", [*common, "trainer.max_epochs=1"]), tmp_path / "a")
    assert first is not None
    client = MlflowClient(uri)
    run = _only_run(client, "resume")
    ckpt = tmp_path / "a" / "checkpoints" / "last.ckpt"
    assert (
        run.info.artifact_uri == (tmp_path / "mlruns" / "artifacts" / "resume" / run.info.run_id / "artifacts").as_uri()
    )

    second = run_train(compose("train", [*common, "trainer.max_epochs=2", f"ckpt_path={ckpt}"]), tmp_path / "b")
    assert second is not None
    resumed = _only_run(client, "resume")
    assert resumed.info.run_id == run.info.run_id and resumed.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val/macro_f1")]
    assert len(steps) == 2 and steps[0] < steps[1]
    train_steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert len(train_steps) == len(set(train_steps))
    # Params are immutable: the first value stays, the resumed value is a tag.
    assert resumed.data.params["trainer.max_epochs"] == "1"
    assert resumed.data.tags["resume.trainer.max_epochs"] == "2"
    assert resumed.data.tags["resumed_from_checkpoint"] == str(ckpt)
    system_steps = [m.step for m in client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")]
    assert len(system_steps) == len(set(system_steps))


def test_multirun_is_one_parent_with_child_runs(mlflow_server: Any, shared_cache: Path, tmp_path: Path) -> None:
    require_demo_data()
    experiment = f"sweep-{uuid.uuid4().hex[:8]}"
    args = [
        "-m",
        *_tracking(
            mlflow_server.uri,
            experiment,
            "tracking.log_model=false",
            "tracking.log_system_metrics=false",
            "tracking.figures_every_n_epochs=0",
            "trainer.max_epochs=1",
            rows=(64, 42, 42),
        ),
        "seed=1,2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "++hydra.callbacks.mlflow_sweep._target_=trainer.tracking.sweep.MlflowSweepCallback",
    ]
    proc = train_cli(args, shared_cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(mlflow_server.uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    parents = [r for r in runs if r.data.tags.get("sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(runs) == 3 and len(parents) == 1 and len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert parents[0].info.status == "FINISHED" and all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.data.params["seed"] for c in children) == ["1", "2"]
