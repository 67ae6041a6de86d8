"""Scoring in length order gives every row its own logits back, in row order."""

from __future__ import annotations

import functools

import torch
from torch.utils.data import DataLoader
from transformers import BertConfig, BertForSequenceClassification

from trainer.data.labels import LabelMap
from trainer.training.module import ClassifierModule, predict_logits


def _pad(rows: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
        mask[i, : len(r["input_ids"])] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": torch.tensor([r["labels"] for r in rows]),
        "lang_idx": torch.tensor([r["lang_idx"] for r in rows]),
    }


def test_length_ordered_scoring_equals_row_order_scoring() -> None:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, num_labels=3
    )
    module = ClassifierModule(
        BertForSequenceClassification(config),
        LabelMap("multiclass", ("a", "b", "c")),
        ["en", "id"],
        functools.partial(torch.optim.AdamW, lr=1e-3),
    )
    gen = torch.Generator().manual_seed(1)
    lengths = torch.randint(2, 30, (23,), generator=gen).tolist()
    rows = [
        {"input_ids": torch.randint(3, 40, (n,), generator=gen).tolist(), "labels": i % 3, "lang_idx": i % 2}
        for i, n in enumerate(lengths)
    ]
    order = sorted(range(len(rows)), key=lambda i: -lengths[i])

    in_rows = predict_logits(module, DataLoader(rows, batch_size=4, collate_fn=_pad))
    by_length = DataLoader(rows, batch_size=4, sampler=order, collate_fn=_pad)
    restored = predict_logits(module, by_length, order)

    torch.testing.assert_close(restored[0], in_rows[0], atol=1e-5, rtol=1e-4)  # padding differs, values do not
    assert torch.equal(restored[1], in_rows[1]) and torch.equal(restored[2], in_rows[2])
    # Without the order the rows come back permuted: the comparison above can fail.
    assert not torch.allclose(predict_logits(module, by_length)[0], in_rows[0], atol=1e-3)
