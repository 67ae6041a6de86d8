"""Padding-free packed batches (trainer.data.packing) give the padded path's logits on tiny BERT and XLM-R."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DebertaV2Config,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

from trainer.data.packing import (
    FIRST_INDEX,
    PackedCollator,
    _attention_kwargs,
    block_diagonal_mask,
    first_fit,
    is_packed,
    packed_logits,
    position_offset,
    segment_mask,
    supports_packing,
)

LENGTHS = [5, 17, 9, 2, 30, 11]
TINY = {
    "vocab_size": 120,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "num_labels": 3,
    # Larger than the 0.02 default: with near-zero weights attention is almost uniform and logits almost
    # constant, so a missing mask or shifted positions would change them by less than the tolerance.
    "initializer_range": 0.3,
}


def _model(kind: str, attention: str) -> BertForSequenceClassification | XLMRobertaForSequenceClassification:
    torch.manual_seed(0)
    if kind == "bert":
        config = BertConfig(**TINY, max_position_embeddings=64, attn_implementation=attention)
        return BertForSequenceClassification(config).eval()
    # XLM-R keeps pad_token_id + 1 extra position rows: positions 2..max_length + 1.
    config = XLMRobertaConfig(**TINY, max_position_embeddings=66, pad_token_id=1, attn_implementation=attention)
    return XLMRobertaForSequenceClassification(config).eval()


def _rows(seed: int = 1) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for i, n in enumerate(LENGTHS):
        # Ids above the special tokens: a real token equal to pad_token_id would change XLM-R's padded positions.
        ids = torch.randint(3, TINY["vocab_size"], (n,), generator=generator).tolist()
        rows.append({"input_ids": ids, "attention_mask": [1] * n, "labels": i % 3, "lang_idx": i % 2})
    return rows


def _padded_logits(model, rows: list[dict]) -> torch.Tensor:
    pad = model.config.pad_token_id or 0
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.tensor([r["input_ids"] + [pad] * (width - len(r["input_ids"])) for r in rows])
    mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows])
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("kind", ["bert", "xlm-roberta"])
def test_packed_logits_equal_padded_logits(kind: str, attention: str) -> None:
    model = _model(kind, attention)
    rows = _rows()
    batch = PackedCollator(position_offset(model.config))(rows)
    with torch.no_grad():
        packed = packed_logits(model, batch)
    assert packed.shape == (len(LENGTHS), TINY["num_labels"])
    torch.testing.assert_close(packed, _padded_logits(model, rows), atol=1e-5, rtol=0)


def test_xlmr_positions_restarted_at_zero_change_the_logits() -> None:
    """The trap: a flattening collator that counts positions from 0 gives XLM-R other (wrong) logits."""
    model = _model("xlm-roberta", "sdpa")
    rows = _rows()
    assert position_offset(model.config) == 2
    with torch.no_grad():
        wrong = packed_logits(model, PackedCollator(0)(rows))
    assert (wrong - _padded_logits(model, rows)).abs().max() > 0.1


def test_position_offset_comes_from_the_config() -> None:
    assert position_offset(BertConfig(pad_token_id=0)) == 0
    assert position_offset(XLMRobertaConfig(pad_token_id=1)) == 2
    assert position_offset(XLMRobertaConfig(pad_token_id=4)) == 5
    assert not supports_packing(DebertaV2Config())
    with pytest.raises(ValueError, match="deberta-v2"):
        position_offset(DebertaV2Config())


def test_collator_layout() -> None:
    rows = [{**r, "token_type_ids": [0] * len(r["input_ids"])} for r in _rows()]
    batch = PackedCollator(2)(rows)
    total = sum(LENGTHS)
    assert batch["input_ids"].shape == batch["position_ids"].shape == batch["token_type_ids"].shape == (1, total)
    assert batch["cu_seq_lens"].dtype == torch.int32
    assert batch["cu_seq_lens"].tolist() == [0, 5, 22, 31, 33, 63, 74]
    assert batch["max_length"] == 30
    starts = batch["cu_seq_lens"][:-1].long()
    assert batch["position_ids"][0, starts].tolist() == [2] * len(LENGTHS)
    assert batch["position_ids"][0, :6].tolist() == [2, 3, 4, 5, 6, 2]
    assert batch["labels"].tolist() == [0, 1, 2, 0, 1, 2] and batch["lang_idx"].shape == (6,)
    assert "attention_mask" not in batch
    with pytest.raises(ValueError, match="row 1"):
        PackedCollator(0)([{"input_ids": [5]}, {"input_ids": []}])


def test_mask_is_block_diagonal() -> None:
    cu = torch.tensor([0, 2, 5], dtype=torch.int32)
    allowed = block_diagonal_mask(cu)[0, 0]
    assert allowed.dtype == torch.bool and allowed.shape == (5, 5)
    assert allowed.int().tolist() == [
        [1, 1, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [0, 0, 1, 1, 1],
        [0, 0, 1, 1, 1],
        [0, 0, 1, 1, 1],
    ]
    additive = block_diagonal_mask(cu, torch.float32)[0, 0]
    assert additive[0, 1] == 0 and additive[0, 2] == torch.finfo(torch.float32).min


def test_flash_attention_gets_varlen_kwargs_and_no_mask() -> None:
    """FlashAttention runs on GPU only; the kwargs transformers' varlen path reads are checked here."""
    config = BertConfig(**TINY)
    config._attn_implementation = "flash_attention_2"
    cu = torch.tensor([0, 3, 10], dtype=torch.int32)
    kwargs = _attention_kwargs(SimpleNamespace(config=config), cu, 7)
    assert kwargs["attention_mask"] is None
    assert kwargs["cu_seq_lens_q"] is cu and kwargs["cu_seq_lens_k"] is cu
    assert kwargs["max_length_q"] == kwargs["max_length_k"] == 7
    config._attn_implementation = "flex_attention"
    with pytest.raises(ValueError, match="flex_attention"):
        _attention_kwargs(SimpleNamespace(config=config), cu, 7)


