"""Lightning's side of MLflow tracking: a metrics logger and a callback, both given to rank 0 only.

Why not Lightning's ``MLFlowLogger``: it opens its own run when it has none and closes the run when
``fit`` ends, before test metrics and the model are logged. This logger only writes metrics to the
run the tracker opened. The callback records the run id in every checkpoint (``ckpt_path=...``
continues the same run), logs each validation epoch's full metric set and figures, and remembers the
last step for the test metrics.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import pytorch_lightning as pl
from pytorch_lightning.loggers import Logger
from pytorch_lightning.utilities import rank_zero_only

from trainer.tracking.params import mlflow_key
from trainer.training.checkpoints import load_checkpoint

if TYPE_CHECKING:
    import torch

    from trainer.tracking.writer import TrackingWriter
    from trainer.training.module import ClassifierModule

# The key of the callback's state in a Lightning checkpoint: fixed, so renaming the class keeps resume working.
CHECKPOINT_STATE_KEY = "MlflowRunCallback"


def run_id_in_checkpoint(ckpt_path: str | Path) -> str | None:
    """The MLflow run id saved in a Lightning checkpoint by :class:`MlflowRunCallback` (None if absent)."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    # mmap: the weights stay on disk; only the small callback state is read. Weights-only: this runs
    # before Lightning's own load, on a file that may come from anyone.
    checkpoint = load_checkpoint(path, map_location="cpu", mmap=True)
    state = checkpoint.get("callbacks", {}).get(CHECKPOINT_STATE_KEY) or {}
    return state.get("run_id")


class MlflowMetricsLogger(Logger):
    """Writes Lightning's logged scalars (``train/loss``, ``train/lr``, ``val/...``) to one MLflow run.

    Through the run's :class:`~trainer.tracking.writer.TrackingWriter`: a training step only queues them.
    """

    def __init__(self, writer: TrackingWriter, run_id: str, experiment_name: str) -> None:
        super().__init__()
        self._writer = writer
        self._run_id = run_id
        self._experiment_name = experiment_name
        self._epoch_step: int | None = None
        # The step of the latest call: the callback logs its extra validation metrics at the step
        # Lightning chose for the module's (which is not always trainer.global_step).
        self.last_step: int | None = None

    @property
    def name(self) -> str:
        return self._experiment_name

    @property
    def version(self) -> str:
        return self._run_id

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        step = step or 0
        self.last_step = step
        values = dict(metrics)
        # Lightning adds "epoch" to every call; two calls at one step would log it twice.
        if "epoch" in values:
            if self._epoch_step == step:
                values.pop("epoch")
            self._epoch_step = step
        now = int(time.time() * 1000)
        batch = [(mlflow_key(k), float(v), now, step) for k, v in values.items()]
        if batch:
            self._writer.log_batch(metrics=batch)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Nothing: the tracker logged the whole resolved config as params when the run started."""


class EvaluationLogger(Protocol):
    """What the callback needs of the tracker (:class:`trainer.tracking.mlflow_tracker.MlflowTracker`)."""

    def log_evaluation(
        self,
        split: str,
        probs: torch.Tensor,
        targets: torch.Tensor,
        langs: list[str],
        label_map: Any,
        main_metric: str,
        step: int,
        thresholds: list[float] | None = None,
        skip: set[str] | frozenset[str] = frozenset(),
        figure_dir: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Any: ...


class MlflowRunCallback(pl.Callback):
    """Run id into checkpoints; per validation epoch, every metric and (every n epochs) the figures."""

    def __init__(self, tracker: EvaluationLogger, run_id: str, figures_every_n_epochs: int) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.figures_every_n_epochs = figures_every_n_epochs
        self.last_step = 0

    @property
    def state_key(self) -> str:
        return CHECKPOINT_STATE_KEY

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore: the tracker read the id from the checkpoint before the run started."""

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        module = cast("ClassifierModule", pl_module)
        last = module.last_validation
        if trainer.sanity_checking or not trainer.is_global_zero or last is None:
            return
        probs, targets, langs = last
        epoch = trainer.current_epoch
        n = self.figures_every_n_epochs
        # What the module logged itself (val/loss, val/macro_f1, ...) already reached MLflow through
        # the logger at this step; logging it again would give two values per (metric, step).
        already = set(trainer.callback_metrics)
        logger = trainer.logger
        step = (
            logger.last_step
            if isinstance(logger, MlflowMetricsLogger) and logger.last_step is not None
            else trainer.global_step
        )
        self.tracker.log_evaluation(
            "val",
            probs,
            targets,
            langs,
            module.label_map,
            module.main_metric,
            step,
            skip=already,
            figure_dir=f"figures/val/epoch_{epoch:03d}" if n and (epoch + 1) % n == 0 else None,
        )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.last_step = trainer.global_step
