"""Length-bucketed training batches and sorted evaluation batches (trainer.data.sampling).

Properties are checked over a handful of seeded random configurations (hypothesis is not a dependency).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.data import _set_sampler_epoch
from lightning_fabric.utilities.types import _Stateful
from pytorch_lightning.callbacks import ModelCheckpoint

from trainer.data.sampling import (
    LengthBucketBatchSampler,
    ShuffledBatchSampler,
    StatefulBatchLoader,
    epoch_seed,
    input_order,
    padded_lengths,
    padding_fraction,
    sorted_eval_batches,
)


def short_posts(n: int, seed: int = 0) -> np.ndarray:
    """Token counts shaped like HS1 tweets: lognormal, mean ~33, p99 ~100, capped at 128."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.lognormal(3.36, 0.53, n)), 3, 128).astype(int)


# (rows, max_tokens, pad_to_multiple_of, max_batch_size, seed); the last two make rows longer than the budget.
CASES = [
    (1, 64, 1, None, 0),
    (7, 64, 8, None, 1),
    (500, 1024, 8, None, 2),
    (500, 1024, 16, 16, 3),
    (333, 512, 1, 8, 4),
    (2000, 4096, 16, None, 5),
    (200, 40, 8, None, 6),
    (200, 100, 1, 3, 7),
]


def _sampler(case: tuple, **kwargs) -> tuple[np.ndarray, LengthBucketBatchSampler]:
    n, max_tokens, multiple, max_bs, seed = case
    lengths = short_posts(n, seed)
    sampler = LengthBucketBatchSampler(
        lengths, max_tokens, pad_to_multiple_of=multiple, max_batch_size=max_bs, seed=seed, **kwargs
    )
    return lengths, sampler


@pytest.mark.parametrize("case", CASES)
def test_every_row_once_per_epoch_and_budget_kept(case: tuple) -> None:
    lengths, sampler = _sampler(case)
    _, max_tokens, multiple, max_bs, _ = case
    padded = padded_lengths(lengths, multiple)
    for epoch in (0, 1, 5):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        for batch in batches:
            cost = len(batch) * int(padded[batch].max())
            assert cost <= max_tokens or len(batch) == 1  # only a row longer than the budget goes over, alone
            assert max_bs is None or len(batch) <= max_bs


@pytest.mark.parametrize("case", CASES[2:6])
def test_plan_depends_on_seed_and_epoch_only(case: tuple) -> None:
    _, a = _sampler(case)
    _, b = _sampler(case)
    _, other_seed = _sampler(case[:4] + (case[4] + 100,))
    assert a.epoch_plan(3) == b.epoch_plan(3) == a.epoch_plan(3)
    assert a.epoch_plan(3) != a.epoch_plan(4)
    assert a.epoch_plan(3) != other_seed.epoch_plan(3)
    b.set_epoch(3)
    assert list(b) == a.epoch_plan(3)
    # The batch count never changes with the epoch: Lightning reads len() once.
    assert {len(a.epoch_plan(e)) for e in range(6)} == {len(a)}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("replicas", [2, 3, 4])
