"""The typed settings of one training run, built once from the composed config.

The entry point turns the Hydra config into a :class:`TrainSettings` in one step and hands each stage
only its piece: the data stage a :class:`~trainer.data.spec.DataSpec` and
:class:`~trainer.data.datamodule.LoaderSettings`, the model stage a :class:`~trainer.models.sources.ModelSpec`,
the module its :class:`ModuleSettings`, and so on. Unknown keys fail naming ``<group>.<key>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from trainer.config import to_container
from trainer.config.safety import redact
from trainer.data.datamodule import LoaderSettings
from trainer.data.spec import DataSpec, build_dataclass, data_spec_from_dict
from trainer.models.sources import ModelSpec, model_spec_from_dict


@dataclass(frozen=True)
class ModuleSettings:
    """``configs/module/*.yaml``: optimiser and schedule (allow-listed Hydra partials), loss and main metric."""

    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    layer_lr_decay: float = 1.0
    head_lr_scale: float = 1.0
    class_weights: list[float] | str | None = None
    label_smoothing: float = 0.0
    pos_weight: list[float] | str | None = None
    main_metric: str = "macro_f1"


@dataclass(frozen=True)
class CallbackSettings:
    """``configs/callbacks/*.yaml``."""

    early_stopping_patience: int = 3
    save_last: bool = True
    checkpoint_every_n_steps: int | None = None
    # A progress line every n optimiser steps when no progress bar shows (stdout not a TTY); 0: none.
    log_every_n_steps: int = 50


@dataclass(frozen=True)
class CalibrationSettings:
    """``calibration`` in ``configs/train.yaml``: temperature scaling after training."""

    temperature_scaling: bool | str = "auto"
    n_bins: int = 15


@dataclass(frozen=True)
class TrainSettings:
    """Everything a training run reads, typed; ``config`` is the resolved config saved with the run."""

    seed: int
    data: DataSpec
    model: ModelSpec
    module: ModuleSettings
    loader: LoaderSettings
    callbacks: CallbackSettings
    calibration: CalibrationSettings
    trainer: dict[str, Any]
    tracking: dict[str, Any]
    cache_dir: Path
    ckpt_path: str | None = None
    resume: str | None = None
    output_dir: Path = Path("outputs")
    dry_run: bool = False
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Packed batches hand the head each row's first token only (trainer.data.packing): CLS pooling.
        if self.loader.batching == "packed" and self.model.pooling != "cls":
            raise ValueError(
                f"loader.batching=packed needs model.pooling=cls, got model.pooling={self.model.pooling}: "
                "packed sequences give the head each row's first token, not a mean over its tokens; "
                "use loader=bucketed with mean pooling"
            )

    @classmethod
    def from_config(cls, cfg: DictConfig | dict[str, Any]) -> TrainSettings:
        """Resolve the composed config once and build every stage's settings from it."""
        c = to_container(cfg)
        return cls(
            seed=int(c["seed"]),
            data=data_spec_from_dict(c["data"]),
            model=model_spec_from_dict(c["model"]),
            module=build_dataclass(ModuleSettings, dict(c["module"]), "module"),
            loader=build_dataclass(LoaderSettings, dict(c["loader"]), "loader"),
            callbacks=build_dataclass(CallbackSettings, dict(c["callbacks"]), "callbacks"),
            calibration=build_dataclass(CalibrationSettings, dict(c.get("calibration") or {}), "calibration"),
            trainer=dict(c["trainer"]),
            tracking=dict(c["tracking"]),
            cache_dir=Path(c["paths"]["cache_dir"]),
            ckpt_path=c.get("ckpt_path"),
            resume=c.get("resume"),
            output_dir=Path(c["paths"]["output_dir"]),
            dry_run=_flag(c.get("dry_run", False), "dry_run"),
            config=redact(c, cfg) if isinstance(cfg, DictConfig) else redact(c),
        )

    @property
    def runs_root(self) -> Path:
        """Where ``configs/hydra/default.yaml`` puts single runs."""
        return self.output_dir / "train" / "runs"

    @property
    def run_suffix(self) -> str:
        """The end of a run folder's name for this model and data (``<time>_<model>_<data>``)."""
        return f"_{self.model.name}_{self.data.name}"


def _flag(value: Any, key: str) -> bool:
    """A boolean config value; ``dry_run=yes`` or ``dry_run=1`` would otherwise pass as truthy strings."""
    if not isinstance(value, bool):
        raise ValueError(f"{key}={value!r}: expected true or false")
    return value
