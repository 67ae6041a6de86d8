"""The Node.js reference client (clients/node) on a real tiny bundle, run by a real ``node`` process.

It must pass every conformance vector of the bundle on both graphs, fail (exit 1, naming vector and stage)
on a vector that was altered, normalise like the Python normaliser on every rule, and predict what the
Python predictor predicts. ``npm ci --ignore-scripts`` installs its pinned packages when ``node_modules``
is absent (seconds; the install script of onnxruntime-node only fetches GPU binaries, hence
``--ignore-scripts``); without node, or where npm cannot reach a registry, the tests skip saying why.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT, require_demo_data
from tests.e2e.eval_support import shared_bundle, shared_run
from tests.unit.data.test_normalize_spec import CASES

pytestmark = pytest.mark.integration

CLIENT = PROJECT_ROOT / "clients" / "node"
TEXTS = [
    "join the fight @someone https://x.co/a",
    "lovely weather today",
    "Pemerintah mengadakan rapat tentang cuaca minggu depan.",
    "การประชุมเรื่องสภาพอากาศจะจัดขึ้นในสัปดาห์หน้า",
    r"lucu \xf0\x9f\x98\x82 USER USER bgt",
    "",
    "a long post " * 80,
]


def _install(npm: str) -> None:
    """``npm ci --ignore-scripts`` into clients/node/node_modules, once, under a lock (parallel sessions)."""
    with (Path(tempfile.gettempdir()) / "trainer-node-client-npm.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (CLIENT / "node_modules" / "onnxruntime-node").is_dir():
            return
        try:
            proc = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
                cwd=CLIENT,
                capture_output=True,
                text=True,
                timeout=240,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm ci --ignore-scripts took over 240 s (no registry reachable?)")
        if proc.returncode != 0:
            pytest.skip(f"npm ci --ignore-scripts failed (offline, no registry?): {proc.stderr.strip()[-500:]}")


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not on PATH: the Node.js client tests need node >= 18 (and npm to install its packages)")
    major = int(
        subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v").split(".")[0]
    )
    if major < 18:
        pytest.skip(f"node {major} is too old for clients/node (needs >= 18)")
    if not (CLIENT / "node_modules" / "onnxruntime-node").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("clients/node/node_modules is absent and npm is not on PATH to install it")
        _install(npm)
    return exe


@pytest.fixture(scope="module")
def bundle(shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_demo_data()
    base = tmp_path_factory.getbasetemp()
    return shared_bundle(base, shared_run(base, shared_cache))


def client(node: str, bundle: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, str(CLIENT / "cli.js"), str(bundle), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def jsonl(rows: list[Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_node_client_passes_every_conformance_vector(node: str, bundle: Path, precision: str) -> None:
    vectors = json.loads((bundle / "conformance.json").read_text())
    proc = client(node, bundle, "--precision", precision, "--conformance")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["failures"] == [] and report["vectors"] == len(vectors["vectors"]) >= 20
    assert report["graph"] == vectors["graphs"][precision]["graph"]


def test_node_client_names_the_vector_and_stage_that_differ(node: str, bundle: Path, tmp_path: Path) -> None:
    """A bundle whose vectors were altered: exit 1, each failing vector named with its first differing stage."""
    from trainer.serving.conformance import ConformanceError, check_conformance

    altered = tmp_path / "bundle"
    altered.mkdir()
    for path in bundle.iterdir():
        if path.name != "conformance.json":
            (altered / path.name).symlink_to(path)
    data = json.loads((bundle / "conformance.json").read_text())
    by_name = {v["name"]: v for v in data["vectors"]}
    by_name["user_runs"]["normalized"] += "!"
    by_name["nfc"]["token_ids"][1] += 1
    by_name["empty"]["outputs"]["int8"]["logits"][0] += 0.5
    (altered / "conformance.json").write_text(json.dumps(data))
    proc = client(node, altered, "--conformance")
    assert proc.returncode == 1, proc.stderr[-3000:]
    failures = {(f["vector"], f["stage"]) for f in json.loads(proc.stdout)["failures"]}
    assert failures == {("user_runs", "normalized"), ("nfc", "token_ids"), ("empty", "logits")}
    assert "vector user_runs (int8): normalized differs" in proc.stderr
    # The Python checker finds the same three (its own report names the graph too).
    with pytest.raises(ConformanceError, match=r"vector 'user_runs' \(int8\): normalized differs") as err:
        check_conformance(altered, "int8")
    assert {(f["vector"], f["stage"]) for f in err.value.failures} == failures


def test_node_normaliser_matches_python_on_every_rule(node: str, bundle: Path) -> None:
    from trainer.data.normalize import normalize_text
    from trainer.serving.bundle import Bundle

    cfg = Bundle(bundle).normalizer()
    proc = client(node, bundle, "--normalize", stdin=jsonl(CASES))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = [json.loads(line)["normalized"] for line in proc.stdout.splitlines()]
    assert got == [normalize_text(t, cfg) for t in CASES]


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_node_predictions_match_the_python_predictor(node: str, bundle: Path, precision: str) -> None:
    from trainer.serving.predictor import BundlePredictor

    atol = json.loads((bundle / "conformance.json").read_text())["graphs"][precision]["atol_scores"]
    rows = [{"id": i, "text": t} for i, t in enumerate(TEXTS)]
    proc = client(node, bundle, "--precision", precision, stdin=jsonl(rows))
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = [json.loads(line) for line in proc.stdout.splitlines()]
    expected = BundlePredictor(bundle, model=precision).predict(TEXTS)
    assert [r["id"] for r in served] == list(range(len(TEXTS)))
    for text, got, want in zip(TEXTS, served, expected, strict=True):
        assert got["label"] == want["label"], text
        assert got["scores"] == pytest.approx(want["scores"], abs=atol), text


def test_node_client_refuses_a_missing_graph_by_name(node: str, bundle: Path, tmp_path: Path) -> None:
    proc = client(node, bundle, "--precision", "fp16", "--conformance")
    assert proc.returncode == 2 and "no fp16 graph" in proc.stderr
