"""The k-fold runner: mean ± std over fold runs, from finished folders or by training each fold."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml

from tests.conftest import require_demo_data, tiny_overrides
from trainer.config import compose
from trainer.kfold import run_kfold


def _fake_fold(root: Path, fold: int, f1: float) -> Path:
    """A finished trainer.train folder, reduced to the two files the summary reads."""
    run = root / f"fold{fold}"
    run.mkdir(parents=True)
    config = {"data": {"name": "toy", "split": {"strategy": "files", "fold": fold}}, "model": {"name": "tiny"}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    split = {
        "overall": {"f1": f1, "accuracy": f1 + 0.05},
        "per_class": {"HS": {"f1": f1}, "not_HS": {"f1": f1 + 0.1}},
        "per_language": {"id": {"n": 10, "f1": f1}},
        "thresholds": [0.4],
    }
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "main_metric": "f1",
                "test": split,
                "validation": split,
                "best_epoch_score": f1,
                "best_checkpoint": "best.ckpt",
            }
        )
    )
    return run


def test_summary_of_finished_fold_runs(tmp_path: Path) -> None:
    scores = [0.85, 0.87, 0.86]
    runs = [_fake_fold(tmp_path / "runs", k, f1) for k, f1 in zip((2, 0, 1), scores, strict=True)]
    cfg = compose("kfold", ["experiment=demo_tiny", "tracking=none", f"from_runs=[{','.join(map(str, runs))}]"])
    summary = run_kfold(cfg, tmp_path / "summary")
    assert summary["folds"] == [0, 1, 2] and summary["main_metric"] == "f1"
    stats = summary["mean_std"]["test"]["f1"]
    assert stats["mean"] == pytest.approx(statistics.fmean(scores))
    assert stats["std"] == pytest.approx(statistics.stdev(scores)) and stats["n"] == 3
    assert summary["mean_std"]["test_per_class_f1"]["not_HS"]["mean"] == pytest.approx(0.96)
    assert summary["mean_std"]["validation_per_language"]["id"]["mean"] == pytest.approx(0.86)
    assert json.loads((tmp_path / "summary" / "kfold_summary.json").read_text())["per_fold"][0]["test_f1"] == 0.87
    assert summary["mlflow_parent_run_id"] is None


def test_runs_of_different_datasets_are_refused(tmp_path: Path) -> None:
    a, b = _fake_fold(tmp_path / "a", 0, 0.8), _fake_fold(tmp_path / "b", 1, 0.8)
    config = yaml.safe_load((b / "config.yaml").read_text())
    config["data"]["name"] = "other"
    (b / "config.yaml").write_text(yaml.safe_dump(config))
    cfg = compose("kfold", ["experiment=demo_tiny", "tracking=none", f"from_runs=[{a},{b}]"])
    with pytest.raises(ValueError, match="mix datasets"):
        run_kfold(cfg, tmp_path / "summary")


@pytest.mark.integration
def test_imported_folds_become_mlflow_children_of_a_parent(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    runs = [_fake_fold(tmp_path / "runs", k, f1) for k, f1 in enumerate((0.8, 0.9))]
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    cfg = compose(
        "kfold",
        [
            "experiment=demo_tiny",
            "tracking=mlflow",
            f"tracking.uri={uri}",
            "tracking.experiment_name=kfold-test",
            f"from_runs=[{runs[0]},{runs[1]}]",
        ],
    )
    summary = run_kfold(cfg, tmp_path / "summary")
    client = MlflowClient(uri)
    parent = client.get_run(summary["mlflow_parent_run_id"])
    assert parent.data.metrics["test/f1/mean"] == pytest.approx(0.85)
    assert parent.data.metrics["test/f1/std"] == pytest.approx(statistics.stdev([0.8, 0.9]))
    assert parent.info.status == "FINISHED" and parent.data.tags["kfold"] == "parent"
    for fold, run_id in summary["mlflow_child_run_ids"].items():
        child = client.get_run(run_id)
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id and child.data.tags["fold"] == fold
        assert "test/f1" in child.data.metrics


@pytest.mark.integration
def test_each_fold_is_trained_and_summarised(tmp_path: Path) -> None:
    require_demo_data()
    overrides = [o for o in tiny_overrides(tmp_path) if not o.startswith("+data.max_samples")]
    cfg = compose(
        "kfold",
        [*overrides, "data.split.strategy=kfold", "+data.split.folds=3", "folds=[0,2]", "+data.max_samples.train=60"],
    )
    summary = run_kfold(cfg, tmp_path / "run")
    assert summary["folds"] == [0, 2]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.yaml",
        "fold0",
        "fold2",
        "kfold_summary.json",
    ]
    for k in (0, 2):
        fold_config = yaml.safe_load((tmp_path / "run" / f"fold{k}" / "config.yaml").read_text())
        assert fold_config["data"]["split"]["fold"] == k and "folds" not in fold_config


@pytest.mark.integration
def test_trained_folds_are_child_runs_of_a_parent_with_mean_and_std(tmp_path: Path) -> None:
    """Folds trained here (not imported): each fold's own tracker run hangs under the k-fold parent."""
    require_demo_data()
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    overrides = [o for o in tiny_overrides(tmp_path) if not o.startswith(("+data.max_samples", "tracking="))]
    tracking = ["tracking=mlflow", f"tracking.uri={uri}", "tracking.experiment_name=kfold-trained"]
    quiet = ["tracking.log_model=false", "tracking.log_system_metrics=false", "tracking.figures_every_n_epochs=0"]
    split = ["data.split.strategy=kfold", "+data.split.folds=3", "folds=[0,1]", "+data.max_samples.train=60"]
    summary = run_kfold(compose("kfold", [*overrides, *tracking, *quiet, *split]), tmp_path / "run")

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("kfold-trained").experiment_id
    assert len(client.search_runs([experiment])) == 3, "one parent and one run per fold, nothing else"
    parent = client.get_run(summary["mlflow_parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["kfold"] == "parent"
    main = summary["main_metric"]
    fold_scores = [
        json.loads((tmp_path / "run" / f"fold{k}" / "metrics.json").read_text())["test"]["overall"][main]
        for k in (0, 1)
    ]
    assert parent.data.metrics[f"test/{main}/mean"] == pytest.approx(statistics.fmean(fold_scores))
    assert parent.data.metrics[f"test/{main}/std"] == pytest.approx(statistics.stdev(fold_scores))
    children = summary["mlflow_child_run_ids"]
    assert set(children) == {"0", "1"} and None not in children.values()
    for fold, run_id in children.items():
        child = client.get_run(run_id)
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id and child.info.status == "FINISHED"
        assert child.data.metrics[f"test/{main}"] == pytest.approx(fold_scores[int(fold)])


@pytest.mark.integration
def test_a_dry_run_reports_every_folds_data_and_creates_no_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``dry_run=true`` under kfold: each fold's data report, then stop; no parent MLflow run, no model."""
    require_demo_data()
    overrides = [o for o in tiny_overrides(tmp_path) if not o.startswith(("+data.max_samples", "tracking="))]
    store = tmp_path / "mlruns"
    cfg = compose(
        "kfold",
        [
            *overrides,
            "data.split.strategy=kfold",
            "+data.split.folds=3",
            f"tracking.uri=sqlite:///{store}/mlflow.db",
            "model=hub",
            f"model.name_or_path={tmp_path / 'no-such-model'}",  # loading it would fail
            "dry_run=true",
        ],
    )
    assert run_kfold(cfg, tmp_path / "run") == {"dry_run": True, "folds": [0, 1, 2]}
    out = capsys.readouterr().out
    assert out.count("dry run (dry_run=true)") == 3
    assert not store.exists() and not (tmp_path / "run" / "kfold_summary.json").exists()
    assert not list((tmp_path / "run").rglob("*.ckpt"))
