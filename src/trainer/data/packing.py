"""Padding-free packed batches for BERT- and XLM-R-style encoders.

A packed batch is one row (batch dimension 1) holding a batch's sequences back to back, with no padding.
Three things keep it equal to the padded path:

- **Positions restart per sequence at the model's offset.** BERT counts from 0; RoBERTa/XLM-R count from
  ``pad_token_id + 1`` (= 2), because they derive positions from the padding index. Restarting them at 0
  silently shifts every position embedding: the trap padding-free collators fall into.
- **Sequences do not attend to each other.** With FlashAttention (``attn_implementation="flash_attention_2"``
  and friends) transformers 5 runs the varlen kernel from the ``cu_seq_lens_q/k`` and ``max_length_q/k``
  keyword arguments, which BERT and XLM-R forward to their attention (no mask, no quadratic cost). With
  ``sdpa`` or ``eager`` a block-diagonal 4D mask is passed instead, which transformers uses as given. That
  mask costs ``total_tokens**2`` attention work, so on CPU packing does not pay: use the length-bucketed
  padded batches there; packing is for FlashAttention on GPU.
- **The classification head sees each sequence's first token** ([CLS]/<s>), gathered at the sequence starts;
  :func:`packed_logits` applies the model's own head (BERT: pooler -> dropout -> classifier; XLM-R: the
  classification head) to those states.

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
    """Concatenates tokenised rows into one packed row (batch dimension 1).

    Returns ``input_ids`` and ``position_ids`` of shape ``(1, total_tokens)`` (plus ``token_type_ids`` when the
    rows have them), ``cu_seq_lens`` (int32, ``n + 1`` sequence boundaries starting at 0), ``max_length``
    (longest sequence, an int) and every other per-row column (``labels``, ``lang_idx``...) stacked to shape
    ``(n, ...)``. Row ``attention_mask``s are dropped: packed rows have no padding.

    Args:
        position_offset: first position id of each sequence, :func:`position_offset` of the model config.
    """

    def __init__(self, position_offset: int) -> None:
        if position_offset < 0:
            raise ValueError(f"position_offset must be >= 0, got {position_offset}")
        self.position_offset = position_offset

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not rows:
            raise ValueError("cannot pack an empty batch")
        ids = [torch.as_tensor(row["input_ids"], dtype=torch.long).reshape(-1) for row in rows]
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.int32)
        if (empty := torch.nonzero(lengths == 0)).numel():
            raise ValueError(f"row {int(empty[0])} of the batch has no tokens")
        batch: dict[str, Any] = {
            "input_ids": torch.cat(ids)[None],
            "position_ids": torch.cat([torch.arange(len(x)) + self.position_offset for x in ids])[None],
            "cu_seq_lens": torch.cat([torch.zeros(1, dtype=torch.int32), lengths.cumsum(0, dtype=torch.int32)]),
            "max_length": int(lengths.max()),
        }
        if "token_type_ids" in rows[0]:
            batch["token_type_ids"] = torch.cat([torch.as_tensor(r["token_type_ids"]).reshape(-1) for r in rows])[None]
        for key in rows[0]:
            if key not in _TOKEN_KEYS and key not in _DROPPED_KEYS:
                batch[key] = torch.stack([torch.as_tensor(row[key]) for row in rows])
        return batch


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
    """Run a BERT/XLM-R ``...ForSequenceClassification`` on a :class:`PackedCollator` batch.

    Returns:
        ``(n_sequences, num_labels)`` logits, in the batch's row order.
    """
    family = _family(model.config)
    device = batch["input_ids"].device
    cu_seq_lens = batch["cu_seq_lens"].to(device=device, dtype=torch.int32)
    inputs = {key: batch[key] for key in ("input_ids", "position_ids", "token_type_ids") if key in batch}
    encoded = model.base_model(**inputs, **_attention_kwargs(model, cu_seq_lens, int(batch["max_length"])))
    # Each sequence's first token, as a batch of length-1 sequences: the shape both heads index with [:, 0].
    firsts = encoded.last_hidden_state[0, cu_seq_lens[:-1].long()][:, None, :]
    classifier = model.get_submodule("classifier")
    if not family.pooled_head:
        return classifier(firsts)
    pooler = getattr(model.base_model, "pooler", None)
    if pooler is None:
        raise ValueError(f"{type(model).__name__} has no pooler: its head cannot run on a packed batch")
    return classifier(model.get_submodule("dropout")(pooler(firsts)))
