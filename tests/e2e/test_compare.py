"""``python -m trainer.compare`` against a real MLflow server, on predictions with a known difference.

Four runs share the tiny run's files (tests/eval_support.py) with written test predictions:
``base`` (right 85% of the time), ``thai_broken`` (the same decisions, but every Thai row wrong),
``twin`` (identical to ``base``) and ``other_set`` (scored on a different test set).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT, require_demo_data
from tests.e2e.eval_support import log_run_folder, shared_run, synthetic_run

if "mlflow_server" not in dir(sys.modules.get("tests.conftest")):
    from tests.mlflow_server import mlflow_server  # noqa: F401

pytestmark = pytest.mark.integration


def _other_test_set(run_dir: Path) -> None:
    """Drop ten test rows and say so in the digest, as a run on another version of the data would."""
    lines = (run_dir / "predictions" / "test.csv").read_text(encoding="utf-8").splitlines()
    (run_dir / "predictions" / "test.csv").write_text("\n".join(lines[:-10]) + "\n", encoding="utf-8")
    digest = json.loads((run_dir / "data_digest.json").read_text())
    digest["splits"]["test"] = "0" * 64
    (run_dir / "data_digest.json").write_text(json.dumps(digest))


def _fake_export(folder: Path) -> Path:
    """Just the two files compare reads from an export: the manifest's sizes and the smoke latency."""
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "files": {
                    "model.onnx": {"bytes": 64_000_000, "sha256": "x"},
                    "model.int8.onnx": {"bytes": 16_000_000, "sha256": "y"},
                }
            }
        )
    )
    (folder / "smoke.json").write_text(json.dumps({"latency_ms": {"batch_1_p50": 1.25}}))
    return folder


@pytest.fixture(scope="module")
def compared(mlflow_server: Any, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    from mlflow.tracking import MlflowClient

    require_demo_data()
    template = shared_run(tmp_path_factory.getbasetemp(), shared_cache)
    tmp = tmp_path_factory.mktemp("compare")
    runs = {
        "base": synthetic_run(template, tmp / "base", {"*": 0.85}, seed=1),
        "thai_broken": synthetic_run(template, tmp / "thai_broken", {"*": 0.85}, seed=1, wrong_langs=("th",)),
        "twin": synthetic_run(template, tmp / "twin", {"*": 0.85}, seed=1),
        "other_set": synthetic_run(template, tmp / "other_set", {"*": 0.85}, seed=2),
    }
    _other_test_set(runs["other_set"])
    client = MlflowClient(mlflow_server.uri)
    exp = client.create_experiment(f"cmp-{uuid.uuid4().hex[:8]}")
    group = uuid.uuid4().hex[:8]
    ids = {}
    for name, folder in runs.items():
        ids[name] = log_run_folder(
            client,
            exp,
            folder,
            {"group": group, "mlflow.runName": name},
            bundle=_fake_export(tmp / "export") if name == "twin" else None,
        )
        shutil.rmtree(tmp / "export", ignore_errors=True)
    # A run with nothing to compare (a sweep's parent, say): listed as skipped, never silently dropped.
    ids["parent"] = client.create_run(exp, tags={"group": group, "mlflow.runName": "parent"}).info.run_id
    out = tmp / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer.compare",
            f"+select.tags.group={group}",
            f"baseline={ids['base']}",
            f"tracking.uri={mlflow_server.uri}",
            f"out_dir={out}",
            "stats.n_boot=1000",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "comparison.json").read_text())
    return SimpleNamespace(client=client, ids=ids, out=out, result=result, stdout=proc.stdout, template=template)


def _rows(compared: SimpleNamespace, run: str, scope: str) -> dict[str, dict[str, Any]]:
    pair = compared.result["comparisons"][compared.ids[run]]
    return {r["key"]: r for r in pair[{"language": "languages", "class": "classes", "overall": "overall"}[scope]]}


