"""The Hydra command line: single runs and multiruns, as a user types them."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, require_demo_data, train_cli, write_csv

pytestmark = pytest.mark.integration


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return train_cli(args, tmp_path / "cache")


def test_multirun_gives_one_folder_per_job(tmp_path: Path) -> None:
    require_demo_data()
    sweep = tmp_path / "sweep"
    proc = _run(
        [
            "-m",
            "experiment=demo_tiny",
            "tracking=none",
            "trainer.max_epochs=1",
            "+data.max_samples.train=64",
            "trainer.enable_progress_bar=false",
            "seed=1,2",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "metrics.json").exists())
    assert [p.name for p in jobs] == ["0_tiny_demo", "1_tiny_demo"]
    for job in jobs:
        assert (job / ".hydra" / "config.yaml").exists() and (job / "train.log").exists()
        assert "test" in json.loads((job / "metrics.json").read_text())
    assert "run folder:" in proc.stdout and "test macro_f1:" in proc.stdout
    # Per language, next to the majority and TF-IDF baselines (README "Quickstart": what make demo prints).
    assert re.search(r"^test macro_f1: [\d.]+ \(majority baseline [\d.]+, TF-IDF [\d.]+\)$", proc.stdout, re.M)
    for lang in ("ar", "en", "id", "ms", "my", "th", "tl"):
        assert re.search(
            rf"^\s+{lang} n=\d+\s+macro_f1=[\d.]+ \(baseline [\d.]+, TF-IDF [\d.]+\)$", proc.stdout, re.M
        ), lang


def test_bad_data_fails_before_training_with_file_row_column(tmp_path: Path) -> None:
    with (PROJECT_ROOT / "data/demo/test.csv").open(encoding="utf-8", newline="") as fh:
        header, first = list(csv.reader(fh))[:2]
    first[header.index("label")] = "sarcasm"
    bad = write_csv(tmp_path / "test.csv", header, [first])
    proc = _run(
        ["experiment=demo_tiny", "tracking=none", f"data.files.test={bad}", f"hydra.run.dir={tmp_path / 'run'}"],
        tmp_path,
    )
    assert proc.returncode != 0
    assert f"file {bad}, row 1 (line 2), column 'label'" in proc.stderr
    assert "'sarcasm'" in proc.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()
