"""Tiny end-to-end training runs on the bundled demo data, one per task type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import crash_and_resume, require_demo_data, tiny_overrides
from trainer.config import compose
from trainer.train import run_train

pytestmark = pytest.mark.integration

RUN_FILES = {
    "README.md",
    "config.yaml",
    "labels.json",
    "thresholds.json",
    "metrics.json",
    "data_report.json",
    "data_digest.json",
    "run_info.json",
    "model/config.json",
    "model/model.safetensors",
    "model/tokenizer.json",
    "model/tokenizer_config.json",
    "checkpoints/best.ckpt",
    "checkpoints/last.ckpt",
    "calibration.json",
    "predictions/validation.csv",
    "predictions/test.csv",
    "predictions/baseline_tfidf_test.csv",
    "predictions/baseline_tfidf_validation.csv",
}


def _files(run_dir: Path) -> set[str]:
    return {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("data", "labels", "main", "weights"),
    [
        ("demo", ["incitement", "not_extremist", "propaganda", "recruitment"], "macro_f1", "class_weights=balanced"),
        ("demo_binary", ["extremist", "not_extremist"], "f1", None),
        ("demo_multilabel", ["incitement", "propaganda", "recruitment"], "macro_f1", "pos_weight=sqrt_balanced"),
    ],
)
def test_tiny_run_per_task_type(tmp_path: Path, data: str, labels: list[str], main: str, weights: str | None) -> None:
    require_demo_data()
    extra = [f"module.{weights}"] if weights else []
    cfg = compose("train", tiny_overrides(tmp_path, f"data={data}", f"module.main_metric={main}", *extra))
    result = run_train(cfg, tmp_path / "run")
    assert result is not None
    run = result.run_dir
    assert _files(run) == RUN_FILES

    label_map = json.loads((run / "labels.json").read_text())
    assert label_map["names"] == labels
    model_cfg = json.loads((run / "model/config.json").read_text())
    assert list(model_cfg["id2label"].values()) == labels  # labels survive into the transformers folder

    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert metrics[split]["main_metric"] == main
        assert set(metrics[split]["per_language"]) == {"ar", "en", "id", "ms", "my", "th", "tl"}
        assert set(metrics[split]["per_class"]) == set(labels)
    # Loss weights named by mode are computed from the training counts and recorded.
    used = {k: v for k, v in metrics["loss_weights"].items() if v is not None}
    if weights is None:
        assert used == {}
    else:
        key = weights.split("=")[0]
        assert list(used) == [key] and len(used[key]) == len(labels) and min(used[key]) > 0
        assert max(used[key]) > min(used[key])  # the demo labels are not perfectly balanced
    thresholds = json.loads((run / "thresholds.json").read_text())["thresholds"]
    assert (thresholds is None) == (data == "demo")
    if data == "demo_multilabel":
        assert len(thresholds) == 3

    calibration = json.loads((run / "calibration.json").read_text())
    assert calibration["method"] == ("temperature_scaling" if data == "demo" else "none")
    assert calibration["ece_after/validation"] <= calibration["ece_before/validation"] + 1e-9

    # Saved predictions reproduce the reported test metrics through the same metric code.
    from trainer.data.labels import LabelMap
    from trainer.scoring.metrics import compute_metrics
    from trainer.scoring.predictions import read_predictions

    lm = LabelMap.load(run / "labels.json")
    preds = read_predictions(run / "predictions/test.csv", lm)
    assert len(preds.ids) == metrics["test"]["n"] and len(set(preds.ids)) == len(preds.ids)
    again = compute_metrics(preds.probs, preds.targets, preds.langs, lm, thresholds, main)
    assert again["overall"][main] == pytest.approx(metrics["test"]["overall"][main], abs=1e-4)

    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["name"] == data and saved["model"]["name"] == "tiny"
    report = json.loads((run / "data_report.json").read_text())
    assert sum(report["rows"].values()) > 300
    info = json.loads((run / "run_info.json").read_text())
    assert info["git"]["commit"] is None or len(info["git"]["commit"]) == 40
    assert info["versions"]["torch"] and info["tokenisation_cache"]["hit"] is False
    # Every row of every split is in the truncation counts, once per class (single-label) or per positive label.
    cut = info["truncation"]
    assert cut["max_length"] == saved["model"]["max_length"]
    assert {s: v["rows"] for s, v in cut["splits"].items()} == report["rows"]
    if data != "demo_multilabel":
        assert all(sum(n for n, _ in v["per_class"].values()) == v["rows"] for v in cut["splits"].values())


def test_second_run_reuses_tokenisation_cache_and_resume_continues(tmp_path: Path, monkeypatch) -> None:
    require_demo_data()
    import trainer.data.tokenized as tokenized

    calls: list[int] = []
    original = tokenized._tokenize_fresh
    monkeypatch.setattr(tokenized, "_tokenize_fresh", lambda *a, **k: calls.append(1) or original(*a, **k))

    first = run_train(compose("train", tiny_overrides(tmp_path, "trainer.max_epochs=1")), tmp_path / "a")
    assert first is not None and not first.cache_hit and calls == [1]
    second = run_train(compose("train", tiny_overrides(tmp_path, "trainer.max_epochs=1")), tmp_path / "b")
    assert second is not None and second.cache_hit and calls == [1]  # tokenizer not called again

    # A changed max length is a different cache entry.
    third = run_train(
        compose("train", tiny_overrides(tmp_path, "trainer.max_epochs=1", "model.max_length=32")), tmp_path / "c"
    )
    assert third is not None and not third.cache_hit and calls == [1, 1]

    # Resume from the first run's last checkpoint to 2 epochs: training continues at epoch 1, and the history
    # (kept in the checkpoint) still holds epoch 0 (before issue 13 #6 it held only the epochs after the resume).
    ckpt = tmp_path / "a" / "checkpoints" / "last.ckpt"
    resumed = run_train(
        compose("train", tiny_overrides(tmp_path, "trainer.max_epochs=2", f"ckpt_path={ckpt}")), tmp_path / "d"
    )
    assert resumed is not None
    epochs = [h["epoch"] for h in resumed.metrics["val_history"]]
    assert epochs == [0, 1]
    info = json.loads((tmp_path / "d" / "run_info.json").read_text())
    assert info["epochs_run"] == 2


def test_resume_after_a_crash_is_exact(tmp_path: Path, monkeypatch) -> None:
    """A 2-epoch run that dies after epoch 0, resumed from last.ckpt, ends with the uninterrupted run's weights."""
    require_demo_data()
    overrides = tiny_overrides(tmp_path, "trainer.max_epochs=2", "model.freeze_embeddings=false")
    straight, resumed = crash_and_resume(overrides, tmp_path, monkeypatch)
    assert straight is not None
    assert resumed is not None
    # The whole history, epoch 0 from the checkpoint (issue 13 #6: it used to hold only the resumed epochs).
    assert resumed.metrics["val_history"] == straight.metrics["val_history"]
    # The best checkpoint is the epoch with the best validation main metric (ModelCheckpoint mode=max).
    history = straight.metrics["val_history"]
    main = history[0]["main_metric"]
    assert len(history) == 2
    assert straight.metrics["best_epoch_score"] == pytest.approx(max(e["overall"][main] for e in history))
    weights = {
        p: torch.load(tmp_path / p / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
        for p in ("straight", "resumed")
    }
    assert weights["straight"].keys() == weights["resumed"].keys()
    for name, value in weights["straight"].items():
        assert torch.equal(value, weights["resumed"][name]), name
    assert len(weights["straight"]) > 10
