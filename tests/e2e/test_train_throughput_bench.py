"""scripts/bench/train_throughput.py at tiny size on CPU: every variant reports, bucketing pads less."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "train_throughput.py"
VARIANTS = ["hf_default", "hf_best", "fw_random", "fw_bucket", "fw_bucket_pad1", "fw_packed"]
POSITIVE = ["useful_tokens_per_s", "processed_tokens_per_s", "samples_per_s", "median_step_s", "mean_batch_size"]


def _script():
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script executes
    spec.loader.exec_module(module)
    return module


def test_max_tokens_solved_for_the_mean_batch_size() -> None:
    bench = _script()
    lengths = [10 + (i * 7) % 90 for i in range(500)]
    budget, mean = bench.solve_max_tokens(lengths, 8, 32)
    assert mean >= 32
    assert bench.solve_max_tokens(lengths, 8, 16)[0] < budget


@pytest.mark.integration
def test_tiny_run_reports_every_variant(tmp_path: Path) -> None:
    out, docs = tmp_path / "bench.json", tmp_path / "bench.md"
    _script().main(["--tiny", "--variants", ",".join(VARIANTS), "--out", str(out), "--docs", str(docs)])

    report = json.loads(out.read_text())
    assert set(report["results"]) == set(VARIANTS)
    for name, result in report["results"].items():
        for key in POSITIVE:
            assert result[key] > 0, f"{name}.{key}={result[key]}"
        assert 0 <= result["padding_share"] < 1, name
        assert result["peak_rss_mb"] > 0, name
    results = report["results"]
    assert results["fw_bucket"]["padding_share"] < results["fw_random"]["padding_share"]
    # Packed batches are counted from their segments: fewer processed tokens than random batches of the same rows.
    assert results["fw_packed"]["padding_share"] < results["fw_random"]["padding_share"]
    assert results["fw_packed"]["overrides"][0] == "loader=packed"
    assert results["hf_default"]["padding_share"] > results["hf_best"]["padding_share"]
    # Same rows on every side.
    assert len({r["useful_tokens"] for r in results.values()}) == 1
    assert report["ratios"]["fw_bucket/hf_best"] > 0
    assert report["data"]["demo_fallback"] == (report["data"]["name"] == "demo")
    assert "fw_bucket" in docs.read_text().splitlines()[-1]


def test_repeats_report_the_median_run_and_every_rate(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    variants = "hf_best,fw_shipped_bf16"  # bf16 with the fused AdamW: the module clips (Lightning would refuse)
    _script().main(["--tiny", "--variants", variants, "--repeats", "3", "--out", str(out), "--no-docs"])
    results = json.loads(out.read_text())["results"]
    for name in variants.split(","):
        rates = results[name]["useful_tokens_per_s_runs"]
        assert results[name]["repeats"] == 3 and len(rates) == 3
        assert results[name]["useful_tokens_per_s"] == sorted(rates)[1]  # the median run's own figures
    assert "trainer.precision=bf16-mixed" in results["fw_shipped_bf16"]["overrides"]
