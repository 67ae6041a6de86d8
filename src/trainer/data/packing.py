"""Padding-free packed batches for BERT- and XLM-R-style encoders.

A packed batch holds a batch's sequences back to back. Two layouts (:class:`PackedCollator`):

- **one row** (``pack_length=None``, batch dimension 1, no padding at all): for FlashAttention's varlen kernel.
- **bins** (``pack_length=L``, ``loader.batching=packed``): rows first-fit into sequences of at most ``L`` tokens,
  the bins padded to the longest one. Attention then costs ``L**2`` per bin rather than ``total_tokens**2``:
  the layout for CPU and sdpa, where a block-diagonal mask replaces the varlen kernel (it removes most padding;
  docs/bench_train_throughput.md measures whether that pays).

Three things keep it equal to the padded path:

- **Positions restart per sequence at the model's offset.** BERT counts from 0; RoBERTa/XLM-R count from
  ``pad_token_id + 1`` (= 2), because they derive positions from the padding index. Restarting them at 0
  silently shifts every position embedding: the trap padding-free collators fall into.
- **Sequences do not attend to each other.** With FlashAttention (``attn_implementation="flash_attention_2"``
  and friends) transformers 5 runs the varlen kernel from the ``cu_seq_lens_q/k`` and ``max_length_q/k``
  keyword arguments, which BERT and XLM-R forward to their attention (no mask, no quadratic cost). With
  ``sdpa`` or ``eager`` a block-diagonal 4D mask is passed instead, which transformers uses as given (bin
  padding forms a block of its own, so no query row is fully masked).
- **The classification head sees each sequence's first token** ([CLS]/<s>), gathered at ``first_index``;
  :func:`packed_logits` applies the model's own head (BERT: pooler -> dropout -> classifier; XLM-R: the
  classification head) to those states. Only first-token (CLS) pooling can be packed this way.

transformers' ``DataCollatorWithFlattening`` is not used: it restarts positions at 0 and targets decoders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PretrainedConfig, PreTrainedModel
from transformers.utils.generic import is_flash_attention_requested


@dataclass(frozen=True)
class _Family:
    positions_after_pad: bool  # positions start at pad_token_id + 1 (RoBERTa) instead of 0 (BERT)
    pooled_head: bool  # head = base pooler -> dropout -> classifier (BERT); else classifier(features) (RoBERTa)


# model_type -> how its positions and classification head work. Other encoders (DeBERTa: relative positions,
# its own mask code; DistilBERT: no position ids argument) are refused rather than packed wrongly.
FAMILIES: dict[str, _Family] = {
    "bert": _Family(positions_after_pad=False, pooled_head=True),
    "roberta": _Family(positions_after_pad=True, pooled_head=False),
    "xlm-roberta": _Family(positions_after_pad=True, pooled_head=False),
}

# Keys of a tokenised row that are concatenated (per token) rather than stacked (per sequence).
_TOKEN_KEYS = ("input_ids", "token_type_ids")
_DROPPED_KEYS = ("attention_mask", "position_ids", "special_tokens_mask", "length")
# Every packed batch carries it: the flat position of each sequence's first token (what the head reads).
FIRST_INDEX = "first_index"


def _family(config: PretrainedConfig) -> _Family:
    family = FAMILIES.get(config.model_type)
    if family is None:
        raise ValueError(
            f"packed batches support model types {sorted(FAMILIES)}, not {config.model_type!r}: "
            "use padded batches for this model"
        )
    return family


def supports_packing(config: PretrainedConfig) -> bool:
    """Whether :class:`PackedCollator` and :func:`packed_logits` handle this model type."""
    return config.model_type in FAMILIES


def position_offset(config: PretrainedConfig) -> int:
    """The position id of a sequence's first token: ``pad_token_id + 1`` for RoBERTa/XLM-R, 0 for BERT."""
    if not _family(config).positions_after_pad:
        return 0
    if config.pad_token_id is None:
        raise ValueError(f"model config ({config.model_type}) has no pad_token_id: its positions start after it")
    return int(config.pad_token_id) + 1


