"""Everything a run folder holds besides checkpoints: it must explain itself without MLflow."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from trainer.config import PROJECT_ROOT

_VERSIONED = (
    "torch",
    "pytorch-lightning",
    "transformers",
    "tokenizers",
    "datasets",
    "hydra-core",
    "mlflow",
    "torchmetrics",
    "onnxruntime",
    "seaguard-trainer",
)


def git_state(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """Commit and dirty flag of the project checkout (``None`` outside a git checkout)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def run_info(entry_point: str, started: datetime, extra: dict[str, Any]) -> dict[str, Any]:
    finished = datetime.now(UTC)
    return {
        "entry_point": entry_point,
        "git": git_state(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "versions": versions(),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "duration_s": round((finished - started).total_seconds(), 3),
        **extra,
    }


# Run metric (MLflow): the best model's weight size. The tracker logs the weights only inside the pyfunc
# model, so comparisons of tracked runs read their size from this metric.
MODEL_MB_METRIC = "model_mb"


def model_weight_bytes(run_dir: Path) -> int:
    """Bytes of the best model's weights (``model/*.safetensors``); 0 when the folder has none."""
    return sum(p.stat().st_size for p in (run_dir / "model").glob("*.safetensors"))


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


RUN_FOLDER_FILES = {
    "README.md": "this description",
    "config.yaml": "the fully resolved config of the run",
    "labels.json": "label map (task, names in output order, positive label)",
    "thresholds.json": "decision thresholds tuned on validation (binary/multi-label; null for multiclass)",
    "metrics.json": "validation and test metrics (overall, per class, per language) + majority baseline",
    "calibration.json": "temperature (fitted on validation) and expected calibration error before/after",
    "predictions/": "validation.csv and test.csv: id, lang, gold, pred, one score column per label",
    "data_report.json": "rows, labels and languages per split, dropped rows by reason",
    "data_digest.json": "hash of the raw files + data config, and of each processed split",
    "run_info.json": "git commit/dirty, host, versions, timings, model source, tokenisation cache",
    "model/": "best checkpoint as a transformers folder (safetensors) with its tokenizer",
    "checkpoints/": "Lightning checkpoints: best.ckpt and last.ckpt (resume with ckpt_path=...)",
}


def write_readme(run_dir: Path, summary: dict[str, Any]) -> None:
    lines = [f"# Run {run_dir.name}", "", "Written by `python -m trainer.train`.", ""]
    for key, value in summary.items():
        lines.append(f"- **{key}**: {value}")
    lines += ["", "| file | what it holds |", "|---|---|"]
    lines += [f"| `{name}` | {what} |" for name, what in RUN_FOLDER_FILES.items()]
    (run_dir / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
