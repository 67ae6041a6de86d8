"""scripts/bench/data_scale.py at a tiny size: cold then warm, both caches hit the second time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "bench" / "data_scale.py"


@pytest.mark.integration
def test_data_scale_bench_runs_cold_and_warm(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    args = ["--rows", "1500", "--no-docs", "--out", str(out), "--scratch", str(tmp_path)]
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = json.loads(out.read_text())["results"]
    cold, warm = result["cold"], result["warm"]
    assert result["rows"] == 1500 and sum(cold["rows"].values()) == 1500  # random tweets: nothing dropped
    assert (cold["prepare_cache_hit"], cold["tokenize_cache_hit"]) == (False, False)
    assert (warm["prepare_cache_hit"], warm["tokenize_cache_hit"]) == (True, True)
    assert warm["data_digest"] == cold["data_digest"] and warm["rows"] == cold["rows"]
    for run in (cold, warm):
        assert run["peak_rss_mb"] > 50 and run["wall_s"] > 0
    assert not any(p.name.startswith("data_scale_") for p in tmp_path.iterdir())  # synthetic files removed


def test_synthetic_rows_are_hs1_shaped(tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import data_scale
    finally:
        sys.path.remove(str(SCRIPT.parent))
    files = data_scale.write_synthetic(tmp_path, 200)
    header = Path(files["train"]).read_text().splitlines()[0].split(",")
    assert header == data_scale.HS1_COLUMNS
    from trainer.data import data_spec_from_dict, prepare_data

    data = prepare_data(data_spec_from_dict(data_scale.hs1_config(files)))
    assert data.report.rows == {"train": 160, "validation": 20, "test": 20}
    assert data.label_map.names == ("HS", "not_HS") and data.languages == ["id"]
    texts = [e.text for e in data.splits["train"]]
    assert not any("\\x" in t or "USER USER" in t for t in texts)  # the damage is what the normaliser repairs
