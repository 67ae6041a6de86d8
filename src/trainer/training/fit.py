"""Model → LightningModule → Trainer: what ``trainer.fit`` needs, built from typed settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

from trainer.config.instantiate import safe_instantiate
from trainer.data.prepare import PreparedData
from trainer.runs.folder import CHECKPOINTS
from trainer.training.checkpoints import AtomicCheckpointIO, load_checkpoint
from trainer.training.loss_weights import resolve_loss_weights
from trainer.training.module import ClassifierModule
from trainer.training.progress import ProgressLog
from trainer.training.resume import EpochSeed
from trainer.training.settings import CallbackSettings, ModuleSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LossWeights:
    class_weights: list[float] | None
    pos_weight: list[float] | None

    def to_dict(self) -> dict[str, list[float] | None]:
        return {"class_weights": self.class_weights, "pos_weight": self.pos_weight}


def loss_weights(settings: ModuleSettings, data: PreparedData) -> LossWeights:
    """``module.class_weights`` / ``module.pos_weight`` as lists (``balanced`` etc. computed from training counts)."""
    train_labels = list(data.splits["train"].labels)
    weights = LossWeights(
        resolve_loss_weights(settings.class_weights, data.label_map, train_labels, "module.class_weights"),
        resolve_loss_weights(settings.pos_weight, data.label_map, train_labels, "module.pos_weight"),
    )
    if weights.class_weights is not None or weights.pos_weight is not None:
        log.info("loss weights: class_weights=%s pos_weight=%s", weights.class_weights, weights.pos_weight)
    return weights


def build_module(model: Any, data: PreparedData, settings: ModuleSettings, weights: LossWeights) -> ClassifierModule:
    return ClassifierModule(
        model,
        data.label_map,
        data.languages,
        optimizer=safe_instantiate(settings.optimizer, "module.optimizer"),
        scheduler=safe_instantiate(settings.scheduler, "module.scheduler"),
        warmup_ratio=settings.warmup_ratio,
        weight_decay=settings.weight_decay,
        layer_lr_decay=settings.layer_lr_decay,
        head_lr_scale=settings.head_lr_scale,
        class_weights=weights.class_weights,
        label_smoothing=settings.label_smoothing,
        pos_weight=weights.pos_weight,
        main_metric=settings.main_metric,
    )


def build_callbacks(
    run_dir: Path, seed: int, main_metric: str, settings: CallbackSettings, extra: list[pl.Callback]
) -> tuple[ModelCheckpoint, list[pl.Callback]]:
    """The best-checkpoint callback, and every callback of the run (best first)."""
    monitor = f"val/{main_metric}"
    best = ModelCheckpoint(
        dirpath=run_dir / CHECKPOINTS,
        filename="best",
        monitor=monitor,
        mode="max",
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    callbacks: list[pl.Callback] = [best, EpochSeed(seed), *extra]
    if settings.save_last:
        # Its own callback: Lightning >= 2.6's save_last only writes when the monitored metric improved,
        # so after a flat epoch last.ckpt would be stale and a resume would repeat epochs.
        callbacks += [_last_checkpoint(run_dir, None)]
        if settings.checkpoint_every_n_steps:  # the same last.ckpt, also every n steps (mid-epoch resume)
            callbacks.append(_last_checkpoint(run_dir, settings.checkpoint_every_n_steps))
    if settings.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode="max", patience=settings.early_stopping_patience))
    if settings.log_every_n_steps:  # lines only while no progress bar shows (stdout redirected)
        callbacks.append(ProgressLog(settings.log_every_n_steps))
    return best, callbacks


def _last_checkpoint(run_dir: Path, every_n_train_steps: int | None) -> ModelCheckpoint:
    return ModelCheckpoint(
        dirpath=run_dir / CHECKPOINTS,
        filename="last",
        monitor=None,
        save_top_k=1,
        enable_version_counter=False,
        every_n_train_steps=every_n_train_steps,
    )


def build_trainer(
    trainer_args: dict[str, Any], run_dir: Path, callbacks: list[pl.Callback], logger: Any, plugins: list[Any]
) -> pl.Trainer:
    """``configs/trainer/*.yaml`` are ``pl.Trainer`` arguments, passed as they are.

    ``use_distributed_sampler=False``: :class:`~trainer.data.datamodule.TextDataModule` shards every loader
    itself (every rank the same number of batches, resumable), so Lightning must not replace its samplers.
    """
    warn_if_bf16_is_emulated(trainer_args)
    return pl.Trainer(
        **trainer_args,
        use_distributed_sampler=False,
        callbacks=callbacks,
        logger=logger or False,
        plugins=[AtomicCheckpointIO(), *plugins],
        default_root_dir=str(run_dir),
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def warn_if_bf16_is_emulated(trainer_args: dict[str, Any]) -> bool:
    """Warn (and return True) for bf16 on a CPU without bf16 matrix units, where it is slower than fp32."""
    cpu = trainer_args.get("accelerator") == "cpu"
    if not (cpu and str(trainer_args.get("precision", "")).startswith("bf16")):
        return False
    if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
        return False
    log.warning(
        "trainer.precision=%s on a CPU without AMX or AVX512-BF16: bf16 is emulated there and slower than fp32; "
        "use trainer=cpu (32-true)",
        trainer_args.get("precision"),
    )
    return True


def load_best(module: ClassifierModule, trainer: pl.Trainer, best: ModelCheckpoint) -> ClassifierModule:
    """The best checkpoint's weights into ``module`` (loaded weights-only), on rank 0's device."""
    state = load_checkpoint(best.best_model_path)["state_dict"]
    module.load_state_dict(state)
    device = trainer.strategy.root_device
    return module.to(torch.device("cpu") if device.type == "cpu" else device)