def test_a_broken_language_is_significant_and_nothing_else_is(compared: SimpleNamespace) -> None:
    langs = _rows(compared, "thai_broken", "language")
    th = langs.pop("th")
    assert th["significant"] and th["direction"] == "worse"
    assert th["delta"] < -0.5 and th["high"] < 0 and th["p"] < 0.01
    assert th["p_mcnemar"] < 0.01 and th["a_only"] > 10 and th["b_only"] == 0
    for lang, row in langs.items():  # identical decisions elsewhere: exactly no difference
        assert (row["delta"], row["p"], row["significant"]) == (0.0, 1.0, False), lang
    statement = next(s for s in compared.result["statements"] if " on th:" in s)
    assert re.search(r"thai_broken is worse than base on th: macro_f1 -0\.\d+ \[.*\], p=0\.00\d+", statement)
    assert statement in compared.stdout


def test_identical_runs_are_not_flagged(compared: SimpleNamespace) -> None:
    pair = compared.result["comparisons"][compared.ids["twin"]]
    assert pair["shared"]
    rows = [*pair["overall"], *pair["languages"], *pair["classes"]]
    assert rows and all(r["delta"] == 0.0 and not r["significant"] for r in rows)
    assert not any(s.startswith("twin ") for s in compared.result["statements"])


def test_a_different_test_set_is_flagged_not_compared(compared: SimpleNamespace) -> None:
    other = compared.ids["other_set"]
    assert "different test sets" in compared.result["not_compared"][other]
    assert set(compared.result["comparisons"][other]) == {"run_id", "shared", "reason"}  # no deltas at all
    assert compared.result["runs"][other]["rows"] == 130  # its own numbers still shown
    assert f"NOT COMPARED other_set ({other})" in compared.stdout
    report = (compared.out / "report.md").read_text()
    assert "## Not compared: different test sets" in report and f"other_set ({other[:8]})" in report
    parent = compared.ids["parent"]
    assert "predictions/test.csv missing" in compared.result["skipped"][parent]["reason"]
    assert "## Skipped: no test predictions" in report and f"SKIPPED parent ({parent})" in compared.stdout


def test_table_has_intervals_and_cost_columns(compared: SimpleNamespace) -> None:
    base = compared.result["runs"][compared.ids["base"]]
    ci = base["metrics"]["macro_f1"]
    assert ci["low"] < ci["value"] < ci["high"]
    info = json.loads((compared.template / "run_info.json").read_text())
    assert base["costs"]["train_time_s"] == info["duration_s"]
    assert base["costs"]["train_samples_per_s"] == pytest.approx(160 * info["epochs_run"] / info["duration_s"])
    twin = compared.result["runs"][compared.ids["twin"]]["costs"]
    assert (twin["int8_mb"], twin["int8_latency_ms"], twin["model_mb"]) == (16.0, 1.25, 64.0)
    assert "| int8 latency ms (p50, batch 1) |" in (compared.out / "report.md").read_text()


def _embedded_pngs(html: str) -> list[np.ndarray]:
    import matplotlib.image

    blobs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    return [matplotlib.image.imread(io.BytesIO(base64.b64decode(b)), format="png") for b in blobs]


