"""Only allow-listed optimiser/schedule targets are instantiated; anything else names the key."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from trainer.config.instantiate import UnsafeTargetError, safe_instantiate


def test_allowed_target_is_instantiated_as_partial() -> None:
    import torch

    factory = safe_instantiate(
        OmegaConf.create({"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 0.1}), "module.optimizer"
    )
    opt = factory([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["lr"] == 0.1


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "subprocess.run"])
def test_untrusted_target_is_refused_with_the_key(target: str) -> None:
    node = {"_target_": "torch.optim.AdamW", "_partial_": True, "params": {"_target_": target, "_args_": ["id"]}}
    with pytest.raises(UnsafeTargetError, match=r"module\.optimizer\.params\._target_"):
        safe_instantiate(node, "module.optimizer")
