"""Where a result came from: git state, package versions, host and timings (``run_info.json``)."""

from __future__ import annotations

import platform
import socket
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

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
