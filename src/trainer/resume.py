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
from collections.abc import Iterator, Sized

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import RandomSampler


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A 31-bit seed for one (run seed, epoch, rank); distinct inputs give distinct streams."""
    mixed = np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, rank]).generate_state(1)[0]
    return int(mixed) & 0x7FFFFFFF


class EpochShuffleSampler(RandomSampler):
    """Random order that depends only on ``(seed, epoch)``; a ``RandomSampler`` so Lightning sees shuffling."""

    def __init__(self, data_source: Sized, seed: int) -> None:
        super().__init__(data_source)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()


class EpochSeed(pl.Callback):
    """Re-seed every RNG at the start of each training epoch (dropout, any random augmentation)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank)
        torch.manual_seed(value)
        np.random.seed(value)
        random.seed(value)
