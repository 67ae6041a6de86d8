"""bf16-mixed with a fused AdamW: the module clips by norm itself, where Lightning would refuse."""

from __future__ import annotations

import functools

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision
from torch.utils.data import DataLoader

from trainer.data.labels import LabelMap
from trainer.models.sources import ModelSpec, load_classifier
from trainer.training.module import ClassifierModule

TINY = ModelSpec(
    name="tiny",
    source="tiny",
    tiny={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
)


class _GradNorms(pl.Callback):
    """The total gradient norm the optimiser steps with (after clipping), read after the step (Lightning runs the closure, so the backward pass, inside `step`)."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        def record(optimizer: torch.optim.Optimizer, *_: object) -> None:
            grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            self.norms.append(
                float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
            )

        trainer.optimizers[0].register_step_post_hook(record)


def _batches(n: int = 4) -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    return DataLoader(
        [
            {
                "input_ids": torch.randint(5, 1000, (4, 9), generator=gen),
                "attention_mask": torch.ones(4, 9, dtype=torch.long),
                "labels": torch.randint(0, 2, (4,), generator=gen),
                "lang_idx": torch.zeros(4, dtype=torch.long),
            }
            for _ in range(n)
        ],
        batch_size=None,
    )


def _fit(tmp_path, precision: str | MixedPrecision, clip: float | None) -> _GradNorms:  # type: ignore[no-untyped-def]
    label_map = LabelMap("multiclass", ("a", "b"))
    torch.manual_seed(0)
    loaded = load_classifier(TINY, label_map, tmp_path / "cache")
    fused = functools.partial(torch.optim.AdamW, lr=1e-3, fused=True)
    module = ClassifierModule(loaded.model, label_map, ["en"], optimizer=fused)
    norms = _GradNorms()
    trainer = pl.Trainer(
        accelerator="cpu",
        **({"plugins": [precision]} if isinstance(precision, MixedPrecision) else {"precision": precision}),
        max_steps=4,
        gradient_clip_val=clip,
        callbacks=[norms],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train_dataloaders=_batches())
    return norms


def test_bf16_mixed_with_fused_adamw_clips_every_step(tmp_path) -> None:  # type: ignore[no-untyped-def]
    unclipped = _fit(tmp_path, "bf16-mixed", None).norms
    clip = min(unclipped) / 10  # every step's natural norm is well above the limit
    clipped = _fit(tmp_path, "bf16-mixed", clip).norms
    assert len(clipped) == 4
    assert all(n == pytest.approx(clip, rel=1e-3) for n in clipped), (clip, clipped)


def test_fp16_keeps_lightnings_refusal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # fp16's scaler leaves scaled gradients a fused optimiser unscales only inside its step: clipping
    # before that would be wrong, so the module leaves Lightning's refusal in place.
    with pytest.raises(RuntimeError, match="does not allow for gradient clipping"):
        # On CPU Lightning turns precision="16-mixed" into bf16, so the fp16 plugin is built by hand.
        _fit(tmp_path, MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu")), 1.0)


def test_bf16_on_a_cpu_without_bf16_units_warns(monkeypatch: pytest.MonkeyPatch, caplog) -> None:  # type: ignore[no-untyped-def]
    from trainer.training.fit import warn_if_bf16_is_emulated

    args = {"accelerator": "cpu", "precision": "bf16-mixed"}
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert warn_if_bf16_is_emulated(args)
    assert "use trainer=cpu" in caplog.text
    assert not warn_if_bf16_is_emulated({**args, "precision": "32-true"})
    assert not warn_if_bf16_is_emulated({**args, "accelerator": "gpu"})
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert not warn_if_bf16_is_emulated(args)