def test_ranks_get_equal_counts_and_disjoint_rows(case: tuple, replicas: int) -> None:
    lengths, single = _sampler(case)
    n = len(lengths)
    for drop_last in (False, True):
        plans = [
            _sampler(case, num_replicas=replicas, rank=r, drop_last=drop_last)[1].epoch_plan(2) for r in range(replicas)
        ]
        assert len({len(p) for p in plans}) == 1
        counts = Counter(i for plan in plans for batch in plan for i in batch)
        padded = single.num_global_batches % replicas and not drop_last
        if not padded:  # disjoint across ranks; all rows when nothing was dropped
            assert max(counts.values(), default=1) == 1
            if single.num_global_batches % replicas == 0:
                assert sorted(counts) == list(range(n))
        else:  # padded by repeating whole batches: every row, none more than twice
            assert sorted(counts) == list(range(n))
            assert max(counts.values()) <= 1 + -(-replicas // single.num_global_batches)


@pytest.mark.parametrize("case", CASES[1:6])
def test_resume_after_k_batches_yields_exactly_the_rest(case: tuple) -> None:
    _, first = _sampler(case)
    first.set_epoch(2)
    plan = first.epoch_plan(2)
    for k in sorted({0, 1, len(plan) // 2, len(plan) - 1}):
        first.set_epoch(9)  # move away and back: a fresh epoch 2
        first.set_epoch(2)
        iterator = iter(first)
        taken = [next(iterator) for _ in range(k)]
        state = first.state_dict()
        assert state["epoch"] == 2 and state["batches_yielded"] == k
        _, resumed = _sampler(case)
        resumed.load_state_dict(state)
        resumed.set_epoch(2)  # what Lightning does before the resumed epoch: keeps the position
        assert taken + list(resumed) == plan
        resumed.set_epoch(3)
        assert list(resumed) == first.epoch_plan(3)


def test_resume_from_a_finished_epoch_starts_the_next() -> None:
    _, sampler = _sampler(CASES[2])
    sampler.set_epoch(4)
    assert list(sampler) == sampler.epoch_plan(4)
    _, resumed = _sampler(CASES[2])
    resumed.load_state_dict(sampler.state_dict())
    assert resumed.epoch == 5
    assert list(resumed) == sampler.epoch_plan(5)
    assert list(resumed) == sampler.epoch_plan(5)  # iterated again without set_epoch: replayed, not empty


def test_resume_with_another_batching_is_refused() -> None:
    lengths, sampler = _sampler(CASES[2])
    other = LengthBucketBatchSampler(lengths, 4096, pad_to_multiple_of=8)
    with pytest.raises(ValueError, match="max_tokens"):
        other.load_state_dict(sampler.state_dict())
    with pytest.raises(ValueError, match="batches_yielded"):
        other.load_state_dict({"epoch": 0})


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_state_counts_batches_handed_out_not_prefetched(workers: int) -> None:
    lengths, sampler = _sampler(CASES[2])
    loader = StatefulBatchLoader(range(len(lengths)), sampler, num_workers=workers, collate_fn=list)
    assert isinstance(loader, _Stateful)  # what Lightning checks before saving a loader's state
    _set_sampler_epoch(loader, 3)  # Lightning's own call before each epoch
    assert sampler.epoch == 3
    plan = sampler.epoch_plan(3)
    iterator = iter(loader)
    taken = [next(iterator) for _ in range(5)]
    state = loader.state_dict()
    del iterator
    assert state["batches_yielded"] == 5
    _, fresh = _sampler(CASES[2])
    resumed = StatefulBatchLoader(range(len(lengths)), fresh, num_workers=workers, collate_fn=list)
    resumed.load_state_dict(state)
    assert taken + list(resumed) == plan


class _Recorder(pl.LightningModule):
    """Records each training batch of row indices; a single weight so there is something to step."""

    def __init__(self, loader_factory) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.loader_factory = loader_factory
        self.seen: list[list[int]] = []

    def train_dataloader(self) -> StatefulBatchLoader:
        return self.loader_factory()

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        self.seen.append(batch.tolist())
        return (self.weight * batch.float()).mean() ** 2

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(module: _Recorder, root, ckpt_path=None, callbacks=()) -> None:
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
        default_root_dir=root,
    )
    trainer.fit(module, ckpt_path=ckpt_path)


def test_lightning_resumes_mid_epoch_at_the_next_batch(tmp_path) -> None:
    lengths = short_posts(300, 11)

    def loader() -> StatefulBatchLoader:
        sampler = LengthBucketBatchSampler(lengths, 512, pad_to_multiple_of=8, seed=11)
        return StatefulBatchLoader(range(len(lengths)), sampler)

    per_epoch = len(loader())
    k = per_epoch // 2 + 1
    full = _Recorder(loader)
    every_k = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=k, save_top_k=-1, filename="{step}")
    _fit(full, tmp_path, callbacks=[every_k])
    assert len(full.seen) == 2 * per_epoch
    resumed = _Recorder(loader)
    _fit(resumed, tmp_path, ckpt_path=tmp_path / "ckpt" / f"step={k}.ckpt")
    assert resumed.seen == full.seen[k:]


def test_bucketing_cuts_padding_on_short_posts() -> None:
    lengths = short_posts(20_000)
    assert 30 <= lengths.mean() <= 36 and 85 <= np.percentile(lengths, 99) <= 110
    rng = np.random.default_rng(0)
    random_batches = np.array_split(rng.permutation(len(lengths)), len(lengths) // 32)
    bucketed = list(LengthBucketBatchSampler(lengths, 32 * 40, pad_to_multiple_of=8, seed=0))
    assert padding_fraction(lengths, random_batches, 8) > 0.5
    assert padding_fraction(lengths, bucketed, 8) < 0.25
    # Same token budget, so about as many rows per batch on average as the random batches of 32.
    assert 0.5 < len(lengths) / len(bucketed) / 32 < 2


@pytest.mark.parametrize("case", CASES)
def test_sorted_eval_batches_are_deterministic_budgeted_and_reversible(case: tuple) -> None:
    n, max_tokens, multiple, max_bs, seed = case
    lengths = short_posts(n, seed)
    batches = sorted_eval_batches(lengths, max_tokens, pad_to_multiple_of=multiple, max_batch_size=max_bs)
    assert batches == sorted_eval_batches(lengths, max_tokens, pad_to_multiple_of=multiple, max_batch_size=max_bs)
    assert sorted(i for b in batches for i in b) == list(range(n))
    padded = padded_lengths(lengths, multiple)
    assert all(len(b) * padded[b].max() <= max_tokens or len(b) == 1 for b in batches)
    firsts = [int(lengths[b].max()) for b in batches]
    assert firsts == sorted(firsts, reverse=True)  # longest first
    outputs = torch.cat([torch.as_tensor(lengths[b]) * 10 + 1 for b in batches])  # a per-row "prediction"
    assert outputs[input_order(batches)].tolist() == (torch.as_tensor(lengths) * 10 + 1).tolist()


def test_bad_inputs_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="row 2 has 0 tokens"):
        LengthBucketBatchSampler([3, 4, 0], 64)
    with pytest.raises(ValueError, match="rank"):
        LengthBucketBatchSampler([3, 4], 64, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="max_tokens"):
        sorted_eval_batches([3, 4], 0)
    with pytest.raises(ValueError, match="exactly once"):
        input_order([[0, 1], [1]])


# --- ShuffledBatchSampler (loader.batching=random) ---------------------------------------------------


def test_shuffled_batches_are_chunks_of_the_epoch_seeded_permutation() -> None:
    sampler = ShuffledBatchSampler(103, 10, seed=7)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        order = torch.randperm(103, generator=torch.Generator().manual_seed(epoch_seed(7, epoch))).tolist()
        assert list(sampler) == [order[i : i + 10] for i in range(0, 103, 10)]
    assert len(sampler) == 11
    assert sampler.epoch_plan(0) != sampler.epoch_plan(1)


def test_shuffled_batches_shard_like_a_distributed_sampler() -> None:
    ranks = [ShuffledBatchSampler(103, 8, seed=3, num_replicas=4, rank=r) for r in range(4)]
    plans = [s.epoch_plan(2) for s in ranks]
    assert len({len(s) for s in ranks}) == 1 and all(len(p) == len(ranks[0]) for p in plans)
    rows = [i for plan in plans for batch in plan for i in batch]
    assert set(rows) == set(range(103)) and len(rows) == 104  # padded by one repeated row, as DistributedSampler
    even = [ShuffledBatchSampler(96, 8, seed=3, num_replicas=4, rank=r).epoch_plan(0) for r in range(4)]
    shards = [{i for batch in plan for i in batch} for plan in even]
    assert sum(len(s) for s in shards) == 96 and len(set().union(*shards)) == 96  # disjoint


def test_shuffled_batches_resume_after_k_batches() -> None:
    full = ShuffledBatchSampler(50, 4, seed=1)
    full.set_epoch(3)
    want = list(full)
    first = ShuffledBatchSampler(50, 4, seed=1)
    first.set_epoch(3)
    it = iter(first)
    taken = [next(it) for _ in range(5)]
    resumed = ShuffledBatchSampler(50, 4, seed=1)
    resumed.load_state_dict(first.state_dict())
    resumed.set_epoch(3)
    assert taken + list(resumed) == want
