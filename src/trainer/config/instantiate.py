"""Instantiate config nodes, but only allow-listed targets.

Configs travel: through MLflow params, shared experiment files, pull requests. A ``_target_`` can
name any callable, so ``hydra.utils.instantiate`` on an untrusted config is arbitrary code execution.
We instantiate only the optimiser and scheduler nodes, and only targets on this list.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

ALLOWED_TARGETS = frozenset(
    {
        "torch.optim.AdamW",
        "torch.optim.Adam",
        "torch.optim.SGD",
        "torch.optim.RAdam",
        "transformers.get_linear_schedule_with_warmup",
        "transformers.get_cosine_schedule_with_warmup",
        "transformers.get_constant_schedule_with_warmup",
        "transformers.get_polynomial_decay_schedule_with_warmup",
        "transformers.optimization.get_linear_schedule_with_warmup",
        "transformers.optimization.get_cosine_schedule_with_warmup",
    }
)


class UnsafeTargetError(ValueError):
    """A config names a ``_target_`` outside :data:`ALLOWED_TARGETS`."""


def check_targets(node: Any, key: str, allowed: frozenset[str] = ALLOWED_TARGETS) -> None:
    """Raise :class:`UnsafeTargetError` if ``node`` (recursively) names a target not in ``allowed``."""
    if isinstance(node, DictConfig | dict):
        items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else node.items()
        for k, v in items:
            if k == "_target_" and str(v) not in allowed:
                raise UnsafeTargetError(
                    f"config key {key}._target_={v!s} is not an allowed target; allowed: {sorted(allowed)}"
                )
            check_targets(v, f"{key}.{k!s}", allowed)
    elif isinstance(node, ListConfig | list):
        for i, v in enumerate(node):
            check_targets(v, f"{key}[{i}]", allowed)


def safe_instantiate(node: DictConfig | dict[str, Any] | None, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` after :func:`check_targets`; ``None`` stays ``None``."""
    if node is None:
        return None
    if isinstance(node, dict):
        node = OmegaConf.create(node)
    check_targets(node, key)
    return instantiate(node, **kwargs)
