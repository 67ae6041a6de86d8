"""Optimiser parameter groups: weight decay, layer-wise learning-rate decay and the head's rate.

``module.layer_lr_decay`` (LLRD, as in ELECTRA/DeBERTa fine-tuning and timm's ``layer_decay``) gives each
encoder layer the learning rate of the layer above times the decay: the top layer trains at ``lr``,
the embeddings at ``lr * decay^(L+1)`` for ``L`` layers. Lower layers hold the general features that small
fine-tuning sets should move least. ``module.head_lr_scale`` multiplies the rate of the parameters outside the
encoder (the randomly initialised classifier), which at an encoder's rate learns slowly. Both default to 1.0:
one rate for every parameter, as before.

Depth is read from parameter names, the convention of transformers' encoders: ``*.embeddings.*`` is depth 0,
``*.layer.<i>.*`` / ``*.layers.<i>.*`` is ``i + 1``, anything else of the encoder (pooler, final norm) and the
head is the top, ``L + 1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
_LAYER = re.compile(r"(?:^|\.)(?:layer|layers)\.(\d+)\.")
_EMBEDDINGS = re.compile(r"(?:^|\.)embeddings\.")
# The key each group carries until the optimiser exists: its learning rate relative to the optimiser's lr.
LR_SCALE = "lr_scale"


@dataclass(frozen=True)
class GroupRule:
    """How ``module.*`` turns parameters into groups (validated here: the keys are named in errors)."""

    weight_decay: float = 0.01
    layer_lr_decay: float = 1.0
    head_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.layer_lr_decay <= 1.0:
            raise ValueError(f"module.layer_lr_decay={self.layer_lr_decay}: expected 0 < decay <= 1 (1.0: off)")
        if self.head_lr_scale <= 0.0:
            raise ValueError(f"module.head_lr_scale={self.head_lr_scale}: expected a positive factor (1.0: off)")


def depth_of(name: str, num_layers: int) -> int:
    """0 for embeddings, ``i + 1`` for encoder layer ``i``, ``num_layers + 1`` for the rest (see module doc)."""
    if _EMBEDDINGS.search(name):
        return 0
    match = _LAYER.search(name)
    if match:
        return min(int(match.group(1)) + 1, num_layers + 1)
    return num_layers + 1


def _num_layers(names: Iterable[str]) -> int:
    found = [int(m.group(1)) for n in names if (m := _LAYER.search(n))]
    return max(found) + 1 if found else 0


def parameter_groups(model: nn.Module, rule: GroupRule, base_prefix: str | None = None) -> list[dict]:
    """Trainable parameters of ``model`` in groups of equal (weight decay, lr scale).

    Ordered by scale, then decayed before not decayed: with both factors at 1.0 these are the two groups
    (decay, no decay) that checkpoints written before this option hold, so they resume unchanged.

    ``base_prefix`` is the encoder's attribute name (``model.base_model_prefix``, e.g. ``bert``); parameters
    outside it are the head. Each group carries :data:`LR_SCALE`; :func:`apply_lr_scales` turns it into a rate.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    num_layers = _num_layers(n for n, _ in named)
    groups: dict[tuple[float, float], dict] = {}
    for name, param in named:
        scale = rule.layer_lr_decay ** (num_layers + 1 - depth_of(name, num_layers))
        if base_prefix and not name.startswith(base_prefix + "."):
            scale *= rule.head_lr_scale
        decay = 0.0 if any(n in name for n in NO_DECAY) else rule.weight_decay
        group = groups.setdefault((decay, scale), {"params": [], "weight_decay": decay, LR_SCALE: scale})
        group["params"].append(param)
    return [groups[k] for k in sorted(groups, key=lambda k: (k[1], -k[0]))]


def scheduled_lr(optimizer: object) -> float:
    """The schedule's current rate (before any group's scale): what ``train/lr`` logs."""
    group = optimizer.param_groups[0]  # type: ignore[attr-defined]
    return float(group["lr"]) / group.get(LR_SCALE, 1.0)


def apply_lr_scales(optimizer: object) -> None:
    """Multiply each group's lr (the optimiser's, filled in at construction) by its :data:`LR_SCALE`.

    Called once, before the schedule is built, so schedules start from the scaled rates; the scale stays in
    the group (and in checkpoints), and the rates are not scaled twice on resume: a loaded optimiser state
    brings its own rates.
    """
    for group in optimizer.param_groups:  # type: ignore[attr-defined]
        group["lr"] = group["lr"] * group.get(LR_SCALE, 1.0)
