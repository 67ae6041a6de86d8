"""Batch order that depends only on ``(seed, epoch)``, so a resumed run sees an uninterrupted run's batches.

Lightning calls ``set_epoch`` on a loader's sampler before every epoch. :func:`epoch_seed` is shared with
:class:`trainer.training.resume.EpochSeed`, which re-seeds every RNG from the same key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np
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
