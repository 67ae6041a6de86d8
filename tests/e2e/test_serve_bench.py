"""``scripts/bench/serve_bench.py`` at tiny size: the shared tiny run's bundle against its own fp32 model.

Seconds, on the bundled demo posts (``--texts``), so it runs in CI; the real benchmark (HS1 + GermEval, a
me5_small bundle) is the command in docs/benchmarks.md. Checks the report's shape and that both engines
really ran the same posts to the same decisions, not the speed (the tiny model says nothing about it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_DIR, PROJECT_ROOT, require_demo_data
from tests.e2e.eval_support import shared_bundle, shared_run

pytestmark = pytest.mark.integration


def test_serve_bench_runs_end_to_end_on_a_tiny_bundle(
    shared_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    require_demo_data()
    base = tmp_path_factory.getbasetemp()
    run_dir = shared_run(base, shared_cache)
    bundle = shared_bundle(base, run_dir)
    out = tmp_path_factory.mktemp("serve_bench") / "bench.json"
    command = [sys.executable, str(PROJECT_ROOT / "scripts/bench/serve_bench.py"), "--bundle", str(bundle)]
    command += ["--model-dir", str(run_dir / "model"), "--texts", str(DEMO_DIR / "test.csv"), "--rows", "24"]
    command += ["--repeats", "1", "--latency-posts", "4", "--threads", "1", "--out", str(out)]
    proc = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["posts"] == {"test.csv": 24} and report["graph"] == "model.int8.onnx"
    rate = report["throughput_posts_per_s"]
    assert set(rate) == {"int8_predictor", "pipeline_fp32"} and min(rate.values()) > 0
    assert report["ratio"] == pytest.approx(rate["int8_predictor"] / rate["pipeline_fp32"], rel=0.01)
    assert report["same_decisions"] >= 0.9  # same model, int8 against fp32: nearly every post agrees
    for engine in rate:
        lat = report["latency_batch_1"][engine]
        assert 0 < lat["p50_ms"] <= lat["p95_ms"] and lat["posts"] == 4
    assert report["cpu"]["class"] in ("avx2", "avx512_vnni/amx") and len(report["load_average"]["before"]) == 3
    assert report["settings"]["threads"] == 1 and "int8 predictor" in proc.stdout
