"""``python -m trainer.promote`` and ``python -m trainer.pull`` against a real MLflow server.

A registered model with three versions, each from a run whose test predictions are written to order
(tests/eval_support.py): ``champion`` (right 80% of the time), ``thai_broken`` (better elsewhere, every
Thai row wrong) and ``better`` (right 95% of the time, with the shared export bundle under ``export/``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT, require_demo_data
from tests.e2e.eval_support import log_run_folder, shared_bundle, shared_run, synthetic_run
from trainer.serving.bundle import MANIFEST, BundleError, read_manifest, verify_bundle, write_manifest
from trainer.serving.smoke import SMOKE_FILE, check_smoke
from trainer.tracking.registry import RegistryError

if "mlflow_server" not in dir(sys.modules.get("tests.conftest")):
    from tests.mlflow_server import mlflow_server  # noqa: F401

pytestmark = pytest.mark.integration

# Pull must run where torch is not installed: make it unimportable before anything else loads.
NO_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"


@pytest.fixture(scope="module")
def registry(mlflow_server: Any, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    from mlflow.tracking import MlflowClient

    require_demo_data()
    base = tmp_path_factory.getbasetemp()
    template = shared_run(base, shared_cache)
    bundle = shared_bundle(base, template)
    tmp = tmp_path_factory.mktemp("registry")
    client = MlflowClient(mlflow_server.uri)
    exp = client.create_experiment(f"promote-{uuid.uuid4().hex[:8]}")
    name = f"seaguard-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    folders = {
        "champion": synthetic_run(template, tmp / "champion", {"*": 0.8}, seed=1),
        "thai_broken": synthetic_run(template, tmp / "thai_broken", {"*": 0.95}, seed=1, wrong_langs=("th",)),
        "better": synthetic_run(template, tmp / "better", {"*": 0.95}, seed=1),
    }
    versions = {}
    for key, folder in folders.items():
        run_id = log_run_folder(
            client, exp, folder, {"mlflow.runName": key}, bundle=bundle if key == "better" else None
        )
        versions[key] = client.create_model_version(name, f"runs:/{run_id}/export", run_id=run_id)
    client.set_registered_model_alias(name, "champion", versions["champion"].version)
    return SimpleNamespace(
        client=client, uri=mlflow_server.uri, name=name, versions=versions, bundle=bundle, server=mlflow_server
    )


def _pull_without_torch(argv: list[str]) -> dict:
    """``python -m trainer.pull <argv>`` in a process where torch cannot be imported; its JSON report."""
    code = NO_TORCH + f"from trainer.pull import main; sys.exit(main({argv!r}))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout))


def _champion(registry: SimpleNamespace) -> str:
    return registry.client.get_model_version_by_alias(registry.name, "champion").version


def test_promote_refuses_a_worse_candidate_then_accepts_a_better_one(registry: SimpleNamespace) -> None:
    from trainer.promote import PromoteRules, run_promote

    v = registry.versions
    against = f"models:/{registry.name}@champion"
    # 1. Through the command line: refused (exit 3) with the failing rule explained.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer.promote",
            f"candidate=models:/{registry.name}/{v['thai_broken'].version}",
            f"against={against}",
            f"tracking.uri={registry.uri}",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "REFUSED" in proc.stdout and "[FAIL] no_language_worse: significantly worse on th (n=20)" in proc.stdout
    assert _champion(registry) == v["champion"].version
    tags = registry.client.get_model_version(registry.name, v["thai_broken"].version).tags
    assert tags["promotion.decision"] == "refused" and "th (n=20)" in tags["promotion.reason"]
    assert tags["promotion.against"] == f"{registry.name}/{v['champion'].version}"
    assert any(k.startswith("promotion.history.") for k in tags)
    rules = {r["rule"]: r["passed"] for r in json.loads(tags["promotion.rules"])}
    assert rules == {"shared_test_set": True, "main_metric": True, "no_language_worse": False}

    # 2. A candidate named by its run id: better overall, worse nowhere -> the alias moves.
    decision = run_promote(registry.uri, v["better"].run_id, against, PromoteRules())
    assert decision["decision"] == "promoted", decision["reason"]
    assert _champion(registry) == v["better"].version
    tags = registry.client.get_model_version(registry.name, v["better"].version).tags
    assert tags["promotion.decision"] == "promoted"
    old = registry.client.get_model_version(registry.name, v["champion"].version).tags
    assert old["promotion.replaced_by"] == v["better"].version


def test_pull_verifies_the_champion_and_detects_a_tampered_file(registry: SimpleNamespace, tmp_path: Path) -> None:
    from trainer.pull import pull

    if _champion(registry) != registry.versions["better"].version:  # run alone: promote first
        registry.client.set_registered_model_alias(registry.name, "champion", registry.versions["better"].version)
    # The positional command line, in a process where torch cannot be imported.
    dest = tmp_path / "serving"
    report = _pull_without_torch([f"models:/{registry.name}@champion", str(dest), "--tracking-uri", registry.uri])
    assert report["model"] == f"{registry.name}/{registry.versions['better'].version}"
    assert report["smoke"]["examples"] >= 5 and report["files_verified"] == len(read_manifest(dest)["files"])
    assert report["conformance"]["graphs"] == ["fp32", "int8"] and report["conformance"]["vectors"] >= 10
    verify_bundle(dest)

    # Tamper with the stored copy on the server: same size, other bytes.
    run_id = registry.versions["better"].run_id
    (stored,) = [p for p in registry.server.artifacts_dir.rglob("export/labels.json") if run_id in str(p)]
    original = stored.read_bytes()
    stored.write_bytes(original.replace(b"propaganda", b"propagandA"))
    try:
        with pytest.raises(BundleError, match=r"labels\.json: sha256 differs from the manifest"):
            pull(f"models:/{registry.name}@champion", tmp_path / "tampered", registry.uri)
        assert not (tmp_path / "tampered").exists()
        assert [p.name for p in tmp_path.iterdir()] == ["serving"]  # no partial download left behind
    finally:
        stored.write_bytes(original)


def test_pull_one_precision_takes_its_graph_and_the_serving_files_only(
    registry: SimpleNamespace, tmp_path: Path
) -> None:
    """``--precision int8``: no fp32 graph downloaded, every file taken checked, the folder says what it holds."""
    from trainer.pull import pull
    from trainer.serving.bundle import PULLED
    from trainer.serving.predictor import BundlePredictor

    ref = f"models:/{registry.name}/{registry.versions['better'].version}"
    dest = tmp_path / "int8"
    report = _pull_without_torch([ref, str(dest), "--tracking-uri", registry.uri, "--precision", "int8"])
    listed = set(read_manifest(registry.bundle)["files"])
    assert {p.name for p in dest.iterdir()} == (listed - {"model.onnx"}) | {MANIFEST, PULLED}
    pulled = json.loads((dest / PULLED).read_text())
    assert pulled["precision"] == "int8" and pulled["omitted"] == ["model.onnx"]
    assert report["precision"] == "int8" and report["files_verified"] == len(listed) - 1
    assert report["smoke"]["examples"] >= 5 and report["smoke"]["graph"] == "model.int8.onnx"
    assert report["conformance"]["graphs"] == ["int8"]  # the vectors replayed on the one graph pulled
    texts = ["an example post", "another one @USER HTTPURL"]
    assert BundlePredictor(dest, verify=True).predict(texts) == BundlePredictor(registry.bundle, "int8").predict(texts)
    with pytest.raises(BundleError, match=r"pulled with --precision int8 .*pull again with --precision fp32"):
        BundlePredictor(dest, "fp32")
    with pytest.raises(BundleError, match=r"--precision fp16: the bundle has no model\.fp16\.onnx"):
        pull(ref, tmp_path / "fp16", registry.uri, precision="fp16")

    # The int8 graph altered on the server (same size): refused by name, nothing left behind.
    run_id = registry.versions["better"].run_id
    (stored,) = [p for p in registry.server.artifacts_dir.rglob("export/model.int8.onnx") if run_id in str(p)]
    original = stored.read_bytes()
    middle = len(original) // 2
    stored.write_bytes(original[:middle] + bytes([original[middle] ^ 0xFF]) + original[middle + 1 :])
    try:
        with pytest.raises(BundleError, match=r"model\.int8\.onnx: size or sha256 differs from the manifest"):
            pull(ref, tmp_path / "tampered", registry.uri, precision="int8")
    finally:
        stored.write_bytes(original)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8"]


def test_smoke_examples_catch_a_changed_behaviour(registry: SimpleNamespace, tmp_path: Path) -> None:
    """A bundle re-manifested after an edit verifies byte for byte, but no longer predicts the same."""
    bundle = tmp_path / "bundle"
    shutil.copytree(registry.bundle, bundle)
    assert check_smoke(bundle)["max_abs_diff"] <= 1e-4
    calibration = json.loads((bundle / "calibration.json").read_text())
    calibration["temperature"] *= 3
    (bundle / "calibration.json").write_text(json.dumps(calibration))
    manifest = read_manifest(bundle)
    (bundle / MANIFEST).unlink()
    write_manifest(bundle, {k: v for k, v in manifest.items() if k not in ("format", "files")})
    verify_bundle(bundle)
    with pytest.raises(BundleError, match=r"smoke examples do not reproduce.*example 0 .*scores differ"):
        check_smoke(bundle)
    (bundle / SMOKE_FILE).unlink()
    with pytest.raises(BundleError, match=r"smoke\.json: missing"):
        check_smoke(bundle)


def test_pull_refuses_a_version_without_bundle(registry: SimpleNamespace, tmp_path: Path) -> None:
    from trainer.pull import pull

    with pytest.raises(RegistryError, match=r"has no export bundle.*python -m trainer\.export"):
        pull(f"models:/{registry.name}/{registry.versions['champion'].version}", tmp_path / "x", registry.uri)
    with pytest.raises(RegistryError, match="@nosuchalias"):
        pull(f"models:/{registry.name}@nosuchalias", tmp_path / "y", registry.uri)
    assert not list(tmp_path.iterdir())


def test_evaluate_takes_a_registered_bundle_version(registry: SimpleNamespace, tmp_path: Path) -> None:
    """``model=models:/name@alias`` of a version that export registered as a bundle: scored with onnxruntime."""
    from trainer.config import compose, to_container
    from trainer.data import data_spec_from_dict
    from trainer.evaluate import run_evaluate, settings_from_config

    run_id = registry.versions["better"].run_id
    name = f"onnx-{uuid.uuid4().hex[:8]}"
    registry.client.create_registered_model(name)
    version = registry.client.create_model_version(
        name, f"runs:/{run_id}/export", run_id=run_id, tags={"format": "onnx-bundle"}
    )
    registry.client.set_registered_model_alias(name, "candidate", version.version)
    cfg = to_container(
        compose("evaluate", ["model_ref=unused", "data=demo", "tracking=mlflow", f"tracking.uri={registry.uri}"])
    )
    result = run_evaluate(
        f"models:/{name}@candidate",
        data_spec_from_dict(cfg["data"]),
        settings_from_config(cfg),
        tmp_path / "out",
        cfg["tracking"],
        cfg,
    )
    described = json.loads((tmp_path / "out" / "model.json").read_text())
    assert described["kind"] == "registered_model" and described["scored_with"] == "onnxruntime"
    assert described["version"] == {"name": name, "version": version.version} and described["run_id"] == run_id
    eval_run = registry.client.get_run(result.mlflow_run_id)
    assert eval_run.data.tags["model_version"] == f"{name}/{version.version}"
    assert eval_run.data.tags["mlflow.parentRunId"] == run_id


def test_beat_baseline_tfidf_checks_the_candidate_against_its_own_linear_baseline(
    registry: SimpleNamespace, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """``rules.beat_baseline_tfidf=better``: a first champion too must beat the TF-IDF baseline its training
    saved, overall and on every language with enough rows; one always wrong on Thai does not."""
    from trainer.promote import PromoteRules, run_promote

    template = shared_run(tmp_path_factory.getbasetemp(), shared_cache)
    classical = template / "predictions" / "baseline_tfidf_test.csv"
    name = f"seaguard-{uuid.uuid4().hex[:8]}"
    registry.client.create_registered_model(name)
    exp = registry.client.create_experiment(f"promote-tfidf-{uuid.uuid4().hex[:8]}")
    versions = {}
    for key, wrong in (("perfect", ()), ("thai_broken", ("th",))):
        folder = synthetic_run(template, tmp_path / key, {"*": 1.0}, seed=1, wrong_langs=wrong)
        shutil.copy2(classical, folder / "predictions" / classical.name)
        run_id = log_run_folder(registry.client, exp, folder, {"mlflow.runName": key})
        versions[key] = registry.client.create_model_version(name, f"runs:/{run_id}/export", run_id=run_id)
    rules = PromoteRules(beat_baseline_tfidf="better", n_boot=500)
    against = f"models:/{name}@champion"

    good = run_promote(registry.uri, f"models:/{name}/{versions['perfect'].version}", against, rules, dry_run=True)
    assert [r["rule"] for r in good["rules"]] == ["first_champion", "beats_baseline_tfidf"]
    assert good["decision"] == "dry_run:promoted", good["reason"]
    assert good["comparison_baseline_tfidf"]["shared"] is True

    bad = run_promote(registry.uri, f"models:/{name}/{versions['thai_broken'].version}", against, rules, dry_run=True)
    rule = {r["rule"]: r for r in bad["rules"]}["beats_baseline_tfidf"]
    assert bad["decision"] == "dry_run:refused" and rule["passed"] is False and "th (n=20)" in rule["detail"]
