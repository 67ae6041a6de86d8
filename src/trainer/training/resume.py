"""Exact resume, at an epoch boundary or mid-epoch, in the same run folder.

A resumed run must train the rest exactly as the uninterrupted run would have: same batches, same dropout
masks, same history. Lightning restores the model, optimiser, schedule, loop counters and callback states.
Three pieces close the rest of the gap:

- the training loader is a :class:`~trainer.data.sampling.StatefulBatchLoader`: its epoch plan depends on
  ``(seed, epoch)`` only and its position (batches already handed out) is in every checkpoint;
- :class:`EpochSeed` re-seeds torch, numpy and ``random`` at the start of every training epoch from
  ``(seed, epoch, global rank)``, and saves the live RNG states in each checkpoint, so a mid-epoch resume
  continues the very random stream the interrupted run was drawing from;
- ``resume=<run folder>|auto`` (:func:`resume_folder`) continues in the same folder, so the best checkpoint,
  its score and the per-epoch history (kept in the checkpoint by the module) stay those of the whole run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from trainer.data.sampling import epoch_seed
from trainer.runs.folder import CHECKPOINTS, RUN_INFO

LAST_CHECKPOINT = "last.ckpt"


class ResumeError(ValueError):
    """``resume=`` names nothing to resume; the message says what was looked for where."""


class EpochSeed(pl.Callback):
    """Re-seed every RNG at the start of each training epoch; keep the live RNG states in checkpoints."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._restored: dict[str, Any] | None = None  # a mid-epoch checkpoint's RNG states, until used
        self._batches_done = 0  # optimiser-step batches finished in the current epoch
        self._trainer: pl.Trainer | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._restored is not None:
            return  # resumed mid-epoch: on_train_batch_start continues the interrupted stream instead
        self._batches_done = 0
        value = epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank)
        torch.manual_seed(value)
        np.random.seed(value)
        random.seed(value)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        if self._restored is not None:
            ranks = self._restored["ranks"]
            if len(ranks) == trainer.world_size:  # another world size cannot continue the same streams
                _set_rng(ranks[trainer.global_rank])
            self._batches_done = int(self._restored["batches_done"])
            self._restored = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._batches_done += 1

    def state_dict(self) -> dict[str, Any]:
        """Every rank's RNG states (gathered: Lightning builds the checkpoint on every rank, rank 0 writes it)."""
        local = _get_rng()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            ranks: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(ranks, local)
        else:
            ranks = [local]
        per_epoch = self._trainer.num_training_batches if self._trainer is not None else None
        return {"batches_done": self._batches_done, "batches_per_epoch": per_epoch, "ranks": ranks}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Keep the RNG states only for a mid-epoch checkpoint; at an epoch boundary the next epoch re-seeds."""
        done, per_epoch = state_dict.get("batches_done"), state_dict.get("batches_per_epoch")
        mid_epoch = state_dict.get("ranks") and done is not None and per_epoch is not None and 0 < done < per_epoch
        self._restored = dict(state_dict) if mid_epoch else None

    @property
    def state_key(self) -> str:
        return "EpochSeed"


def _get_rng() -> dict[str, Any]:
    """RNG states as plain lists and tensors: checkpoints load with ``weights_only=True``."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
        "python": [py_version, list(py_state), py_gauss],
    }


def _set_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))


def resume_folder(resume: str | None, runs_root: Path, suffix: str) -> Path | None:
    """The run folder ``resume`` names: a folder, or ``auto`` (the newest unfinished run whose folder name ends
    with ``suffix``, e.g. ``_me5_small_demo``; None when there is none, so the run starts fresh)."""
    if not resume:
        return None
    if resume != "auto":
        folder = Path(resume).expanduser().resolve()
        if not (folder / CHECKPOINTS / LAST_CHECKPOINT).is_file():
            raise ResumeError(
                f"resume={resume}: {folder / CHECKPOINTS / LAST_CHECKPOINT} does not exist; resume needs a run "
                f"folder written with callbacks.save_last=true"
            )
        return folder
    candidates = [
        p
        for p in Path(runs_root).glob(f"*{suffix}")
        if (p / CHECKPOINTS / LAST_CHECKPOINT).is_file() and not (p / RUN_INFO).is_file()
    ]
    return max(candidates, key=lambda p: (p / CHECKPOINTS / LAST_CHECKPOINT).stat().st_mtime, default=None)


def last_checkpoint(folder: Path) -> Path:
    return folder / CHECKPOINTS / LAST_CHECKPOINT


def hydra_overrides_for_resume(argv: list[str]) -> list[str]:
    """With ``resume=...`` on the command line, Hydra's run folder is the resumed one (its ``.hydra/`` record of
    the first launch stays as it was; the job log appends)."""
    if not any(a.startswith("resume=") for a in argv) or any(a.startswith("hydra.run.dir=") for a in argv):
        return argv
    from trainer.config import compose
    from trainer.training.settings import TrainSettings

    overrides = [a for a in argv if not a.startswith("-")]
    settings = TrainSettings.from_config(compose("train", overrides))
    folder = resume_folder(settings.resume, settings.runs_root, settings.run_suffix)
    if folder is None:
        return argv
    return [*argv, f"hydra.run.dir={folder}", "hydra.output_subdir=null"]
