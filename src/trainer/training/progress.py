"""What a training run tells its console: progress lines when output is redirected, and less library noise.

On a terminal Lightning's progress bar shows the run. Redirected (a log file, CI, a batch job), the bar only
prints once the epoch ends, so :func:`console_trainer_args` turns it off and :class:`ProgressLog` writes a
line every ``callbacks.log_every_n_steps`` optimiser steps and one per validation; :func:`phase` writes one
line per step after fit with its duration, with the libraries' bars off inside it. :func:`quiet_console` and
:func:`quiet_model_load` drop the messages a newcomer meets on every run that say nothing about it (each one
named and explained below).
"""

from __future__ import annotations

import logging
import os
import re
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TextIO

import pytorch_lightning as pl

log = logging.getLogger(__name__)

# Lightning's advert, logged at INFO on every Trainer(...) without a LitLogger.
LITLOGGER_TIP = "💡 Tip: For seamless cloud logging"
# torch >= 2.10 deprecates LeafSpec; Lightning 2.6's own _pytree.py still builds one on every training step.
LEAF_SPEC_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
# transformers >= 5 logs this table (WARNING) for every from_pretrained whose checkpoint lacks some weights.
LOAD_REPORT = "LOAD REPORT"
# Statuses of that table that are expected when a classifier head is put on an encoder checkpoint.
_EXPECTED_STATUSES = ("MISSING", "UNEXPECTED")
_REPORT_ROW = re.compile(r"^\s*(\S+)\s*\|\s*([A-Z_]+)\s*\|", re.M)
# mlflow's switch for its upload/download bars (mlflow.environment_variables).
MLFLOW_ARTIFACT_BARS = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def console_trainer_args(trainer_args: Mapping[str, Any], stream: TextIO) -> dict[str, Any]:
    """``trainer`` arguments for this console: the progress bar only when ``stream`` is a terminal.

    Redirected, Rich/tqdm bars write nothing until the epoch ends and then leave control characters in the
    log; :class:`ProgressLog` lines replace them.
    """
    args = dict(trainer_args)
    if not _is_tty(stream):
        args["enable_progress_bar"] = False
    return args


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class ProgressLog(pl.Callback):
    """One log line every ``every_n_steps`` optimiser steps, one per validation, one when training ends.

    Silent while Lightning shows a progress bar (a terminal), so the two never both report. Rank 0 only.
    """

    def __init__(self, every_n_steps: int) -> None:
        if every_n_steps < 0:
            raise ValueError(f"callbacks.log_every_n_steps={every_n_steps}: expected 0 (off) or a positive count")
        self.every_n_steps = every_n_steps
        self._active = False
        self._started = self._window_started = 0.0
        self._window_samples = 0
        self._last_step = -1

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._active = bool(self.every_n_steps) and trainer.is_global_zero and trainer.progress_bar_callback is None
        self._started = self._window_started = time.perf_counter()
        self._window_samples = 0
        self._last_step = trainer.global_step

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self._active:
            return
        self._window_samples += _batch_rows(batch) * trainer.world_size
        step = trainer.global_step
        if step == self._last_step or step % self.every_n_steps:
            return  # accumulating gradients, or not a reporting step
        now = time.perf_counter()
        rate = self._window_samples / max(now - self._window_started, 1e-9)
        total = trainer.estimated_stepping_batches
        of_total = f"/{int(total)}" if total != float("inf") else ""
        log.info(
            "step %d%s | epoch %d/%s | loss %s | %.1f samples/s | elapsed %s",
            step,
            of_total,
            trainer.current_epoch + 1,
            trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?",
            _loss(outputs, trainer),
            rate,
            _clock(now - self._started),
        )
        self._last_step, self._window_started, self._window_samples = step, now, 0

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._active or trainer.sanity_checking:
            return
        watched = [getattr(trainer.checkpoint_callback, "monitor", None), "val/loss"]
        values = [f"{k} {float(trainer.callback_metrics[k]):.4f}" for k in watched if k in trainer.callback_metrics]
        log.info("validation after epoch %d: %s", trainer.current_epoch + 1, ", ".join(values) or "no metrics")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._active:
            elapsed = _clock(time.perf_counter() - self._started)
            log.info("training done: %d steps, %d epochs, %s", trainer.global_step, trainer.current_epoch, elapsed)


