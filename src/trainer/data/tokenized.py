"""Tokenise once, cache by content, pad dynamically.

The cache key covers everything that changes token ids: the prepared data digest (raw file hashes,
data spec, normaliser version), the tokenizer's full serialisation and special tokens, the maximum
length and :data:`TOKENIZE_VERSION`. A second run with the same inputs loads the Arrow files that
``datasets`` saved and does not call the tokenizer at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from trainer.data.prepare import PreparedData
from trainer.data.sampling import EpochShuffleSampler
from trainer.data.spec import SPLITS

TOKENIZE_VERSION = "1"
_DONE = "COMPLETE"


def tokenizer_digest(tokenizer: PreTrainedTokenizerBase) -> str:
    """Hash of what decides token ids: the backend's JSON plus the special tokens."""
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:  # slow tokenizers: their vocabulary is what matters
        h.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
    h.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
    return h.hexdigest()


@dataclass
class TokenizedData:
    splits: datasets.DatasetDict
    languages: list[str]
    cache_dir: Path
    cache_hit: bool


def _tokenize_fresh(
    data: PreparedData, tokenizer: PreTrainedTokenizerBase, max_length: int, languages: list[str]
) -> datasets.DatasetDict:
    lang_index = {lang: i for i, lang in enumerate(languages)}
    out = {}
    for split in SPLITS:
        rows = data.splits[split]
        ds = datasets.Dataset.from_dict(
            {
                "id": [e.id for e in rows],
                "text": [e.text for e in rows],
                "lang_idx": [lang_index[e.lang] for e in rows],
                "labels": [e.label for e in rows],
            }
        )

        def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
            return tokenizer(batch["text"], truncation=True, max_length=max_length)

        out[split] = ds.map(
            encode,
            batched=True,
            batch_size=1000,
            remove_columns=["text"],
            desc=f"tokenise {split}",
            load_from_cache_file=False,
            keep_in_memory=True,
        )
    return datasets.DatasetDict(out)


def tokenize_cached(
    data: PreparedData, tokenizer: PreTrainedTokenizerBase, max_length: int, cache_root: Path
) -> TokenizedData:
    """Return tokenised splits, from ``cache_root/tokenized/<key>`` when already computed."""
    languages = data.languages
    key = hashlib.sha256(
        json.dumps(
            {
                "data": data.digest,
                "tokenizer": tokenizer_digest(tokenizer),
                "max_length": max_length,
                "version": TOKENIZE_VERSION,
                "languages": languages,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:24]
    target = Path(cache_root) / "tokenized" / f"{data.spec.name}-{key}"
    if (target / _DONE).exists():
        return TokenizedData(datasets.load_from_disk(str(target)), languages, target, cache_hit=True)
    fresh = _tokenize_fresh(data, tokenizer, max_length, languages)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: concurrent ranks or jobs never see a half-written cache.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    fresh.save_to_disk(str(tmp / "data"))
    for item in (tmp / "data").iterdir():
        shutil.move(str(item), tmp / item.name)
    (tmp / "data").rmdir()
    (tmp / _DONE).write_text(json.dumps({"key": key, "data_digest": data.digest}) + "\n")
    try:
        os.rename(tmp, target)
    except OSError:  # another process won the race: its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return TokenizedData(datasets.load_from_disk(str(target)), languages, target, cache_hit=False)


def make_collator(tokenizer: PreTrainedTokenizerBase, pad_to_multiple_of: int | None) -> DataCollatorWithPadding:
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt")


def make_loader(
    ds: datasets.Dataset,
    collator: DataCollatorWithPadding,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    seed: int = 0,
) -> DataLoader:
    model_columns = [c for c in ds.column_names if c != "id"]
    data = ds.with_format(columns=model_columns)
    # Epoch e's order depends on (seed, e) only, so a resumed run sees the batches of an uninterrupted one.
    sampler = EpochShuffleSampler(data, seed) if shuffle else None
    # Its own generator: creating an iterator then never draws from the global RNG that dropout uses.
    return DataLoader(
        data,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collator,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
