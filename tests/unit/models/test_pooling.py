"""model.pooling=mean: padding never reaches the head, the head survives a save/load, cls stays the stock class."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertForSequenceClassification, XLMRobertaConfig

from trainer.data.labels import LabelMap
from trainer.models.pooling import (
    POOLING_KEY,
    MeanPooledBertForSequenceClassification,
    load_saved_classifier,
    masked_mean,
    mean_pooled_class,
)
from trainer.models.sources import ModelSpec, freeze, load_classifier

LABELS = LabelMap("multiclass", ("a", "b", "c"))


def _tiny(tmp_path: Path, pooling: str) -> torch.nn.Module:
    spec = ModelSpec(name="tiny", source="tiny", pooling=pooling, freeze_embeddings=True)  # type: ignore[arg-type]
    return load_classifier(spec, LABELS, tmp_path).model.eval()


def test_masked_mean_counts_only_real_tokens() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert masked_mean(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]
    # A row without a real token is zeros, not NaN.
    assert masked_mean(hidden, torch.tensor([[0, 0, 0]])).tolist() == [[0.0, 0.0]]


def test_padded_batch_gives_each_rows_own_logits(tmp_path: Path) -> None:
    model = _tiny(tmp_path, "mean")
    rows = [[0, 812, 4551, 17, 2], [0, 90, 2], [0, 3000, 41, 77, 5, 6, 2]]
    pad = model.config.pad_token_id
    width = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    with torch.no_grad():
        batch = model(input_ids=ids, attention_mask=mask).logits
        alone = torch.cat([model(input_ids=torch.tensor([r])).logits for r in rows])
        # Different padding tokens under the mask change nothing either.
        other_pad = model(input_ids=ids.masked_fill(mask == 0, 5), attention_mask=mask).logits
    torch.testing.assert_close(batch, alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(other_pad, batch, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(batch[0], batch[1])  # the rows do differ: the check could fail


def test_mean_pooled_model_saves_loads_and_freezes(tmp_path: Path) -> None:
    model = _tiny(tmp_path, "mean")
    assert isinstance(model, MeanPooledBertForSequenceClassification)
    assert model.bert.pooler is None  # no unused weights (DDP would wait for their gradients)
    names = {n for n, _ in model.named_parameters()}
    assert {"classifier.weight", "bert.embeddings.word_embeddings.weight"} <= names
    assert not any(p.requires_grad for p in model.bert.embeddings.parameters())
    freeze(model, embeddings=False, layers=1)
    assert not any(p.requires_grad for p in model.bert.encoder.layer[0].parameters())

    model.save_pretrained(tmp_path / "saved")
    reloaded = load_saved_classifier(tmp_path / "saved").eval()
    assert isinstance(reloaded, MeanPooledBertForSequenceClassification)
    assert getattr(reloaded.config, POOLING_KEY) == "mean" and reloaded.config.id2label == LABELS.id2label
    ids, mask = torch.tensor([[0, 812, 4551, 2, 1]]), torch.tensor([[1, 1, 1, 1, 0]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids, attention_mask=mask).logits, model(ids, mask).logits)


def test_cls_default_is_the_stock_classifier(tmp_path: Path) -> None:
    model = _tiny(tmp_path, "cls")
    assert type(model) is BertForSequenceClassification and not hasattr(model.config, POOLING_KEY)
    model.save_pretrained(tmp_path / "saved")
    assert type(load_saved_classifier(tmp_path / "saved")) is BertForSequenceClassification
    assert ModelSpec(name="x", source="tiny").pooling == "cls"


def test_unknown_pooling_and_family_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"model\.pooling must be one of \['cls', 'mean'\], got 'max'"):
        _tiny(tmp_path, "max")
    with pytest.raises(ValueError, match="not 'gpt2'"):
        mean_pooled_class("gpt2")
    # XLM-R keeps its own position scheme: the mean-pooled class wraps XLMRobertaModel, pooler removed.
    config = XLMRobertaConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=2
    )
    model = mean_pooled_class("xlm-roberta")(config)
    assert type(model.base_model).__name__ == "XLMRobertaModel" and model.base_model.pooler is None
    assert model(input_ids=torch.tensor([[0, 7, 2, 1]]), attention_mask=torch.tensor([[1, 1, 1, 0]])).logits.shape == (
        1,
        2,
    )