def _batch_rows(batch: Any) -> int:
    labels = batch.get("labels") if isinstance(batch, Mapping) else None
    return len(labels) if labels is not None else 0


def _loss(outputs: Any, trainer: pl.Trainer) -> str:
    value = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
    if value is None:
        value = trainer.callback_metrics.get("train/loss")
    return "n/a" if value is None else f"{float(value):.4f}"


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


@contextmanager
def phase(name: str) -> Iterator[None]:
    """One log line when the step ``name`` is done, with its duration (the minutes after fit are not silent).

    The libraries' progress bars inside it are off: that line says the step ended, and in a log file every bar
    ("Writing model shards", "Loading weights" when mlflow checks the logged model, "Downloading artifacts") is
    printed several times over.
    """
    started = time.perf_counter()
    with no_library_bars():
        yield
    log.info("%s: done in %.1f s", name, time.perf_counter() - started)


@contextmanager
def no_library_bars() -> Iterator[None]:
    """transformers' (and huggingface_hub's) and mlflow's artifact progress bars off, as they were afterwards."""
    from transformers.utils import logging as hf_logging

    bars, artifact_bars = hf_logging.is_progress_bar_enabled(), os.environ.get(MLFLOW_ARTIFACT_BARS)
    hf_logging.disable_progress_bar()
    os.environ[MLFLOW_ARTIFACT_BARS] = "false"  # read by mlflow at each transfer; naming it imports no mlflow
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        if artifact_bars is None:
            os.environ.pop(MLFLOW_ARTIFACT_BARS, None)
        else:
            os.environ[MLFLOW_ARTIFACT_BARS] = artifact_bars


class _DropMessages(logging.Filter):
    """Drops records whose message starts with one of ``prefixes``."""

    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


_DROP_TIP = _DropMessages(LITLOGGER_TIP)


def quiet_console() -> None:
    """Silence three messages every run prints that concern the libraries, not the run. Idempotent."""
    # Narrow: this one FutureWarning, and only when Lightning triggers it; torch's other deprecations still show.
    warnings.filterwarnings("ignore", message=LEAF_SPEC_WARNING, category=FutureWarning, module=r"pytorch_lightning\.")
    # The tip goes through lightning_utilities' rank-zero logger, which Lightning and Fabric each rebind.
    import lightning_utilities.core.rank_zero as rank_zero

    names = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")
    for logger in {rank_zero.log, *(logging.getLogger(n) for n in names)}:
        if _DROP_TIP not in logger.filters:
            logger.addFilter(_DROP_TIP)
    # datasets draws a bar for every map/save_to_disk ("Saving the dataset (1/1 shards)"); a log file gets each
    # one three times. The tokenisation step logs its own line. HF_DATASETS_DISABLE_PROGRESS_BARS=0 keeps them.
    if os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS") is None:
        import datasets

        datasets.disable_progress_bars()


class _LoadReport(logging.Filter):
    """Holds back transformers' load report when it only lists the expected new head and unused weights."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, list[str]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if LOAD_REPORT not in message:
            return True
        rows = [(key, status) for key, status in _REPORT_ROW.findall(message) if key != "Key"]
        if not rows or any(status not in _EXPECTED_STATUSES for _, status in rows):
            return True  # a mismatch or a conversion error: transformers' own table explains it
        for key, status in rows:
            self.keys.setdefault(status, []).append(key)
        return False


@contextmanager
def quiet_model_load() -> Iterator[None]:
    """Around ``from_pretrained``: transformers' MISSING/UNEXPECTED table becomes one line of ours.

    A fresh classifier head is what fine-tuning expects, so a table with a "consider training" note reads
    like a problem on every run. Any other status (size mismatch, conversion error) still shows in full.
    """
    report = _LoadReport()
    logger = logging.getLogger("transformers.modeling_utils")
    logger.addFilter(report)
    try:
        with no_library_bars():  # "Loading weights: 100%": one bar per load
            yield
    finally:
        logger.removeFilter(report)
    if report.keys.get("MISSING"):
        log.info(
            "new parameters, randomly initialised (the classifier head): %s", ", ".join(sorted(report.keys["MISSING"]))
        )
    if report.keys.get("UNEXPECTED"):
        log.info("checkpoint weights the classifier does not use: %s", ", ".join(sorted(report.keys["UNEXPECTED"])))
