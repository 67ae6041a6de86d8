"""scripts/bench/eval_order.py on the demo data with the tiny model: both orders score the same logits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT, require_demo_data

SCRIPT = PROJECT_ROOT / "scripts" / "bench" / "eval_order.py"


@pytest.mark.integration
def test_eval_order_bench_scores_both_orders_alike(tmp_path: Path) -> None:
    require_demo_data()
    out = tmp_path / "eval_order.json"
    overrides = [
        "data=demo",
        "model=tiny",
        "model.max_length=64",
        "loader.eval_batch_size=8",
        f"paths.cache_dir={tmp_path}",
    ]
    args = [*overrides, "--rows", "48", "--repeats", "1", "--no-docs", "--out", str(out), "--eval-max-tokens", "128"]
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["rows"] == 48 and result["max_length"] == 64
    assert result["max_abs_logit_diff"] < 1e-4  # the same logits, back in row order
    pad = result["padding_share"]
    assert pad["longest_first"] < pad["row_order"]  # what the order is for
    assert pad["token_budget"] <= pad["longest_first"] and result["budget_speedup"] > 0
    assert all(len(v) == 1 and v[0] > 0 for v in result["seconds"].values())


def _bench_with_doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> tuple[Any, Path]:
    """The bench module, writing its rows into a docs file of ``text`` under ``tmp_path``."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import eval_order
    finally:
        sys.path.remove(str(SCRIPT.parent))
    doc = tmp_path / "benchmarks.md"
    doc.write_text(text, encoding="utf-8")
    monkeypatch.setattr(eval_order, "DOC", doc)
    return eval_order, doc


def test_a_docs_row_goes_under_its_own_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eval_order, doc = _bench_with_doc(
        tmp_path, monkeypatch, "# Benchmarks\n\n## Other\n\n| date | x |\n|---|---|\n| 2026-01-01 | 1 |\n"
    )
    r = {
        "rows": 1583,
        "max_length": 512,
        "median_s": {"row_order": 340.0, "longest_first": 74.0},
        "speedup": 340 / 74,
        "padding_share": {"row_order": 0.9, "longest_first": 0.1},
    }
    eval_order.append_doc(r, "python scripts/bench/eval_order.py")
    eval_order.append_doc(r, "python scripts/bench/eval_order.py again")
    text = doc.read_text(encoding="utf-8")
    other, section = text.split(eval_order.SECTION)
    assert other.count("| 20") == 1  # the other table is untouched
    rows = [line for line in section.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2 and "**4.59×**" in rows[0] and rows[1].endswith("| 90% → 10% |") and "again" in rows[1]


def test_a_budget_row_goes_under_the_budget_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eval_order, doc = _bench_with_doc(tmp_path, monkeypatch, "# Benchmarks\n")
    r = {
        "rows": 800,
        "max_length": 512,
        "eval_max_tokens": 8192,
        "median_s": {"row_order": 99.0, "longest_first": 22.0, "token_budget": 11.0},
        "speedup": 4.5,
        "budget_speedup": 2.0,
        "padding_share": {"row_order": 0.9, "longest_first": 0.46, "token_budget": 0.05},
    }
    eval_order.append_doc(r, "python scripts/bench/eval_order.py --eval-max-tokens 8192")
    text = doc.read_text(encoding="utf-8")
    assert eval_order.SECTION not in text and eval_order.BUDGET_SECTION in text
    row = [line for line in text.splitlines() if line.startswith("| 20")]
    assert len(row) == 1 and "| 8,192 | 22.0 | 11.0 | **2.00×** | 46% → 5% |" in row[0]