class PackedCollator:
    """Concatenates tokenised rows into packed sequences.

    ``pack_length=None`` (one row): ``input_ids`` and ``position_ids`` of shape ``(1, total_tokens)`` (plus
    ``token_type_ids`` when the rows have them), ``cu_seq_lens`` (int32, ``n + 1`` sequence boundaries starting
    at 0) and ``max_length`` (longest sequence, an int).

    ``pack_length=L`` (bins): rows first-fit (longest first) into bins of at most ``L`` tokens; ``input_ids``,
    ``position_ids`` (and ``token_type_ids``) of shape ``(bins, width)``, ``width`` the longest bin rounded up to
    ``pad_to_multiple_of``, and ``segment_ids`` (0 = padding, ``k`` = the bin's k-th sequence). A row longer than
    ``L`` gets a bin of its own.

    Both add :data:`FIRST_INDEX` (``(n,)``, flat positions in ``input_ids`` of each row's first token) and every
    other per-row column (``labels``, ``lang_idx``...) stacked to shape ``(n, ...)`` in the rows' order. Row
    ``attention_mask``s are dropped: sequences are delimited by ``cu_seq_lens`` / ``segment_ids``.

    Args:
        position_offset: first position id of each sequence, :func:`position_offset` of the model config.
        pack_length: tokens per bin; None = one row holding everything.
        pad_token_id: fills bin padding.
        pad_to_multiple_of: bin width granularity.
    """

    def __init__(
        self, position_offset: int, pack_length: int | None = None, pad_token_id: int = 0, pad_to_multiple_of: int = 1
    ) -> None:
        if position_offset < 0:
            raise ValueError(f"position_offset must be >= 0, got {position_offset}")
        if pack_length is not None and pack_length < 1:
            raise ValueError(f"loader.pack_length must be >= 1 or null, got {pack_length}")
        if pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be >= 1, got {pad_to_multiple_of}")
        self.position_offset = position_offset
        self.pack_length = pack_length
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not rows:
            raise ValueError("cannot pack an empty batch")
        ids = [torch.as_tensor(row["input_ids"], dtype=torch.long).reshape(-1) for row in rows]
        lengths = [len(x) for x in ids]
        if 0 in lengths:
            raise ValueError(f"row {lengths.index(0)} of the batch has no tokens")
        types = (
            [torch.as_tensor(r["token_type_ids"]).reshape(-1) for r in rows] if "token_type_ids" in rows[0] else None
        )
        batch = self._one_row(ids, types) if self.pack_length is None else self._bins(ids, types, self.pack_length)
        for key in rows[0]:
            if key not in _TOKEN_KEYS and key not in _DROPPED_KEYS:
                batch[key] = torch.stack([torch.as_tensor(row[key]) for row in rows])
        return batch

    def _one_row(self, ids: list[torch.Tensor], types: list[torch.Tensor] | None) -> dict[str, Any]:
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.int32)
        cu_seq_lens = torch.cat([torch.zeros(1, dtype=torch.int32), lengths.cumsum(0, dtype=torch.int32)])
        batch: dict[str, Any] = {
            "input_ids": torch.cat(ids)[None],
            "position_ids": torch.cat([torch.arange(len(x)) + self.position_offset for x in ids])[None],
            "cu_seq_lens": cu_seq_lens,
            "max_length": int(lengths.max()),
            FIRST_INDEX: cu_seq_lens[:-1].long(),
        }
        if types is not None:
            batch["token_type_ids"] = torch.cat(types)[None]
        return batch

    def _bins(self, ids: list[torch.Tensor], types: list[torch.Tensor] | None, capacity: int) -> dict[str, Any]:
        bins, fill = first_fit([len(x) for x in ids], capacity)
        multiple = self.pad_to_multiple_of
        width = -(-max(fill) // multiple) * multiple
        input_ids = torch.full((len(bins), width), self.pad_token_id, dtype=torch.long)
        positions = torch.full((len(bins), width), self.position_offset, dtype=torch.long)
        segments = torch.zeros((len(bins), width), dtype=torch.long)
        token_types = torch.zeros((len(bins), width), dtype=torch.long) if types is not None else None
        first = torch.empty(len(ids), dtype=torch.long)
        for b, members in enumerate(bins):
            start = 0
            for k, row in enumerate(members, start=1):
                n = len(ids[row])
                input_ids[b, start : start + n] = ids[row]
                positions[b, start : start + n] = torch.arange(n) + self.position_offset
                segments[b, start : start + n] = k
                if token_types is not None and types is not None:
                    token_types[b, start : start + n] = types[row]
                first[row] = b * width + start
                start += n
        batch: dict[str, Any] = {"input_ids": input_ids, "position_ids": positions, "segment_ids": segments}
        batch[FIRST_INDEX] = first
        if token_types is not None:
            batch["token_type_ids"] = token_types
        return batch


def first_fit(lengths: Sequence[int], capacity: int) -> tuple[list[list[int]], list[int]]:
    """First-fit decreasing: row indices per bin (each bin's rows longest first) and each bin's token count."""
    bins: list[list[int]] = []
    fill: list[int] = []
    for row in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        n = lengths[row]
        target = next((b for b, used in enumerate(fill) if used + n <= capacity), None)
        if target is None:
            bins.append([row])
            fill.append(n)
        else:
            bins[target].append(row)
            fill[target] += n
    return bins, fill


def is_packed(batch: Mapping[str, Any]) -> bool:
    """Whether ``batch`` came from :class:`PackedCollator` (rather than a padding collator)."""
    return FIRST_INDEX in batch


def block_diagonal_mask(cu_seq_lens: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(1, 1, T, T)`` mask letting each token attend only within its own sequence.

    Boolean (True = attend) for sdpa, which accepts it under any autocast dtype; with ``dtype`` an additive
    float mask (0 or the dtype's minimum) for eager attention, which adds the mask to the scores.
    """
    lengths = cu_seq_lens.diff().long()
    sequence = torch.repeat_interleave(torch.arange(len(lengths), device=cu_seq_lens.device), lengths)
    allowed = (sequence[:, None] == sequence[None, :])[None, None]
    if dtype is None:
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


def segment_mask(segment_ids: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(bins, 1, W, W)`` mask letting each token attend only within its own segment of its bin.

    Padding (segment 0) attends to padding only, so no query row is fully masked (which gives NaN in sdpa).
    Boolean (True = attend) or, with ``dtype``, additive, as :func:`block_diagonal_mask`.
    """
    allowed = (segment_ids[:, :, None] == segment_ids[:, None, :])[:, None]
    if dtype is None:
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


def _bin_attention_kwargs(model: PreTrainedModel, segment_ids: torch.Tensor) -> dict[str, Any]:
    implementation = model.config._attn_implementation
    if implementation == "sdpa":
        return {"attention_mask": segment_mask(segment_ids)}
    if implementation == "eager":
        return {"attention_mask": segment_mask(segment_ids, model.dtype)}
    raise ValueError(
        f"binned packed batches (loader.pack_length set) need attn_implementation sdpa or eager, not "
        f"{implementation!r}: with FlashAttention pack into one row (loader.pack_length=null), the varlen kernel"
    )


def _attention_kwargs(model: PreTrainedModel, cu_seq_lens: torch.Tensor, max_length: int) -> dict[str, Any]:
    implementation = model.config._attn_implementation
    if is_flash_attention_requested(model.config):
        # No mask: transformers runs flash_attn_varlen_func from these (batch 1, tokens flattened).
        return {
            "attention_mask": None,
            "cu_seq_lens_q": cu_seq_lens,
            "cu_seq_lens_k": cu_seq_lens,
            "max_length_q": max_length,
            "max_length_k": max_length,
        }
    if implementation == "sdpa":
        return {"attention_mask": block_diagonal_mask(cu_seq_lens)}
    if implementation == "eager":
        return {"attention_mask": block_diagonal_mask(cu_seq_lens, model.dtype)}
    raise ValueError(
        f"packed batches need attn_implementation flash_attention_*, sdpa or eager, not {implementation!r}"
    )


def packed_logits(model: PreTrainedModel, batch: Mapping[str, Any]) -> torch.Tensor:
    """Run a BERT/XLM-R ``...ForSequenceClassification`` on a :class:`PackedCollator` batch (either layout).

    Returns:
        ``(n_sequences, num_labels)`` logits, in the batch's row order.
    """
    family = _family(model.config)
    inputs = {key: batch[key] for key in ("input_ids", "position_ids", "token_type_ids") if key in batch}
    if "segment_ids" in batch:
        attention = _bin_attention_kwargs(model, batch["segment_ids"])
    else:
        cu_seq_lens = batch["cu_seq_lens"].to(device=batch["input_ids"].device, dtype=torch.int32)
        attention = _attention_kwargs(model, cu_seq_lens, int(batch["max_length"]))
    encoded = model.base_model(**inputs, **attention)
    # Each sequence's first token, as a batch of length-1 sequences: the shape both heads index with [:, 0].
    states = encoded.last_hidden_state.flatten(0, 1)
    firsts = states[batch[FIRST_INDEX].to(states.device)][:, None, :]
    classifier = model.get_submodule("classifier")
    if not family.pooled_head:
        return classifier(firsts)
    pooler = getattr(model.base_model, "pooler", None)
    if pooler is None:
        raise ValueError(f"{type(model).__name__} has no pooler: its head cannot run on a packed batch")
    return classifier(model.get_submodule("dropout")(pooler(firsts)))
