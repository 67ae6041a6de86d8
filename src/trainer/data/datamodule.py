"""Data → batches: the one object that owns tokenisation, samplers and collators (a ``LightningDataModule``).

Lightning calls the hooks in this order, on every rank:

- :meth:`TextDataModule.prepare_data` on local rank 0 of each node only (``prepare_data_per_node``): tokenises
  the prepared splits into the content-addressed cache (:mod:`trainer.data.tokenized`). Other ranks wait at
  Lightning's barrier, so tokenisation happens once per node and before any collective can time out.
- :meth:`TextDataModule.setup` loads the cache (a hit everywhere by then).
- ``*_dataloader`` build sampler, collator and loader from :class:`LoaderSettings`.

Reading and validating raw files (:func:`trainer.data.prepare.prepare_data`) happens before: the label map
decides the model's head, and every input problem must fail before a model is loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import datasets
import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from trainer.data.packing import PackedCollator, position_offset
from trainer.data.prepare import PreparedData
from trainer.data.sampling import (
    LengthBucketBatchSampler,
    ResumableBatchSampler,
    ShuffledBatchSampler,
    StatefulBatchLoader,
    sorted_eval_batches,
)
from trainer.data.tokenized import TokenizedData, token_lengths, tokenize_cached
from trainer.data.truncation import TruncationReport, truncation_report

log = logging.getLogger(__name__)

# Columns the model sees; ``id`` stays in the dataset for prediction files.
MODEL_COLUMNS = ("input_ids", "attention_mask", "token_type_ids", "labels", "lang_idx")


@dataclass(frozen=True)
class LoaderSettings:
    """``configs/loader/*.yaml``.

    Args:
        batch_size: training rows per batch (``batching=random``); the row cap with ``length_bucket``.
        eval_batch_size: rows per validation/test batch.
        pad_to_multiple_of: dynamic padding granularity (8 on CPU, 16 on tensor-core GPUs).
        num_workers: loader worker processes (0: in the training process).
        pin_memory: page-locked host batches for faster host→GPU copies (no effect on CPU runs).
        batching: ``random`` (epoch-keyed shuffle), ``length_bucket`` (similar lengths per batch) or ``packed``
            (``length_bucket``'s batches, padding-free: rows packed into sequences of ``pack_length`` tokens).
        max_tokens: padded-token budget per training batch with ``length_bucket``/``packed`` (None: batch_size
            rows of similar length).
        pack_length: tokens per packed sequence with ``packed`` (None: the model's ``max_length``).
        eval_max_tokens: padded-token budget per batch when scoring the best checkpoint after fit (None:
            ``eval_batch_size`` rows): long rows get small batches, short ones large, so little of a batch is padding.
    """

    batch_size: int = 32
    eval_batch_size: int = 64
    pad_to_multiple_of: int | None = 8
    num_workers: int = 0
    pin_memory: bool = False
    batching: Literal["random", "length_bucket", "packed"] = "random"
    max_tokens: int | None = None
    pack_length: int | None = None
    eval_max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.batching not in ("random", "length_bucket", "packed"):
            raise ValueError(f"loader.batching={self.batching!r}: expected random, length_bucket or packed")
        if self.pack_length is not None and self.batching != "packed":
            raise ValueError(f"loader.pack_length={self.pack_length} has no effect unless loader.batching=packed")
        for key in ("batch_size", "eval_batch_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"loader.{key}={getattr(self, key)} must be at least 1")


class TextDataModule(pl.LightningDataModule):
    """Tokenised splits of one prepared dataset, and their loaders.

    Args:
        data: the prepared (read, validated, split) dataset.
        tokenizer: the model's tokenizer.
        max_length: truncation length in tokens.
        cache_root: ``paths.cache_dir``; tokenised splits live under ``<cache_root>/tokenized``.
        loader: batching settings.
        seed: the run seed; epoch ``e``'s order depends on ``(seed, e)`` only (exact resume).
    """

    def __init__(
        self,
        data: PreparedData,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        cache_root: Path,
        loader: LoaderSettings,
        seed: int,
    ) -> None:
        super().__init__()
        self.data = data
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.cache_root = Path(cache_root)
        self.loader = loader
        self.seed = seed
        self.prepare_data_per_node = True
        self.tokenized: TokenizedData | None = None
        self.cache_hit: bool | None = None
        self._train_loader: StatefulBatchLoader | None = None
        self._pending_state: dict[str, Any] | None = None
        self._truncation: TruncationReport | None = None

    # -- Lightning hooks ---------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Tokenise into the cache (local rank 0 of each node); records whether the cache was hit."""
        tokenized = tokenize_cached(self.data, self.tokenizer, self.max_length, self.cache_root)
        self.tokenized, self.cache_hit = tokenized, tokenized.cache_hit  # setup() in this process reuses it
        log.info(
            "tokenisation on this node's local rank 0: cache %s: %s",
            "hit" if self.cache_hit else "miss",
            tokenized.cache_dir,
        )
        report = self.truncation
        log.info(report.format())
        for line in report.flagged():
            log.warning(line)

    def setup(self, stage: str | None = None) -> None:
        if self.tokenized is None:  # ranks that did not run prepare_data read what local rank 0 wrote
            self.tokenized = tokenize_cached(self.data, self.tokenizer, self.max_length, self.cache_root)
            self.cache_hit = True

    def train_dataloader(self) -> DataLoader:
        """A resumable loader: its position within the epoch is saved in every checkpoint (exact mid-epoch resume)."""
        loader = self._stateful_loader(self._model_split("train"), self._train_batches())
        if self._pending_state is not None:
            loader.load_state_dict(self._pending_state)
            self._pending_state = None
        self._train_loader = loader
        return loader

    def state_dict(self) -> dict[str, Any]:
        """The training loader's position, saved in every checkpoint.

        Through the data module rather than the loader: Lightning builds the loader once to count the
        optimiser steps (``estimated_stepping_batches``) before it restores a checkpoint, and then applies no
        loader state; a data module's state is restored before any loader is built.
        """
        return {"train_loader": self._train_loader.state_dict()} if self._train_loader is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending_state = state_dict.get("train_loader")

    def val_dataloader(self) -> DataLoader:
        return self._loader(
            self._model_split("validation"), self.loader.eval_batch_size, self._eval_shard("validation")
        )

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._model_split("test"), self.loader.eval_batch_size, self._eval_shard("test"))

    def eval_loader(self, split: str) -> tuple[DataLoader, list[int]]:
        """Every row of ``split`` on this process, longest first (scoring the best checkpoint after fit).

        Rows of similar length share a batch, so little is padding: row order pads most batches of short
        posts to their one long row (``model.max_length=512``: 4.4x slower on GermEval c2a, docs/benchmarks.md).
        With ``loader.eval_max_tokens`` the batches hold that many padded tokens each instead of
        ``eval_batch_size`` rows (:func:`trainer.data.sampling.sorted_eval_batches`). Returns the loader and the
        row indices in the order it yields them (longest first), to put the outputs back in row order
        (``predict_logits(module, loader, order)``).
        """
        lengths = token_lengths(self._splits_data().splits[split])
        if self.loader.eval_max_tokens is None:
            order = np.argsort(-lengths, kind="stable").tolist()
            return self._loader(self._model_split(split), self.loader.eval_batch_size, sampler=order), order
        batches = sorted_eval_batches(
            lengths, self.loader.eval_max_tokens, pad_to_multiple_of=self.loader.pad_to_multiple_of or 1
        )
        loader = self._loader(self._model_split(split), 1, batch_sampler=batches)
        return loader, [i for batch in batches for i in batch]

    # -- what the rest of the run reads ------------------------------------------------------------
    @property
    def languages(self) -> list[str]:
        return self.data.languages

    @property
    def truncation(self) -> TruncationReport:
        """Rows that ``max_length`` cuts, per split and class (:mod:`trainer.data.truncation`), computed once."""
        if self._truncation is None:
            self._truncation = truncation_report(self._splits_data().splits, self.data.label_map, self.max_length)
        return self._truncation

    @property
    def cache_dir(self) -> Path:
        return self._splits_data().cache_dir

    def ids(self, split: str) -> list[str]:
        return list(self._splits_data().splits[split]["id"])

    def collator(self) -> DataCollatorWithPadding:
        """Evaluation batches (and training ones unless ``loader.batching=packed``): padded rows."""
        return make_collator(self.tokenizer, self.loader.pad_to_multiple_of)

    def train_collator(self) -> Any:
        """Padded rows, or with ``loader.batching=packed`` a :class:`PackedCollator` for the trained model."""
        if self.loader.batching != "packed":
            return self.collator()
        return PackedCollator(
            self._position_offset(),
            pack_length=self.loader.pack_length or self.max_length,
            pad_token_id=int(self.tokenizer.pad_token_id or 0),
            pad_to_multiple_of=self.loader.pad_to_multiple_of or 1,
        )

    # -- internals ---------------------------------------------------------------------------------
    def _position_offset(self) -> int:
        """Packed position ids start where the trained model's do (XLM-R: pad_token_id + 1; BERT, e5-small: 0)."""
        module = self.trainer.lightning_module if self.trainer is not None else None
        config = getattr(getattr(module, "model", None), "config", None)
        if config is None:
            raise RuntimeError("loader.batching=packed: the training loader needs the Trainer's model (its config)")
        return position_offset(config)

    def _splits_data(self) -> TokenizedData:
        if self.tokenized is None:
            raise RuntimeError("TextDataModule.setup() has not run: call prepare_data() and setup() first")
        return self.tokenized

    def _model_split(self, split: str) -> datasets.Dataset:
        ds = self._splits_data().splits[split]
        return ds.with_format(columns=[c for c in ds.column_names if c in MODEL_COLUMNS])

    def _loader(
        self, ds: datasets.Dataset, batch_size: int, sampler: Any = None, batch_sampler: Any = None
    ) -> DataLoader:
        return make_loader(
            ds,
            self.collator(),
            batch_size,
            sampler,
            self.loader.num_workers,
            self.seed,
            self.loader.pin_memory,
            batch_sampler,
        )

    def _train_batches(self) -> ResumableBatchSampler:
        """This rank's share of every epoch's batches: fixed-size random, or length-bucketed under a token budget."""
        trainer = self.trainer
        replicas = trainer.world_size if trainer is not None else 1
        rank = trainer.global_rank if trainer is not None else 0
        if self.loader.batching == "random":  # length_bucket and packed share the bucketed plan
            rows = self._splits_data().splits["train"].num_rows
            return ShuffledBatchSampler(rows, self.loader.batch_size, seed=self.seed, num_replicas=replicas, rank=rank)
        # From the Arrow offsets: no Python list per row (1M rows: ~35M ids never leave Arrow).
        lengths = token_lengths(self._splits_data().splits["train"]).tolist()
        return LengthBucketBatchSampler(
            lengths,
            self.loader.max_tokens or self.loader.batch_size * max(lengths, default=1),
            # Packed rows are not padded one by one: the budget counts their own tokens.
            pad_to_multiple_of=1 if self.loader.batching == "packed" else self.loader.pad_to_multiple_of or 1,
            max_batch_size=None if self.loader.max_tokens else self.loader.batch_size,
            seed=self.seed,
            num_replicas=replicas,
            rank=rank,
        )

    def _stateful_loader(self, ds: datasets.Dataset, batches: ResumableBatchSampler) -> StatefulBatchLoader:
        workers = self.loader.num_workers
        return StatefulBatchLoader(
            ds,
            batches,
            collate_fn=self.train_collator(),
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self.loader.pin_memory and torch.cuda.is_available(),
            # Its own generator: creating an iterator then never draws from the global RNG that dropout uses.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _eval_shard(self, split: str) -> DistributedSampler | None:
        """With its own training sampler the Trainer injects none: shard evaluation as Lightning would."""
        trainer = self.trainer
        if trainer is None or trainer.world_size < 2:
            return None
        ds = self._model_split(split)
        return DistributedSampler(ds, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False)


def make_collator(tokenizer: PreTrainedTokenizerBase, pad_to_multiple_of: int | None) -> DataCollatorWithPadding:
    """Right-pads each batch to its longest row, rounded up to ``pad_to_multiple_of``."""
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt")


def make_loader(
    ds: datasets.Dataset,
    collator: Any,
    batch_size: int,
    sampler: Any = None,
    num_workers: int = 0,
    seed: int = 0,
    pin_memory: bool = False,
    batch_sampler: Sequence[Sequence[int]] | None = None,
) -> DataLoader:
    """A loader over ``ds`` (in order unless ``sampler`` says otherwise; ``batch_sampler``: exactly these
    batches of row indices, ``batch_size`` unused) that never touches the global RNG."""
    ds = ds.with_format(columns=[c for c in ds.column_names if c in MODEL_COLUMNS])
    batching: dict[str, Any] = (
        {"batch_size": batch_size, "sampler": sampler} if batch_sampler is None else {"batch_sampler": batch_sampler}
    )
    return DataLoader(
        ds,
        **batching,
        collate_fn=collator,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory and torch.cuda.is_available(),
        # Its own generator: creating an iterator then never draws from the global RNG that dropout uses.
        generator=torch.Generator().manual_seed(seed),
    )
