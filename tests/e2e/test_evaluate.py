"""``python -m trainer.evaluate``: any model (run folder, MLflow run, bundle) on any data config.

One tiny trained run and one bundle are shared with the compare/promote tests (tests/eval_support.py).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT, require_demo_data
from tests.e2e.eval_support import RELABEL, log_run_folder, shared_bundle, shared_run, write_relabelled_demo
from trainer.config import compose, to_container
from trainer.data import ConfigError, DataError, data_spec_from_dict
from trainer.evaluate import EVAL_FILES, cli_args, run_evaluate, settings_from_config

if "mlflow_server" not in dir(sys.modules.get("tests.conftest")):
    from tests.mlflow_server import mlflow_server  # noqa: F401

pytestmark = pytest.mark.integration


def _files(folder: Path) -> set[str]:
    return {p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()}


def _relabelled(data_root: Path, tracking: tuple[str, ...] = (), mapping: str = "demo_relabelled") -> dict[str, Any]:
    cfg = compose(
        "evaluate",
        [
            "model_ref=unused",
            "data=demo_relabelled",
            f"label_mapping={mapping}",
            f"paths.data_root={data_root}",
            *tracking,
        ],
    )
    return to_container(cfg)


@pytest.fixture(scope="module")
def trained(shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_demo_data()
    return shared_run(tmp_path_factory.getbasetemp(), shared_cache)


def test_cli_keeps_the_issue_command_line() -> None:
    assert cli_args(["model=models:/x@champion", "data=demo", "model_ref=y"]) == [
        "model_ref=models:/x@champion",
        "data=demo",
        "model_ref=y",
    ]


def test_own_data_reproduces_training_metrics_and_calibration(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = run_evaluate(str(trained), None, settings_from_config({}), out)
    assert _files(out) == set(EVAL_FILES)
    assert _files(out / "figures") == {
        "confusion_matrix.png",
        "precision_recall.png",
        "reliability.png",
        "per_language.png",
    }
    training = json.loads((trained / "metrics.json").read_text())
    for name, value in training["test"]["overall"].items():
        assert result.metrics["test"]["overall"][name] == pytest.approx(value, abs=1e-6), name
    for lang, values in training["test"]["per_language"].items():
        assert result.metrics["test"]["per_language"][lang] == pytest.approx(values, abs=1e-6), lang
    # The stored temperature is applied: ECE after scaling matches the training report.
    calibration = json.loads((trained / "calibration.json").read_text())
    ours = json.loads((out / "calibration.json").read_text())
    assert ours["temperature"] == calibration["temperature"] != 1.0
    assert ours["ece_after/test"] == pytest.approx(calibration["ece_after/test"], abs=1e-5)
    assert ours["ece_before/test"] == pytest.approx(calibration["ece_before/test"], abs=1e-5)
    with (out / "predictions" / "test.csv").open() as a, (trained / "predictions" / "test.csv").open() as b:
        assert [r[:4] for r in csv.reader(a)] == [r[:4] for r in csv.reader(b)]


def test_relabelled_data_is_mapped_and_logged_as_a_child_of_the_model_run(
    trained: Path, mlflow_server: Any, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    write_relabelled_demo(tmp_path / "data")
    client = MlflowClient(mlflow_server.uri)
    exp = client.create_experiment(f"eval-{uuid.uuid4().hex[:8]}")
    model_run = log_run_folder(client, exp, trained, {"entry_point": "trainer.train"}, model=True)
    cfg = _relabelled(tmp_path / "data", ("tracking=mlflow", f"tracking.uri={mlflow_server.uri}"))
    result = run_evaluate(
        model_run, data_spec_from_dict(cfg["data"]), settings_from_config(cfg), tmp_path / "out", cfg["tracking"], cfg
    )

    # Same posts, other names: after mapping, the numbers are those of the model's own test set.
    training = json.loads((trained / "metrics.json").read_text())
    assert result.metrics["test"]["overall"]["macro_f1"] == pytest.approx(training["test"]["overall"]["macro_f1"])
    assert result.metrics["dataset"] == "demo_relabelled" and result.model.kind == "mlflow_run"
    with (tmp_path / "out" / "predictions" / "test.csv").open() as fh:
        gold = {row["gold"] for row in csv.DictReader(fh)}
    assert gold == set(RELABEL)  # the model's names, not the file's

    run = client.get_run(result.mlflow_run_id)
    assert run.data.tags["model_run_id"] == model_run
    assert run.data.tags["mlflow.parentRunId"] == model_run
    assert run.info.experiment_id == exp
    assert run.data.tags["eval_dataset"] == "demo_relabelled"
    assert json.loads(run.data.tags["label_mapping"])["neutral"] == "not_extremist"
    assert run.data.metrics["test/macro_f1"] == pytest.approx(result.metrics["test"]["overall"]["macro_f1"])
    assert "calibration/ece_after/test" in run.data.metrics
    logged = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {"metrics.json", "calibration.json", "predictions", "figures", "model.json"} <= logged


def test_unknown_label_names_file_row_and_the_mapping_key(trained: Path, tmp_path: Path) -> None:
    write_relabelled_demo(tmp_path / "data", unknown_label_row=3)
    cfg = _relabelled(tmp_path / "data")
    with pytest.raises(
        DataError,
        match=r"demo_relabelled/test\.csv, row 3 \(line 4\), column 'category'.*"
        r"'sarcasm'.*\+label_mapping\.sarcasm=",
    ):
        run_evaluate(str(trained), data_spec_from_dict(cfg["data"]), settings_from_config(cfg), tmp_path / "o1")
    assert not (tmp_path / "o1").exists()
    cfg = _relabelled(tmp_path / "data", mapping="none")
    with pytest.raises(DataError, match=r"row 1 \(line 2\).*'recruiting' is not one of the labels \[.*\] of the model"):
        run_evaluate(str(trained), data_spec_from_dict(cfg["data"]), settings_from_config(cfg), tmp_path / "o2")
    cfg = _relabelled(tmp_path / "data")
    cfg["label_mapping"]["neutral"] = "harmless"
    with pytest.raises(ConfigError, match=r"label_mapping\.neutral='harmless' is not a label of the model"):
        run_evaluate(str(trained), data_spec_from_dict(cfg["data"]), settings_from_config(cfg), tmp_path / "o3")


def test_cli_scores_a_bundle_with_onnxruntime(
    trained: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    bundle = shared_bundle(tmp_path_factory.getbasetemp(), trained)
    write_relabelled_demo(tmp_path / "data")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer.evaluate",
            f"model={bundle}",
            "data=demo_relabelled",
            "label_mapping=demo_relabelled",
            f"paths.data_root={tmp_path / 'data'}",
            f"out_dir={out}",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = json.loads((out / "model.json").read_text())
    assert model["kind"] == "bundle" and model["scored_with"] == "onnxruntime"
    assert model["temperature"] == json.loads((trained / "calibration.json").read_text())["temperature"]
    metrics = json.loads((out / "metrics.json").read_text())
    training = json.loads((trained / "metrics.json").read_text())
    # int8 may move a score a little, not the tiny model's decisions.
    assert metrics["test"]["overall"]["accuracy"] == pytest.approx(training["test"]["overall"]["accuracy"], abs=0.03)
    assert "test macro_f1:" in proc.stdout and "ECE" in proc.stdout


def test_bundle_without_data_config_is_refused(
    trained: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    bundle = shared_bundle(tmp_path_factory.getbasetemp(), trained)
    with pytest.raises(ConfigError, match="data= is required"):
        run_evaluate(str(bundle), None, settings_from_config({}), tmp_path / "o")
