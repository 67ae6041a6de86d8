"""Shared fixtures: offline by default, small CSV builders, the tiny-model overrides."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.mlflow_server import mlflow_server  # noqa: F401  (session-scoped real MLflow server fixture)

# No test may reach a model hub: offline errors must be ours, not a network timeout.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Under pytest-xdist (`make test`: -n 2) each worker, and the jobs it starts, computes on one thread: two workers
# of two threads each on 2 cores would oversubscribe them. Set before torch is first imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = PROJECT_ROOT / "data" / "demo"
SHARED_DATASETS = Path(os.environ.get("SEAGUARD_DATA_ROOT", PROJECT_ROOT.parent / "shared" / "datasets"))

# Measured with `.ci/run` in a fresh clone: the suite's tmp folders peak at 3.1 GB with one worker (2026-11-28) and
# 4.1 GB with make test's two (2026-12-02; tiny runs keep the real 250k-piece vocabulary). Stop 9's CI died of ENOSPC
# mid-run; the header makes such a failure explain itself.
SUITE_PEAK_GB = 4.1


def _disk_line() -> tuple[str, bool]:
    where = Path(os.environ.get("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir()))
    free_gb = shutil.disk_usage(where).free / 1e9
    low = free_gb < 1.5 * SUITE_PEAK_GB
    return f"disk: {free_gb:.1f} GB free under {where} (the suite peaks at ~{SUITE_PEAK_GB} GB)", low


def pytest_report_header(config: pytest.Config) -> str:
    return _disk_line()[0]


def pytest_sessionstart(session: pytest.Session) -> None:
    line, low = _disk_line()
    if low:  # printed even under -q, which hides the header
        print(f"WARNING {line}: expect 'No space left on device'", file=sys.stderr)


DEMO_COLUMNS = ["id", "text", "lang", "label", "extremist", "propaganda", "recruitment", "incitement", "kind"]


def write_csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def csv_writer(tmp_path: Path) -> Callable[..., Path]:
    """``csv_writer("train.csv", header, rows)`` writes under the test's tmp folder."""

    def _write(name: str, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
        return write_csv(tmp_path / name, header, rows, encoding)

    return _write


def data_config(name: str, files: dict[str, str], **overrides: object) -> dict[str, object]:
    """A multiclass ``data`` config over id/text/lang/label columns (the layout the small test files use)."""
    return {
        "name": name,
        "task": "multiclass",
        "text_column": "text",
        "label_column": "label",
        "language_column": "lang",
        "id_column": "id",
        "files": files,
        **overrides,
    }


def train_cli(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    """``python -m trainer.train <args>`` as a user types it, with the given cache and no inherited MLflow run."""
    env = {**os.environ, "SEAGUARD_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    env.pop("SEAGUARD_MLFLOW_RUN_ID", None)
    return subprocess.run(
        [sys.executable, "-m", "trainer.train", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def tiny_overrides(tmp_path: Path, *extra: str) -> list[str]:
    """Hydra overrides for a seconds-long run of the tiny model on the bundled demo data."""
    return [
        "experiment=demo_tiny",
        "tracking=none",
        f"paths.cache_dir={tmp_path / 'cache'}",
        "trainer.enable_progress_bar=false",
        "trainer.max_epochs=1",
        "+data.max_samples.train=160",
        *extra,
    ]


def crash_and_resume(overrides: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """Run ``overrides`` straight into ``tmp_path/straight``; run it again into ``crashed``, dying as epoch 1
    starts (a simulated preemption); resume that from its last.ckpt into ``resumed``. Returns the straight
    and resumed results. The crash is injected in EpochSeed's hook: the failure, not the subject."""
    from trainer.config import compose
    from trainer.train import run_train
    from trainer.training.resume import EpochSeed

    straight = run_train(compose("train", overrides), tmp_path / "straight")
    original = EpochSeed.on_train_epoch_start

    def crash_at_epoch_1(self: Any, trainer: Any, pl_module: Any) -> None:
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated preemption")
        original(self, trainer, pl_module)

    monkeypatch.setattr(EpochSeed, "on_train_epoch_start", crash_at_epoch_1)
    with pytest.raises(RuntimeError, match="simulated preemption"):
        run_train(compose("train", overrides), tmp_path / "crashed")
    monkeypatch.setattr(EpochSeed, "on_train_epoch_start", original)
    ckpt = tmp_path / "crashed" / "checkpoints" / "last.ckpt"
    resumed = run_train(compose("train", [*overrides, f"ckpt_path={ckpt}"]), tmp_path / "resumed")
    return straight, resumed


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache (converted models, tokenised data) for the whole session."""
    return Path(os.environ.get("SEAGUARD_TEST_CACHE", tmp_path_factory.mktemp("cache")))


def require_demo_data() -> None:
    if not (DEMO_DIR / "train.csv").exists():
        pytest.skip(f"bundled demo data missing: run scripts/make_demo_data.py (expected {DEMO_DIR})")
