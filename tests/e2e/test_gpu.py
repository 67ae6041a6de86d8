"""On one CUDA GPU (``pytest -m gpu``; skipped without CUDA): the shipped ``trainer=gpu`` recipe end to end.

Not run by ``make test``. Written for the lent H100/H200 machines (scripts/gpu_benchmarks.sh); the session
that added it had none, so its first run is on the next GPU session.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from tests.conftest import require_demo_data, tiny_overrides
from trainer.config import compose
from trainer.train import run_train

pytestmark = [pytest.mark.gpu, pytest.mark.integration]


def test_tiny_bf16_run_on_one_gpu_saves_fp32_weights(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (pytest -m gpu on a GPU machine)")
    require_demo_data()
    cfg = compose("train", tiny_overrides(tmp_path, "trainer=gpu", "trainer.max_epochs=2"))
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
    result = run_train(cfg, tmp_path / "run")
    assert result is not None
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["test"]["overall"]["macro_f1"]) and len(metrics["val_history"]) == 2
    # bf16 autocast keeps fp32 master weights: the saved model (and so ONNX parity at 1e-4) stays fp32.
    with safe_open(str(result.run_dir / "model" / "model.safetensors"), "pt") as f:
        dtypes = {f.get_slice(name).get_dtype() for name in f.keys()}
    assert dtypes == {"F32"}
