"""The LightningModule: a transformers sequence classifier, its loss, optimiser and validation metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision
from torch import nn
from transformers import PreTrainedModel

from trainer.data.labels import LabelMap
from trainer.data.packing import is_packed, packed_logits
from trainer.models.pooling import pooling_of
from trainer.scoring.calibration import probabilities
from trainer.scoring.metrics import compute_metrics
from trainer.training.param_groups import GroupRule, apply_lr_scales, parameter_groups, scheduled_lr

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class ClassifierModule(pl.LightningModule):
    """Fine-tunes ``model`` for ``label_map.task``.

    Args:
        model: an ``AutoModelForSequenceClassification`` whose config carries the label map.
        label_map: classes, in output order.
        languages: language codes in ``lang_idx`` order (per-language validation metrics).
        optimizer: half-built optimiser (Hydra ``_partial_``), called with parameter groups.
        scheduler: half-built schedule, called with ``(optimizer, num_warmup_steps=, num_training_steps=)``.
        warmup_ratio: share of all optimiser steps used for warm-up.
        weight_decay: applied to all weights except biases and norms.
        layer_lr_decay: each encoder layer's lr is the one above's times this (1.0: one rate).
        head_lr_scale: factor on the lr of the parameters outside the encoder (the classifier head).
        class_weights: cross-entropy weights per class (single-label tasks).
        label_smoothing: cross-entropy label smoothing.
        pos_weight: BCE positive weights per label (multi-label).
        main_metric: validation metric that checkpointing and early stopping watch.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        label_map: LabelMap,
        languages: Sequence[str],
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.01,
        layer_lr_decay: float = 1.0,
        head_lr_scale: float = 1.0,
        class_weights: Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        pos_weight: Sequence[float] | None = None,
        main_metric: str = "macro_f1",
    ) -> None:
        super().__init__()
        # from_pretrained returns the model in eval mode and Lightning >= 2.2 keeps each module's mode,
        # so without this dropout would never be active during training.
        self.model = model.train()
        self.label_map = label_map
        self.languages = list(languages)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.warmup_ratio = warmup_ratio
        self.group_rule = GroupRule(weight_decay, layer_lr_decay, head_lr_scale)
        self.main_metric = main_metric
        k = label_map.num_labels
        for name, values in (("class_weights", class_weights), ("pos_weight", pos_weight)):
            if values is not None and len(values) != k:
                raise ValueError(f"module.{name} has {len(values)} values for {k} labels {list(label_map.names)}")
        # A loss setting the task's loss does not use is refused, not silently dropped.
        if label_map.task == "multilabel":
            unused = [n for n, v in (("class_weights", class_weights), ("label_smoothing", label_smoothing)) if v]
            hint = "BCE loss; weight labels with module.pos_weight"
        else:
            unused = ["pos_weight"] if pos_weight is not None else []
            hint = "cross-entropy loss; weight classes with module.class_weights"
        if unused:
            raise ValueError(f"module.{unused[0]} has no effect on a {label_map.task} task ({hint}): unset it")
        if label_map.task == "multilabel":
            pw = torch.tensor(pos_weight, dtype=torch.float) if pos_weight is not None else None
            self.loss_fn: nn.Module = nn.BCEWithLogitsLoss(pos_weight=pw)
        else:
            cw = torch.tensor(class_weights, dtype=torch.float) if class_weights is not None else None
            self.loss_fn = nn.CrossEntropyLoss(weight=cw, label_smoothing=label_smoothing)
        self._val_outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.val_history: list[dict[str, Any]] = []
        # The last validation epoch's gathered (probs, labels, language names), for figure callbacks.
        self.last_validation: tuple[torch.Tensor, torch.Tensor, list[str]] | None = None

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if is_packed(batch):  # loader.batching=packed: one logit row per packed sequence, in the rows' order
            if pooling_of(self.model.config) != "cls":
                raise ValueError("loader.batching=packed needs model.pooling=cls: packed rows give the head one token")
            return packed_logits(self.model, batch)
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "lang_idx")}
        return self.model(**inputs).logits

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return probabilities(logits, self.label_map.task == "multilabel")

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.label_map.task == "multilabel":
            return self.loss_fn(logits.float(), labels.float())
        return self.loss_fn(logits.float(), labels.long())

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(self(batch), batch["labels"])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["labels"]))
        self.log("train/lr", scheduled_lr(self.trainer.optimizers[0]), batch_size=len(batch["labels"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch)
        self.log("val/loss", self._loss(logits, batch["labels"]), batch_size=len(batch["labels"]), sync_dist=True)
        self._val_outputs.append(
            (self.probabilities(logits).detach(), batch["labels"].detach(), batch["lang_idx"].detach())
        )

    def on_validation_epoch_end(self) -> None:
        if not self._val_outputs:
            return
        probs, labels, langs = (torch.cat(t) for t in zip(*self._val_outputs, strict=True))
        self._val_outputs.clear()
        if self.trainer.world_size > 1:
            # Every rank computes the same metrics from the gathered set, so logging needs no sync.
            probs, labels, langs = (self.all_gather(t).flatten(0, 1) for t in (probs, labels, langs))
        lang_names = [self.languages[i] for i in langs.cpu().tolist()]
        metrics = compute_metrics(probs.cpu(), labels.cpu(), lang_names, self.label_map, main_metric=self.main_metric)
        self.last_validation = (probs.cpu(), labels.cpu(), lang_names)
        scalars = {f"val/{k}": v for k, v in metrics["overall"].items() if v is not None}
        for lang, values in metrics["per_language"].items():
            if values.get(self.main_metric) is not None:
                scalars[f"val/lang/{lang}/{self.main_metric}"] = values[self.main_metric]
        main = scalars.pop(f"val/{self.main_metric}")
        self.log_dict(scalars, prog_bar=False)
        self.log(f"val/{self.main_metric}", main, prog_bar=True)
        if not self.trainer.sanity_checking:
            self.val_history.append({"epoch": self.current_epoch, "step": self.global_step, **metrics})

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The per-epoch history travels with the checkpoint: a resumed run's metrics.json keeps every epoch.
        checkpoint["val_history"] = self.val_history

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.val_history = list(checkpoint.get("val_history") or [])

    def configure_optimizers(self) -> Any:
        prefix = getattr(self.model, "base_model_prefix", None)
        optimizer = self.optimizer_factory(parameter_groups(self.model, self.group_rule, prefix))
        apply_lr_scales(optimizer)
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(
            optimizer, num_warmup_steps=int(self.warmup_ratio * total), num_training_steps=total
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: Any = None,
    ) -> None:
        """Clip by norm here under bf16-mixed, so a fused optimiser can run there.

        Lightning refuses to clip for any optimiser that unscales internally (``fused=True``) under every
        mixed-precision plugin, because fp16's loss scaler would leave scaled gradients. bf16-mixed has no
        scaler: its gradients are already real, so the plugin's own ``clip_grad_by_norm`` is called directly,
        past the refusal. fp16 and every other precision keep Lightning's path (and its refusal).
        """
        plugin = self.trainer.precision_plugin
        by_norm = gradient_clip_algorithm is None or gradient_clip_algorithm == "norm"  # a str enum
        # MixedPrecision only (single device, DDP: gradients are whole and reduced by now); FSDP's plugin is another
        # class and keeps Lightning's path, which clips sharded gradients correctly.
        if gradient_clip_val and by_norm and isinstance(plugin, MixedPrecision) and plugin.scaler is None:
            plugin.clip_grad_by_norm(optimizer, gradient_clip_val)
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)


@torch.inference_mode()
def predict_logits(
    module: ClassifierModule, loader: Any, order: Sequence[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (fp32), labels and language indices for every row of ``loader``.

    In the loader's order, or, when the loader yields rows in ``order`` (row indices, as
    ``TextDataModule.eval_loader`` gives them), put back in row order.
    """
    module.eval()
    logits, labels, langs = [], [], []
    device = next(module.parameters()).device
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits.append(module(batch).float().cpu())
        labels.append(batch["labels"].cpu())
        langs.append(batch["lang_idx"].cpu())
    out = torch.cat(logits), torch.cat(labels), torch.cat(langs)
    if order is None:
        return out
    index = torch.as_tensor(order, dtype=torch.long)
    if len(index) != len(out[0]):
        raise ValueError(f"predict_logits: order has {len(index)} rows, the loader gave {len(out[0])}")
    inverse = torch.empty_like(index)
    inverse[index] = torch.arange(len(index))  # row r came as the inverse[r]-th
    return out[0][inverse], out[1][inverse], out[2][inverse]
