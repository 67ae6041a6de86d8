"""Exact resume at epoch boundaries: per-epoch shuffling and per-epoch random state.

A run resumed from an end-of-epoch checkpoint (``ckpt_path=.../last.ckpt``) must train the remaining epochs
exactly as the uninterrupted run would have: same batch order, same dropout masks. Lightning restores the
model, optimiser, schedule, loop counters and callback states, but neither a ``DataLoader`` generator that
has advanced through earlier epochs nor the global RNG that dropout draws from. Two pieces close that gap:

- :class:`EpochShuffleSampler` draws epoch ``e``'s permutation from ``(seed, e)`` alone. Lightning calls
  ``set_epoch`` on a loader's sampler before every epoch. Under DDP Lightning swaps in its
  ``DistributedSampler``, which is keyed on ``(seed, epoch)`` in the same way.
- :class:`EpochSeed` re-seeds torch, numpy and ``random`` at the start of every training epoch from
  ``(seed, epoch, global rank)``, so dropout does not depend on what ran before.

A resume from a mid-epoch checkpoint (``trainer.max_time`` stops, preemption) continues correctly but is not
bit-identical: the rest of that epoch gets the fresh epoch's random state.
"""

from __future__ import annotations

import random

import numpy as np
import pytorch_lightning as pl
import torch

from trainer.data.sampling import epoch_seed


class EpochSeed(pl.Callback):
    """Re-seed every RNG at the start of each training epoch (dropout, any random augmentation)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank)
        torch.manual_seed(value)
        np.random.seed(value)
        random.seed(value)