def test_report_renders_with_visible_figures(compared: SimpleNamespace, tmp_path: Path) -> None:
    html = (compared.out / "report.html").read_text()
    images = _embedded_pngs(html)
    # metrics, per-language, and one delta plot per run that shares the test set (thai_broken, twin).
    assert len(images) == 4
    for image in images:
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert float(image[..., :3].std()) > 0.05  # not a blank canvas
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return  # the decoded PNGs above are the fallback check
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1280,6000",
            (compared.out / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    import matplotlib.image

    page = matplotlib.image.imread(shot)
    # The forest plot's red marker for Thai: a browser that shows the figures shows red pixels.
    red = (page[..., 0] > 0.7) & (page[..., 1] < 0.3) & (page[..., 2] < 0.3)
    assert red.sum() > 20


def test_report_is_logged_to_mlflow(compared: SimpleNamespace) -> None:
    exp = compared.client.get_experiment_by_name("compare")
    (run,) = compared.client.search_runs([exp.experiment_id], f"tags.baseline_run_id = '{compared.ids['base']}'")
    assert run.data.tags["entry_point"] == "trainer.compare"
    assert run.data.metrics["significant_deltas"] >= 1 and run.data.metrics["runs_not_compared"] == 1
    logged = {a.path for a in compared.client.list_artifacts(run.info.run_id)}
    assert {"report.md", "report.html", "comparison.json", "figures"} <= logged


@pytest.mark.integration
def test_runs_are_selected_by_experiment_run_ids_and_filter(compared: SimpleNamespace) -> None:
    from trainer.data.spec import ConfigError
    from trainer.tracking.run_search import Selection, select_runs

    client, ids = compared.client, compared.ids
    experiment = client.get_experiment(client.get_run(ids["base"]).info.experiment_id).name

    def names(selection: Selection) -> list[str]:
        return [r.info.run_name for r in select_runs(client, selection)]

    assert sorted(names(Selection(experiments=[experiment]))) == sorted(ids)
    assert sorted(names(Selection(run_ids=[ids["twin"], ids["base"]]))) == ["base", "twin"]
    assert names(Selection(experiments=[experiment], filter="tags.mlflow.runName = 'thai_broken'")) == ["thai_broken"]
    # Criteria combine: a run id outside the filter is reported missing, not silently dropped.
    with pytest.raises(ConfigError, match=r"select\.run_ids: .* not found"):
        select_runs(client, Selection(run_ids=[ids["twin"]], filter="tags.mlflow.runName = 'base'"))
    with pytest.raises(ConfigError, match="no experiment named 'no-such-experiment'"):
        select_runs(client, Selection(experiments=["no-such-experiment"]))
    with pytest.raises(ConfigError, match="refusing to compare every run"):
        select_runs(client, Selection())


def test_the_report_run_lands_beside_the_embedded_store(
    shared_cache: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a ``sqlite:///`` store the ``compare`` experiment keeps its artifacts in ``<db dir>/artifacts/compare``
    (as every other experiment), not in ``./mlruns`` of whatever folder compare ran from."""
    from mlflow.tracking import MlflowClient

    from trainer.compare import Selection, StatsSettings, run_compare
    from trainer.tracking.connection import local_artifact_location

    require_demo_data()
    template = shared_run(tmp_path_factory.getbasetemp(), shared_cache)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Before any client exists: MLflow resolves an embedded store's default artifact root against the cwd.
    monkeypatch.chdir(elsewhere)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    client = MlflowClient(uri)
    exp = client.create_experiment("runs", artifact_location=local_artifact_location(uri, "runs"))
    ids = [
        log_run_folder(client, exp, synthetic_run(template, tmp_path / name, {"*": 0.85}, seed=1), {})
        for name in ("a", "b")
    ]
    result = run_compare(uri, Selection(run_ids=ids), ids[0], "test", [], StatsSettings(n_boot=100), tmp_path / "out")

    compare = client.get_experiment_by_name("compare")
    assert compare.artifact_location == local_artifact_location(uri, "compare")
    run = client.get_run(result["mlflow_run_id"])
    assert run.info.artifact_uri.startswith(compare.artifact_location)
    assert {"report.md", "comparison.json"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    assert (tmp_path / "store" / "artifacts" / "compare").is_dir()
    assert not (elsewhere / "mlruns").exists()


def test_cost_columns_come_from_the_precision_table(tmp_path: Path) -> None:
    """Every reduced precision of the table gets a size and a latency column; the smoke latency goes to the
    graph it was measured on (named in smoke.json, else the one ``auto`` serves), never to another."""
    import torch

    from trainer.comparison.evidence import evidence_from_folder
    from trainer.comparison.report import COST_COLUMNS
    from trainer.data.labels import LabelMap
    from trainer.runs.folder import RunFolder
    from trainer.scoring.predictions import write_predictions
    from trainer.serving.precisions import FP32, REDUCED

    assert COST_COLUMNS["int8_mb"] == ("int8 MB", "{:.1f}")
    assert COST_COLUMNS["int8_latency_ms"] == ("int8 latency ms (p50, batch 1)", "{:.2f}")
    assert {p.size_column for p in REDUCED} | {p.latency_column for p in REDUCED} <= set(COST_COLUMNS)
    label_map = LabelMap("binary", ("no", "yes"), positive_index=1)
    run = RunFolder(tmp_path / "run").create()
    run.write_labels(label_map)
    run.write_thresholds(label_map, [0.5], "validation")
    probs = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    write_predictions(
        run.predictions_file("test"), ["a", "b"], ["en", "en"], torch.tensor([0, 1]), probs, label_map, [0.5]
    )
    (tmp_path / "run" / "export").mkdir()
    for i, served in enumerate(REDUCED):
        files = {FP32.graph: {"bytes": 64_000_000}}
        files |= {p.graph: {"bytes": (j + 1) * 1_000_000} for j, p in enumerate(REDUCED)}
        files[served.external_data] = {"bytes": 500_000}
        (tmp_path / "run" / "export" / "manifest.json").write_text(json.dumps({"files": files}))
        smoke = {"graph": served.graph, "latency_ms": {"batch_1_p50": 2.5 + i}}
        (tmp_path / "run" / "export" / "smoke.json").write_text(json.dumps(smoke))
        costs = evidence_from_folder(run.path, "test").costs
        assert costs["model_mb"] == 64.0
        for j, p in enumerate(REDUCED):
            assert costs[p.size_column] == pytest.approx(j + 1 + (0.5 if p is served else 0.0)), p.name
            assert costs[p.latency_column] == (2.5 + i if p is served else None), p.name


def test_reference_baseline_tfidf_pairs_a_run_with_its_own_linear_baseline(
    shared_cache: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """``reference=baseline_tfidf``: one selected run is enough; the reference is the TF-IDF predictions its
    training saved (predictions/baseline_tfidf_test.csv), paired row by row, with an interval per language."""
    from mlflow.tracking import MlflowClient

    from trainer.compare import Selection, StatsSettings, run_compare
    from trainer.comparison.evidence import EvidenceError
    from trainer.tracking.connection import local_artifact_location

    require_demo_data()
    template = shared_run(tmp_path_factory.getbasetemp(), shared_cache)
    classical = template / "predictions" / "baseline_tfidf_test.csv"
    assert classical.is_file()  # every training run saves it
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("runs", artifact_location=local_artifact_location(uri, "runs"))
    ids = {}
    for name, wrong in (("good", ()), ("thai_broken", ("th",))):
        run = synthetic_run(template, tmp_path / name, {"*": 0.95}, seed=1, wrong_langs=wrong)
        shutil.copy2(classical, run / "predictions" / classical.name)
        ids[name] = log_run_folder(client, exp, run, {"mlflow.runName": name})
    stats = StatsSettings(n_boot=500)

    alone = run_compare(
        uri, Selection(run_ids=[ids["good"]]), None, "test", [], stats, tmp_path / "alone", None, "baseline_tfidf"
    )
    ref = alone["baseline"]
    assert ref == f"{ids['good']}:baseline_tfidf" and alone["reference"] == "baseline_tfidf"
    assert alone["runs"][ref]["name"] == "baseline_tfidf of good"
    pair = alone["comparisons"][ids["good"]]
    assert pair["shared"] is True and pair["reason"] == "same data digest"
    langs = {r["key"]: r for r in pair["languages"]}
    assert set(langs) == {"ar", "en", "id", "ms", "my", "th", "tl"}
    assert all(r["tested"] and r["low"] <= r["delta"] <= r["high"] for r in langs.values())
    # The saved decisions are the TF-IDF model's own: its accuracy in the report is that of the file's pred column.
    with classical.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert alone["runs"][ref]["metrics"]["accuracy"]["value"] == pytest.approx(
        sum(r["gold"] == r["pred"] for r in rows) / len(rows), abs=1e-6
    )

    both = run_compare(
        uri,
        Selection(run_ids=list(ids.values())),
        ids["good"],
        "test",
        [],
        stats,
        tmp_path / "both",
        None,
        "baseline_tfidf",
    )
    th = {r["key"]: r for r in both["comparisons"][ids["thai_broken"]]["languages"]}["th"]
    assert th["run"] == 0.0 and th["delta"] < 0 and th["high"] < 0

    (tmp_path / "old").mkdir()
    old = synthetic_run(template, tmp_path / "old", {"*": 0.95}, seed=1)  # trained before the baseline existed
    old_id = log_run_folder(client, exp, old, {"mlflow.runName": "old"})
    with pytest.raises(EvidenceError, match="baseline_tfidf_test.csv"):
        run_compare(uri, Selection(run_ids=[old_id]), None, "test", [], stats, tmp_path / "x", None, "baseline_tfidf")