def test_packed_training_step_has_gradients() -> None:
    model = _model("bert", "sdpa").train()
    batch = PackedCollator(0)(_rows())
    loss = torch.nn.functional.cross_entropy(packed_logits(model, batch), batch["labels"])
    loss.backward()
    assert model.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert model.bert.pooler.dense.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("pack_length", [32, 40, 64])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("kind", ["bert", "xlm-roberta"])
def test_binned_packed_logits_equal_padded_logits(kind: str, attention: str, pack_length: int) -> None:
    """loader.batching=packed's layout: several bins, each padded to the longest, per-bin block-diagonal masks."""
    model = _model(kind, attention)
    rows = _rows()
    collate = PackedCollator(position_offset(model.config), pack_length, model.config.pad_token_id or 0, 8)
    batch = collate(rows)
    assert batch["input_ids"].shape[0] > 1 and batch["input_ids"].shape[1] % 8 == 0
    with torch.no_grad():
        packed = packed_logits(model, batch)
    torch.testing.assert_close(packed, _padded_logits(model, rows), atol=1e-5, rtol=0)


def test_binned_xlmr_positions_from_zero_change_the_logits() -> None:
    model = _model("xlm-roberta", "sdpa")
    rows = _rows()
    with torch.no_grad():
        wrong = packed_logits(model, PackedCollator(0, 32, pad_token_id=1)(rows))
    assert (wrong - _padded_logits(model, rows)).abs().max() > 0.1


def test_binned_layout() -> None:
    rows = [{**r, "token_type_ids": [0] * len(r["input_ids"])} for r in _rows()]
    batch = PackedCollator(2, 32, pad_token_id=1, pad_to_multiple_of=8)(rows)
    assert is_packed(batch) and "attention_mask" not in batch and "cu_seq_lens" not in batch
    # First fit, longest first: 30+2, 17+11, 9+5.
    assert batch["input_ids"].shape == batch["position_ids"].shape == batch["token_type_ids"].shape == (3, 32)
    assert (batch["segment_ids"] > 0).sum() == sum(LENGTHS)
    flat_ids, flat_pos = batch["input_ids"].flatten(), batch["position_ids"].flatten()
    first = batch[FIRST_INDEX]
    assert flat_ids[first].tolist() == [r["input_ids"][0] for r in rows]  # each row's first token, row order
    assert flat_pos[first].tolist() == [2] * len(LENGTHS)
    assert batch["position_ids"][0, :31].tolist() == list(range(2, 32)) + [2]  # row 4 (30 tokens), then row 3
    assert batch["input_ids"][2, 14:].tolist() == [1] * 18  # bin 2 holds 9 + 5 tokens, then padding
    assert batch["segment_ids"][2].tolist() == [1] * 9 + [2] * 5 + [0] * 18
    assert batch["labels"].tolist() == [0, 1, 2, 0, 1, 2]
    with pytest.raises(ValueError, match="pack_length"):
        PackedCollator(0, 0)


def test_first_fit_keeps_bins_under_capacity_and_gives_long_rows_their_own() -> None:
    bins, fill = first_fit([5, 40, 9, 20, 12], 24)
    assert sorted(r for b in bins for r in b) == [0, 1, 2, 3, 4]
    assert bins[0] == [1] and fill[0] == 40  # longer than the capacity: alone
    assert all(f <= 24 for f in fill[1:]) and fill == [40, 20, 21, 5]


def test_segment_mask_keeps_padding_apart_and_never_masks_a_whole_row() -> None:
    allowed = segment_mask(torch.tensor([[1, 1, 2, 0]]))[0, 0]
    assert allowed.int().tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert allowed.any(dim=-1).all()


def test_binned_training_step_has_gradients() -> None:
    model = _model("xlm-roberta", "sdpa").train()
    batch = PackedCollator(2, 32, pad_token_id=1)(_rows())
    loss = torch.nn.functional.cross_entropy(packed_logits(model, batch), batch["labels"])
    loss.backward()
    assert model.roberta.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert model.classifier.dense.weight.grad.abs().sum() > 0
