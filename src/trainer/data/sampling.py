"""Batch order that depends only on ``(seed, epoch)``, so a resumed run sees an uninterrupted run's batches.

Lightning calls ``set_epoch`` on a loader's sampler before every epoch. :func:`epoch_seed` is shared with
:class:`trainer.training.resume.EpochSeed`, which re-seeds every RNG from the same key.

- :class:`ShuffledBatchSampler`: a fixed batch size over a random order (``loader.batching=random``).
- :class:`LengthBucketBatchSampler` (+ :class:`StatefulBatchLoader`): rows of similar length under a padded-token
  budget, DDP-aware, resumable mid-epoch. On short posts (mean ~33 tokens, p99 ~100) random batches of 32 are
  ~60% padding; bucketed batches waste little more than the rounding to the pad multiple.
- :func:`sorted_eval_batches` / :func:`input_order`: deterministic length-sorted evaluation batches and the way
  back to input order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A 31-bit seed for one (run seed, epoch, rank); distinct inputs give distinct streams."""
    mixed = np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, rank]).generate_state(1)[0]
    return int(mixed) & 0x7FFFFFFF


def padded_lengths(lengths: Sequence[int] | np.ndarray, pad_to_multiple_of: int = 1) -> np.ndarray:
    """Each length rounded up to a multiple of ``pad_to_multiple_of``: what a row costs once padded."""
    if pad_to_multiple_of < 1:
        raise ValueError(f"pad_to_multiple_of must be >= 1, got {pad_to_multiple_of}")
    arr = np.asarray(lengths, dtype=np.int64)
    return -(-arr // pad_to_multiple_of) * pad_to_multiple_of


def padding_fraction(
    lengths: Sequence[int] | np.ndarray, batches: Iterable[Sequence[int]], pad_to_multiple_of: int = 1
) -> float:
    """Share of processed tokens that are padding when each batch is padded to its (rounded) longest row."""
    arr = np.asarray(lengths, dtype=np.int64)
    useful = processed = 0
    for batch in batches:
        rows = arr[np.asarray(batch, dtype=np.int64)]
        useful += int(rows.sum())
        processed += len(rows) * int(padded_lengths(rows.max(keepdims=True), pad_to_multiple_of)[0])
    return 1.0 - useful / processed if processed else 0.0


def _checked_lengths(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(lengths, dtype=np.int64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"lengths must be a non-empty 1-D sequence of token counts, got shape {arr.shape}")
    if (bad := np.flatnonzero(arr < 1)).size:
        raise ValueError(f"lengths: row {int(bad[0])} has {int(arr[bad[0]])} tokens; every row needs at least 1")
    return arr


def _check_budget(max_tokens: int, max_batch_size: int | None) -> None:
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if max_batch_size is not None and max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1 or None, got {max_batch_size}")


def _batch_sizes(sorted_padded: np.ndarray, max_tokens: int, max_batch_size: int | None) -> np.ndarray:
    """Greedy batch sizes over rows sorted by padded length, so that ``size * padded max <= max_tokens``.

    Works per distinct padded length (a bucket) rather than per row: a batch may straddle two buckets,
    and it then costs the longer one. A row longer than the budget gets a batch of its own.
    """
    cap_rows = max_batch_size if max_batch_size is not None else sorted_padded.size
    values, counts = np.unique(sorted_padded, return_counts=True)
    sizes: list[int] = []
    open_rows = 0
    for length, count in zip(values.tolist(), counts.tolist(), strict=True):
        cap = max(1, min(cap_rows, max_tokens // length))
        if open_rows >= cap:  # the open batch cannot take one row of this (longer) length
            sizes.append(open_rows)
            open_rows = 0
        take = min(count, cap - open_rows)
        open_rows += take
        count -= take
        if count:
            sizes.append(open_rows)
            full, open_rows = divmod(count, cap)
            sizes.extend([cap] * full)
    if open_rows:
        sizes.append(open_rows)
    return np.asarray(sizes, dtype=np.int64)


class ResumableBatchSampler(Sampler[list[int]]):
    """Batches whose whole epoch plan depends on ``(seed, epoch)``, resumable after any batch.

    Subclasses give :meth:`epoch_plan` (this rank's batches of one epoch) and ``__len__`` (the same every epoch).
    :meth:`state_dict` holds ``(epoch, batches_yielded)``; after :meth:`load_state_dict` the next iteration
    starts at the following batch. Lightning saves the state of the *loader*, not of its samplers: wrap one in
    :class:`StatefulBatchLoader`.
    """

    epoch: int
    _position: int
    iteration_epoch: int
    iteration_start: int

    def _init_position(self) -> None:
        self.epoch = 0
        self._position = 0  # batches of `epoch` already handed out (or to skip after a resume)
        # Where the current iteration began, read by StatefulBatchLoader.
        self.iteration_epoch, self.iteration_start = 0, 0

    def __len__(self) -> int:
        raise NotImplementedError

    def epoch_plan(self, epoch: int) -> list[list[int]]:
        raise NotImplementedError

    @property
    def sampler(self) -> ResumableBatchSampler:
        """Lightning calls ``set_epoch`` on ``loader.sampler`` and ``loader.batch_sampler.sampler`` only."""
        return self

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self._position = epoch, 0

    def __iter__(self) -> Iterator[list[int]]:
        if self._position >= len(self):  # a finished epoch iterated again without set_epoch: replay it
            self._position = 0
        plan = self.epoch_plan(self.epoch)
        self.iteration_epoch, self.iteration_start = self.epoch, self._position
        for batch in plan[self._position :]:
            self._position += 1  # before yielding: a state saved while the consumer holds this batch skips it
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_yielded": self._position, "num_batches": len(self)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume after ``state["batches_yielded"]`` batches of ``state["epoch"]``.

        A finished epoch resumes at the start of the next one: Lightning creates the new epoch's iterator
        before it calls ``set_epoch`` when loader workers prefetch.
        """
        missing = {"epoch", "batches_yielded", "num_batches"} - set(state)
        if missing:
            raise ValueError(f"batch sampler state lacks {sorted(missing)}: not a {type(self).__name__} state")
        if int(state["num_batches"]) != len(self):
            raise ValueError(
                f"batch sampler state has num_batches={state['num_batches']} but this sampler makes {len(self)} "
                "per epoch: the data, loader.batch_size/max_tokens, pad_to_multiple_of or the world size "
                "changed, so the run cannot resume mid-epoch exactly"
            )
        self.epoch, self._position = int(state["epoch"]), int(state["batches_yielded"])
        if self._position >= len(self):
            self.epoch, self._position = self.epoch + 1, 0


class ShuffledBatchSampler(ResumableBatchSampler):
    """``loader.batching=random``: fixed-size batches over a random order that depends only on ``(seed, epoch)``.

    On one process the batches are consecutive chunks of ``torch.randperm`` seeded by :func:`epoch_seed`: the
    batches this project's random batching has always drawn. Under DDP the
    permutation is padded to a multiple of ``num_replicas`` (its first rows repeated, as Lightning's
    ``DistributedSampler`` does) and rank ``r`` takes rows ``r, r + R, ...``.
    """

    def __init__(self, num_rows: int, batch_size: int, *, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas), got rank={rank}, num_replicas={num_replicas}")
        self.num_rows, self.batch_size, self.seed = num_rows, batch_size, seed
        self.num_replicas, self.rank = num_replicas, rank
        self.rows_per_rank = -(-num_rows // num_replicas)
        self._init_position()

    def __len__(self) -> int:
        return -(-self.rows_per_rank // self.batch_size)

    def epoch_plan(self, epoch: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        order = torch.randperm(self.num_rows, generator=generator).tolist()
        if self.num_replicas > 1:
            padded = self.rows_per_rank * self.num_replicas
            order = (order * (-(-padded // max(len(order), 1))))[:padded][self.rank :: self.num_replicas]
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]


class LengthBucketBatchSampler(ResumableBatchSampler):
    """Training batches of rows of similar length under a padded-token budget, planned from ``(seed, epoch)``.

    Rows are sorted by padded length (lengths rounded up to ``pad_to_multiple_of``) with ties broken by a
    fresh permutation each epoch, cut greedily into batches with ``len(batch) * padded_max <= max_tokens``
    (and ``<= max_batch_size`` rows), and the batch order is shuffled. The cut points depend on the multiset
    of padded lengths only, so every epoch has the same number and sizes of batches (Lightning reads
    ``len()`` once, and the LR schedule's step count relies on it); which rows share a batch changes within
    each padded length. With ``pad_to_multiple_of=16`` a 128-token cap gives at most 8 lengths, hence few
    distinct batch shapes for ``torch.compile``.

    Distributed: every rank builds the same global plan and takes batches ``rank, rank + R, ...``. When the
    batch count does not divide by ``num_replicas``, ``drop_last=False`` (default) pads the plan by repeating
    its first batches (a few rows seen twice that epoch, none lost); ``drop_last=True`` drops the remainder.
    Either way every rank gets ``len(self)`` batches and, when not padded, the ranks' rows are disjoint.
    Use with ``Trainer(use_distributed_sampler=False)``: Lightning cannot inject its sampler into this one.

    Exact mid-epoch resume: :meth:`state_dict` holds ``(epoch, batches_yielded)``, and after
    :meth:`load_state_dict` the next iteration starts at the following batch. Lightning saves the state of
    the *loader*, not of its samplers: wrap this sampler in :class:`StatefulBatchLoader`.

    Args:
        lengths: token count of each row (``len(input_ids)``), in dataset order.
        max_tokens: padded tokens allowed per batch (rows x padded longest row). A row longer than this
            gets a batch of its own.
        pad_to_multiple_of: the collator's pad multiple (8 on CPU, 16 on GPU tensor cores); 1 = none.
        max_batch_size: optional cap on rows per batch.
        seed: run seed; the plan depends on ``(seed, epoch)`` only.
        num_replicas: DDP world size.
        rank: this process's global rank.
        drop_last: drop the batches that do not divide by ``num_replicas`` instead of repeating some.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        max_tokens: int,
        *,
        pad_to_multiple_of: int = 1,
        max_batch_size: int | None = None,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        _check_budget(max_tokens, max_batch_size)
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas), got rank={rank}, num_replicas={num_replicas}")
        self._padded = padded_lengths(_checked_lengths(lengths), pad_to_multiple_of)
        sizes = _batch_sizes(np.sort(self._padded), max_tokens, max_batch_size)
        self._bounds = np.cumsum(sizes)[:-1]
        self.num_global_batches = len(sizes)
        self.max_tokens, self.pad_to_multiple_of, self.max_batch_size = max_tokens, pad_to_multiple_of, max_batch_size
        self.seed, self.num_replicas, self.rank, self.drop_last = seed, num_replicas, rank, drop_last
        self._init_position()

    def __len__(self) -> int:
        """Batches per rank per epoch (the same every epoch, and after a resume)."""
        whole, rest = divmod(self.num_global_batches, self.num_replicas)
        return whole + (1 if rest and not self.drop_last else 0)

    def epoch_plan(self, epoch: int) -> list[list[int]]:
        """This rank's batches (row indices) for ``epoch``, in order; the same on every call."""
        rng = np.random.default_rng(epoch_seed(self.seed, epoch))
        permutation = rng.permutation(self._padded.size)
        order = permutation[np.argsort(self._padded[permutation], kind="stable")]
        batches = np.split(order, self._bounds)
        shuffled = [batches[i] for i in rng.permutation(len(batches))]
        total = len(self) * self.num_replicas
        shuffled = [shuffled[i % len(shuffled)] for i in range(total)]
        return [batch.tolist() for batch in shuffled[self.rank :: self.num_replicas]]


class StatefulBatchLoader(DataLoader):
    """A ``DataLoader`` over a :class:`LengthBucketBatchSampler` that Lightning checkpoints mid-epoch.

    Lightning 2.6 stores ``state_dict()`` of each train loader that has ``state_dict``/``load_state_dict``
    (``CombinedLoader._state_dicts``) and restores it before it creates the resumed epoch's iterator; it
    never asks a sampler. The position saved is the number of batches this loader handed out, not the
    sampler's: loader workers draw indices ahead of the training step.
    """

    batch_sampler: ResumableBatchSampler

    def __init__(self, dataset: Any, batch_sampler: ResumableBatchSampler, **kwargs: Any) -> None:
        super().__init__(dataset, batch_sampler=batch_sampler, **kwargs)
        self._delivered: tuple[int, int] | None = None  # (epoch, batches handed out) of the last iteration

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        self._delivered = None
        for batch in super().__iter__():
            if self._delivered is None:  # the first batch arrived, so the sampler's iteration has begun
                self._delivered = (self.batch_sampler.iteration_epoch, self.batch_sampler.iteration_start)
            epoch, count = self._delivered
            self._delivered = (epoch, count + 1)
            yield batch

    def state_dict(self) -> dict[str, int]:
        state = self.batch_sampler.state_dict()
        # After set_epoch moved on, the sampler's own (new epoch, 0) is the right answer.
        if self._delivered is not None and self._delivered[0] == state["epoch"]:
            state["batches_yielded"] = self._delivered[1]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._delivered = None
        self.batch_sampler.load_state_dict(state)


def sorted_eval_batches(
    lengths: Sequence[int] | np.ndarray,
    max_tokens: int,
    *,
    pad_to_multiple_of: int = 1,
    max_batch_size: int | None = None,
) -> list[list[int]]:
    """Deterministic evaluation batches: rows sorted by length, cut under the same budget, longest first.

    Longest first so that a batch too large for memory fails at once. Put outputs back in input order
    with :func:`input_order`: ``torch.cat(outputs)[input_order(batches)]``.
    """
    _check_budget(max_tokens, max_batch_size)
    arr = _checked_lengths(lengths)
    order = np.argsort(arr, kind="stable")
    sizes = _batch_sizes(padded_lengths(arr[order], pad_to_multiple_of), max_tokens, max_batch_size)
    return [batch.tolist() for batch in np.split(order, np.cumsum(sizes)[:-1])][::-1]


def input_order(batches: Sequence[Sequence[int]]) -> np.ndarray:
    """Positions that reorder outputs concatenated in batch order back into input order."""
    flat = np.concatenate([np.asarray(b, dtype=np.int64) for b in batches]) if batches else np.zeros(0, np.int64)
    if not np.array_equal(np.sort(flat), np.arange(flat.size)):
        raise ValueError(f"batches must hold each of rows 0..{flat.size - 1} exactly once")
    inverse = np.empty_like(flat)
    inverse[flat] = np.arange(flat.size)
    return inverse
