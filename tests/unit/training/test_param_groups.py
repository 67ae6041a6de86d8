"""Layer-wise lr decay and the head's rate: each parameter's rate follows its name's depth; defaults keep one rate."""

from __future__ import annotations

import functools

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, get_linear_schedule_with_warmup

from trainer.data.labels import LabelMap
from trainer.training.module import ClassifierModule
from trainer.training.param_groups import GroupRule, depth_of

LR = 1e-3
LAYERS = 3


def _bert() -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def _optimizer(**module_kwargs: float) -> tuple[BertForSequenceClassification, torch.optim.Optimizer]:
    model = _bert()
    module = ClassifierModule(
        model, LabelMap("binary", ("no", "yes")), ["en"], functools.partial(torch.optim.AdamW, lr=LR), **module_kwargs
    )
    return model, module.configure_optimizers()


def _rates(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, tuple[float, float]]:
    """name -> (lr, weight decay), read back from the optimiser's groups."""
    by_id = {id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters()}


def _expected_depth(name: str) -> int:
    # Written out from BERT's layout, independently of the module's regular expressions.
    if name.startswith("bert.embeddings."):
        return 0
    for i in range(LAYERS):
        if name.startswith(f"bert.encoder.layer.{i}."):
            return i + 1
    return LAYERS + 1  # pooler, classifier


def test_every_parameter_gets_its_depths_rate_and_the_head_its_factor() -> None:
    decay, head = 0.5, 10.0
    model, optimizer = _optimizer(layer_lr_decay=decay, head_lr_scale=head, weight_decay=0.02)
    rates = _rates(model, optimizer)
    assert len(rates) == len(list(model.parameters()))  # every parameter is in exactly one group
    for name, (lr, wd) in rates.items():
        expected = LR * decay ** (LAYERS + 1 - _expected_depth(name)) * (head if name.startswith("classifier.") else 1)
        assert lr == pytest.approx(expected), name
        assert wd == (0.0 if name.endswith("bias") or "LayerNorm" in name else 0.02), name
    # The extremes, spelled out: embeddings at lr * 0.5^4, the classifier at lr * 10, the pooler at lr.
    assert rates["bert.embeddings.word_embeddings.weight"][0] == pytest.approx(LR / 16)
    assert rates["classifier.weight"][0] == pytest.approx(LR * 10)
    assert rates["bert.pooler.dense.weight"][0] == pytest.approx(LR)


def test_defaults_are_the_two_groups_of_one_rate() -> None:
    model, optimizer = _optimizer()
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]
    assert {lr for lr, _ in _rates(model, optimizer).values()} == {LR}


def test_the_schedule_keeps_the_ratios_between_layers() -> None:
    model, optimizer = _optimizer(layer_lr_decay=0.8)
    schedule = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=2, num_training_steps=10)
    for _ in range(5):
        optimizer.step()
        schedule.step()
    rates = _rates(model, optimizer)
    top, emb = rates["classifier.weight"][0], rates["bert.embeddings.word_embeddings.weight"][0]
    assert 0 < top < LR  # the schedule moved the rate...
    assert emb / top == pytest.approx(0.8 ** (LAYERS + 1))  # ...and every group with it


def test_frozen_parameters_are_left_out() -> None:
    model = _bert()
    for p in model.bert.embeddings.parameters():
        p.requires_grad_(False)
    module = ClassifierModule(
        model, LabelMap("binary", ("no", "yes")), ["en"], functools.partial(torch.optim.AdamW, lr=LR)
    )
    grouped = {id(p) for g in module.configure_optimizers().param_groups for p in g["params"]}
    assert grouped == {id(p) for p in model.parameters() if p.requires_grad}


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"layer_lr_decay": 0.0}, "module.layer_lr_decay"),
        ({"layer_lr_decay": 1.5}, "module.layer_lr_decay"),
        ({"head_lr_scale": -1.0}, "module.head_lr_scale"),
    ],
)
def test_impossible_factors_are_refused_naming_the_key(kwargs: dict[str, float], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        GroupRule(**kwargs)


@pytest.mark.parametrize(
    ("name", "depth"),
    [
        ("roberta.embeddings.LayerNorm.weight", 0),
        ("deberta.encoder.layer.11.output.dense.weight", 12),
        ("model.layers.3.mlp.weight", 4),
        ("bert.pooler.dense.bias", 13),
        ("classifier.weight", 13),
    ],
)
def test_depth_follows_the_encoder_naming_of_other_families(name: str, depth: int) -> None:
    assert depth_of(name, 12) == depth
