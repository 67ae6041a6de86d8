"""Tokenise once, cache by content (batches are built by :mod:`trainer.data.datamodule`).

The cache key covers everything that changes token ids: the prepared data digest (raw file hashes,
data spec, normaliser version), the tokenizer's full serialisation and special tokens, the maximum
length and :data:`TOKENIZE_VERSION`. A second run with the same inputs loads the Arrow files that
``datasets`` saved and does not call the tokenizer at all.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase

from trainer.data.file_rows import fork_workers
from trainer.data.prepare import PreparedData
from trainer.data.reader import DataError
from trainer.data.spec import SPLITS
from trainer.data.splits import SplitRows

# 2: input_ids only (int32), written by the fast backend in chunks.
TOKENIZE_VERSION = "2"
CHUNK_ROWS = 10_000  # texts per encode call (a worker's task): memory bounded
_DONE = "COMPLETE"


def tokenizer_digest(tokenizer: PreTrainedTokenizerBase) -> str:
    """Hash of what decides token ids: the backend's JSON plus the special tokens."""
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # Truncation/padding state is set on the backend by the first call: not part of what decides ids.
        with _no_state(backend):
            h.update(backend.to_str().encode())  # 0.04 s for 250k pieces; parsing and re-sorting it took 0.6 s
    else:  # slow tokenizers: their vocabulary is what matters
        h.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
    h.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
    return h.hexdigest()


@contextmanager
def _no_state(backend: Tokenizer) -> Iterator[Tokenizer]:
    """``backend`` without truncation or padding; both are put back afterwards (the backend itself, no copy)."""
    truncation, padding = backend.truncation, backend.padding
    backend.no_truncation()
    backend.no_padding()
    try:
        yield backend
    finally:
        if truncation is not None:
            backend.enable_truncation(**truncation)
        if padding is not None:
            backend.enable_padding(**padding)


def token_lengths(split: datasets.Dataset) -> np.ndarray:
    """Token count of every row of a tokenised split, from the Arrow list offsets (no Python list per row)."""
    return pc.list_value_length(split.data.column("input_ids")).to_numpy(zero_copy_only=False)


@dataclass
class TokenizedData:
    splits: datasets.DatasetDict
    languages: list[str]
    cache_dir: Path
    cache_hit: bool


def _model_table(rows: SplitRows, languages: list[str]) -> pa.Table:
    """id, text, lang_idx, labels of one split, straight from its Arrow columns (no row objects)."""
    table = rows.to_arrow()
    langs = table.column("langs").cast(pa.string())
    lang_idx = pc.index_in(langs, value_set=pa.array(languages, pa.string())).cast(pa.int64())
    columns = {"id": table.column("ids"), "text": table.column("texts"), "lang_idx": lang_idx}
    return pa.table({**columns, "labels": table.column("labels")})


