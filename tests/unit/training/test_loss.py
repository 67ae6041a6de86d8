"""The module's loss is torch's: weighted/smoothed cross-entropy, BCE with pos_weight; unused settings refused."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from trainer.data.labels import LabelMap
from trainer.models.sources import LoadedModel, ModelSpec, load_classifier
from trainer.training.module import ClassifierModule

# --- loss ---------------------------------------------------------------------------------------------

TINY = ModelSpec(
    name="tiny",
    source="tiny",
    tiny={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Callable[[LabelMap], LoadedModel]:
    """``tiny(label_map)``: the tiny classifier for that label map, built once per module (~1 s each: the
    250k-piece tokenizer dominates)."""
    cache = tmp_path_factory.mktemp("tiny_cache")
    return functools.cache(lambda label_map: load_classifier(TINY, label_map, cache))


def _module(loaded: LoadedModel, label_map: LabelMap, **kwargs: object) -> ClassifierModule:
    return ClassifierModule(loaded.model, label_map, ["en"], optimizer=torch.optim.AdamW, **kwargs)


def test_multiclass_loss_is_weighted_smoothed_cross_entropy(tiny: Callable[[LabelMap], LoadedModel]) -> None:
    label_map = LabelMap("multiclass", ("a", "b", "c"))
    weights, smoothing = [0.5, 1.0, 3.0], 0.1
    module = _module(tiny(label_map), label_map, class_weights=weights, label_smoothing=smoothing)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 3, generator=gen)
    targets = torch.randint(0, 3, (7,), generator=gen)

    expected = F.cross_entropy(logits, targets, weight=torch.tensor(weights), label_smoothing=smoothing)
    torch.testing.assert_close(module._loss(logits, targets), expected)
    # Weights and smoothing both change the value, so the comparison above can tell them apart.
    assert not torch.isclose(expected, F.cross_entropy(logits, targets, label_smoothing=smoothing))
    assert not torch.isclose(expected, F.cross_entropy(logits, targets, weight=torch.tensor(weights)))
    # Half-precision logits (bf16-mixed) are scored in fp32.
    half = logits.to(torch.bfloat16)
    torch.testing.assert_close(
        module._loss(half, targets),
        F.cross_entropy(half.float(), targets, weight=torch.tensor(weights), label_smoothing=smoothing),
    )


def test_multilabel_loss_is_bce_with_pos_weight(tiny: Callable[[LabelMap], LoadedModel]) -> None:
    label_map = LabelMap("multilabel", ("x", "y", "z"))
    pos_weight = [2.0, 1.0, 0.25]
    module = _module(tiny(label_map), label_map, pos_weight=pos_weight)
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 3, generator=gen)
    targets = torch.randint(0, 2, (6, 3), generator=gen).float()

    pw = torch.tensor(pos_weight)
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=pw)(logits, targets)
    # The same rule written out: mean over rows and labels of -(p * y * log s + (1 - y) * log(1 - s)).
    by_hand = -(pw * targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)).mean()
    torch.testing.assert_close(expected, by_hand)
    torch.testing.assert_close(module._loss(logits, targets), expected)
    assert not torch.isclose(expected, F.binary_cross_entropy_with_logits(logits, targets))


def test_binary_loss_is_two_logit_weighted_cross_entropy(tiny: Callable[[LabelMap], LoadedModel]) -> None:
    # Binary has two logits (LabelMap docs), so it is scored as 2-class cross-entropy with class_weights.
    label_map = LabelMap("binary", ("neg", "pos"), 1)
    loaded = tiny(label_map)
    assert loaded.model.config.num_labels == 2
    module = _module(loaded, label_map, class_weights=[1.0, 4.0])
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(8, 2, generator=gen)
    targets = torch.tensor([0, 1, 1, 0, 0, 0, 1, 0])
    expected = F.cross_entropy(logits, targets, weight=torch.tensor([1.0, 4.0]))
    torch.testing.assert_close(module._loss(logits, targets), expected)


def test_loss_weights_of_the_wrong_length_name_the_key(tiny: Callable[[LabelMap], LoadedModel]) -> None:
    label_map = LabelMap("multiclass", ("a", "b", "c"))
    loaded = tiny(label_map)
    with pytest.raises(ValueError, match=r"module\.class_weights has 2 values for 3 labels"):
        _module(loaded, label_map, class_weights=[1.0, 2.0])


@pytest.mark.parametrize(
    ("task", "setting"),
    [
        ("multilabel", {"class_weights": [1.0, 2.0, 3.0]}),
        ("multilabel", {"label_smoothing": 0.1}),
        ("multiclass", {"pos_weight": [1.0, 2.0, 3.0]}),
    ],
)
def test_a_loss_setting_the_task_does_not_use_is_refused(
    tiny: Callable[[LabelMap], LoadedModel], task: str, setting: dict[str, object]
) -> None:
    label_map = LabelMap(task, ("a", "b", "c"))
    (name,) = setting
    with pytest.raises(ValueError, match=rf"module\.{name} has no effect on a {task} task"):
        _module(tiny(label_map), label_map, **setting)
