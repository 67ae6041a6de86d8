"""Run tracking behind one small interface, so ``tracking=none`` never imports mlflow.

``train.py`` calls, in order: ``start`` → ``log_data`` → (Lightning uses ``lightning_logger`` and
``callbacks`` during fit) → ``log_final`` → ``finish``. Only rank 0 gets a real tracker; other ranks
get :class:`NullTracker`, so they never create runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import Logger

    from trainer.data.prepare import PreparedData


class Tracker(Protocol):
    def start(
        self, *, config: dict[str, Any], tags: dict[str, str], run_dir: Path, resume_ckpt: str | None
    ) -> None: ...
    def log_data(self, data: PreparedData) -> None: ...
    def lightning_logger(self) -> Logger | None: ...
    def callbacks(self) -> list[pl.Callback]: ...
    def log_final(self, *, run_dir: Path, metrics: dict[str, Any], final: dict[str, Any]) -> None: ...
    def finish(self, status: str) -> None: ...


class NullTracker:
    """Tracks nothing (``tracking=none``, and every rank but 0)."""

    def start(self, *, config: dict[str, Any], tags: dict[str, str], run_dir: Path, resume_ckpt: str | None) -> None:
        return None

    def log_data(self, data: PreparedData) -> None:
        return None

    def lightning_logger(self) -> Logger | None:
        return None

    def callbacks(self) -> list[pl.Callback]:
        return []

    def log_final(self, *, run_dir: Path, metrics: dict[str, Any], final: dict[str, Any]) -> None:
        return None

    def finish(self, status: str) -> None:
        return None


def make_tracker(settings: dict[str, Any], is_rank_zero: bool) -> Tracker:
    """``settings`` is the resolved ``tracking`` config group."""
    backend = settings.get("backend", "none")
    if backend == "none" or not is_rank_zero:
        return NullTracker()
    if backend == "mlflow":
        from trainer.tracking.connection import MlflowSettings
        from trainer.tracking.mlflow_tracker import MlflowTracker

        return MlflowTracker(MlflowSettings.from_dict(settings))
    raise ValueError(f"tracking.backend={backend!r} is not one of none, mlflow")