@contextmanager
def _fast_encoder(tokenizer: PreTrainedTokenizerBase, max_length: int) -> Iterator[Tokenizer | None]:
    """The fast backend, truncating as ``tokenizer(texts, truncation=True, max_length=...)`` does, unpadded.

    The backend itself, not a copy (a 250k-piece copy costs ~300 MB); its truncation and padding state
    is put back afterwards. ``None`` for slow tokenizers.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        yield None
        return
    with _no_state(backend):
        backend.enable_truncation(max_length, stride=0, strategy="longest_first", direction=tokenizer.truncation_side)
        yield backend


def _token_ids(
    texts: list[str], tokenizer: PreTrainedTokenizerBase, encoder: Tokenizer | None, max_length: int
) -> pa.Array:
    if encoder is not None:  # no offsets, no attention masks: ids are all the cache keeps
        ids = [e.ids for e in encoder.encode_batch_fast(texts, add_special_tokens=True)]
    else:
        ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    return pa.array(ids, type=pa.list_(pa.int32()))


def _tokenize_split(
    table: pa.Table,
    tokenizer: PreTrainedTokenizerBase,
    encoder: Tokenizer | None,
    max_length: int,
    path: Path,
    chunk_rows: int,
) -> datasets.Dataset:
    """``input_ids`` beside id/lang_idx/labels, written chunk by chunk to one Arrow stream file (bounded memory)."""
    keep = table.drop_columns(["text"])
    writer = None
    with pa.OSFile(str(path), "wb") as sink:
        spans = [(start, min(chunk_rows, table.num_rows - start)) for start in range(0, table.num_rows, chunk_rows)]
        chunks = _id_chunks(table.column("text"), spans, tokenizer, encoder, max_length)
        for (start, n), ids in zip(spans, chunks, strict=True):
            part = keep.slice(start, n).append_column("input_ids", ids)
            if writer is None:
                writer = pa.ipc.new_stream(sink, part.schema)
            writer.write_table(part)
        if writer is not None:
            writer.close()
    return datasets.Dataset.from_file(str(path))


# -- many rows: one tokenising process per core --------------------------------------------------------
# Below this many rows of a split, worker processes cost more than they save.
PARALLEL_FROM = 50_000
_WORKER: dict[str, Any] = {}


def tokenize_workers(n: int) -> int:
    """Worker processes for a split of ``n`` rows (:func:`~trainer.data.file_rows.fork_workers`)."""
    return fork_workers(n, PARALLEL_FROM)


def _init_worker(
    texts: pa.ChunkedArray, tokenizer: PreTrainedTokenizerBase, encoder: Tokenizer | None, max_length: int
) -> None:
    # One thread per process: the processes already share the cores (the backend's own threads would contend).
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _WORKER.update(texts=texts, tokenizer=tokenizer, encoder=encoder, max_length=max_length)


def _worker_ids(span: tuple[int, int]) -> pa.Array:
    w = _WORKER
    return _token_ids(w["texts"].slice(*span).to_pylist(), w["tokenizer"], w["encoder"], w["max_length"])


def _id_chunks(
    texts: pa.ChunkedArray,
    spans: list[tuple[int, int]],
    tokenizer: PreTrainedTokenizerBase,
    encoder: Tokenizer | None,
    max_length: int,
) -> Iterator[pa.Array]:
    """The token ids of the texts of each ``(start, length)`` span, in order; with many rows, from forked workers.

    Each worker encodes, extracts the ids and builds the Arrow array of its chunks, so no core waits while
    Python converts (in one process, the backend's threads encode and then sit idle during the conversion:
    ~10% slower on 2 cores).
    """
    workers = tokenize_workers(len(texts))
    if workers == 1:
        for start, n in spans:
            yield _token_ids(texts.slice(start, n).to_pylist(), tokenizer, encoder, max_length)
        return
    initargs = (texts, tokenizer, encoder, max_length)
    with multiprocessing.get_context("fork").Pool(workers, _init_worker, initargs) as pool:
        yield from pool.imap(_worker_ids, spans)


def _tokenize_fresh(
    data: PreparedData, tokenizer: PreTrainedTokenizerBase, max_length: int, scratch: Path, chunk_rows: int
) -> datasets.DatasetDict:
    """Token ids of every split, written to Arrow files under ``scratch`` as they are made (bounded memory).

    Only ``input_ids`` are stored: the collator derives attention masks from the lengths, and single
    texts have all-zero token types (the model's default). A large split is encoded by one forked process
    per core (:func:`_id_chunks`); ``datasets.map`` with ``num_proc`` measured slower on 2 cores.
    """
    with _fast_encoder(tokenizer, max_length) as encoder:
        return datasets.DatasetDict(
            {
                split: _tokenize_split(
                    _model_table(data.splits[split], data.languages),
                    tokenizer,
                    encoder,
                    max_length,
                    scratch / f"{split}.arrow",
                    chunk_rows,
                )
                for split in SPLITS
            }
        )


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
    data: PreparedData,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    cache_root: Path,
    chunk_rows: int = CHUNK_ROWS,
) -> TokenizedData:
    """Return tokenised splits, from ``cache_root/tokenized/<key>`` when already computed."""
    empty = [s for s in SPLITS if not len(data.splits[s])]
    if empty:  # datasets writes a 0-row split it cannot read back: refuse before anything is written
        raise DataError(f"split(s) {empty} of data {data.spec.name} have no rows: nothing to tokenise")
    target = cache_path(data, tokenizer, max_length, cache_root)
    if (target / _DONE).exists():
        return TokenizedData(datasets.load_from_disk(str(target)), data.languages, target, cache_hit=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}-map-", dir=target.parent) as scratch:
        fresh = _tokenize_fresh(data, tokenizer, max_length, Path(scratch), chunk_rows)
        _save_atomically(fresh, target, data.digest)
        del fresh  # its memory-mapped scratch files go with the folder
    return TokenizedData(datasets.load_from_disk(str(target)), data.languages, target, cache_hit=False)


def _save_atomically(fresh: datasets.DatasetDict, target: Path, data_digest: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: concurrent ranks or jobs never see a half-written cache.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        fresh.save_to_disk(str(tmp / "data"))
        for item in (tmp / "data").iterdir():
            shutil.move(str(item), tmp / item.name)
        (tmp / "data").rmdir()
        # Marked done only once it reads back: a folder datasets wrote but cannot load is no cache entry.
        datasets.load_from_disk(str(tmp))
        (tmp / _DONE).write_text(json.dumps({"key": target.name, "data_digest": data_digest}) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.rename(tmp, target)
    except OSError:  # another process won the race: its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)
