"""Tokenise once, cache by content (batches are built by :mod:`trainer.data.datamodule`).

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
from transformers import PreTrainedTokenizerBase

from trainer.data.prepare import PreparedData
from trainer.data.spec import SPLITS

TOKENIZE_VERSION = "1"
_DONE = "COMPLETE"


def tokenizer_digest(tokenizer: PreTrainedTokenizerBase) -> str:
    """Hash of what decides token ids: the backend's JSON plus the special tokens."""
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # Truncation/padding state is set on the backend by the first call: not part of what decides ids.
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        h.update(json.dumps(spec, sort_keys=True).encode())
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


def cache_key(data: PreparedData, tokenizer: PreTrainedTokenizerBase, max_length: int) -> str:
    """What decides the token ids of every split: data digest, tokenizer, max length, this module's version."""
    return hashlib.sha256(
        json.dumps(
            {
                "data": data.digest,
                "tokenizer": tokenizer_digest(tokenizer),
                "max_length": max_length,
                "version": TOKENIZE_VERSION,
                "languages": data.languages,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:24]


def cache_path(data: PreparedData, tokenizer: PreTrainedTokenizerBase, max_length: int, cache_root: Path) -> Path:
    return Path(cache_root) / "tokenized" / f"{data.spec.name}-{cache_key(data, tokenizer, max_length)}"


def tokenize_cached(
    data: PreparedData, tokenizer: PreTrainedTokenizerBase, max_length: int, cache_root: Path
) -> TokenizedData:
    """Return tokenised splits, from ``cache_root/tokenized/<key>`` when already computed."""
    target = cache_path(data, tokenizer, max_length, cache_root)
    if (target / _DONE).exists():
        return TokenizedData(datasets.load_from_disk(str(target)), data.languages, target, cache_hit=True)
    fresh = _tokenize_fresh(data, tokenizer, max_length, data.languages)
    _save_atomically(fresh, target, data.digest)
    return TokenizedData(datasets.load_from_disk(str(target)), data.languages, target, cache_hit=False)


def load_cached(
    data: PreparedData, tokenizer: PreTrainedTokenizerBase, max_length: int, cache_root: Path
) -> TokenizedData:
    """The splits :func:`tokenize_cached` saved (tokenising now if they are missing)."""
    return tokenize_cached(data, tokenizer, max_length, cache_root)


def _save_atomically(fresh: datasets.DatasetDict, target: Path, data_digest: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: concurrent ranks or jobs never see a half-written cache.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    fresh.save_to_disk(str(tmp / "data"))
    for item in (tmp / "data").iterdir():
        shutil.move(str(item), tmp / item.name)
    (tmp / "data").rmdir()
    (tmp / _DONE).write_text(json.dumps({"key": target.name, "data_digest": data_digest}) + "\n")
    try:
        os.rename(tmp, target)
    except OSError:  # another process won the race: its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)
