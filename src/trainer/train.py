"""Fine-tune a multilingual encoder: ``python -m trainer.train experiment=... model=... data=...``.

Reads top to bottom: settings → seed → data → (``dry_run=true`` stops here) → tracking → model → data module →
module → trainer → fit → score the best checkpoint → save the run folder → track; each step after fit logs one
line with its duration (:func:`trainer.training.progress.phase`). ``main`` only wires Hydra to :func:`run_train`,
which tests call directly; every step lives in the stage package it names (``trainer.data``,
``trainer.models``, ``trainer.training``, ``trainer.tracking``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig

from trainer.config.instantiate import check_config_targets, preflight
from trainer.data.datamodule import TextDataModule
from trainer.data.prepared_cache import prepare_data_cached
from trainer.models.sources import load_classifier
from trainer.runs.folder import RunFolder
from trainer.runs.provenance import git_state
from trainer.scoring.metrics import check_main_metric
from trainer.tracking import NullTracker, Tracker, make_tracker
from trainer.training.final_scores import score_best
from trainer.training.fit import build_callbacks, build_module, build_trainer, load_best, loss_weights
from trainer.training.outputs import run_metrics, save_model, save_run_folder, save_run_info
from trainer.training.progress import console_trainer_args, phase, quiet_console, quiet_model_load
from trainer.training.ranks import hydra_overrides_for_rank, is_global_zero
from trainer.training.replicas import ReplicaDigest
from trainer.training.resume import hydra_overrides_for_resume, last_checkpoint, resume_folder
from trainer.training.settings import TrainSettings
from trainer.training.summary import print_summary

_DRY_RUN_DONE = (
    "dry run (dry_run=true): the data is prepared and reported above; stopping before model {model!r} is "
    "loaded (no MLflow run, no checkpoints). Drop dry_run=true to train."
)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    cache_hit: bool


def run_train(cfg: DictConfig, run_dir: Path) -> TrainResult | None:
    """Train, evaluate and write a self-describing run folder. Returns None on non-zero ranks and on a dry run."""
    started = datetime.now(UTC)
    quiet_console()
    check_config_targets(cfg)  # before anything is instantiated: configs travel between teams
    settings = TrainSettings.from_config(cfg)
    resumed = resume_folder(settings.resume, settings.runs_root, settings.run_suffix)
    ckpt_path = str(last_checkpoint(resumed)) if resumed else settings.ckpt_path
    pl.seed_everything(settings.seed, workers=True)
    rank_zero = is_global_zero()

    # Data: every input problem fails here, before a model exists.
    data = prepare_data_cached(settings.data, settings.cache_dir)
    check_main_metric(settings.module.main_metric, data.label_map.task)
    if rank_zero:
        print(data.report.format(), flush=True)
    if settings.dry_run:
        if rank_zero:
            print(_DRY_RUN_DONE.format(model=settings.model.name), flush=True)
        return None

    folder = RunFolder(resumed or run_dir).create()
    tracker = make_tracker(settings.tracking, rank_zero)
    tracker.start(config=settings.config, run_dir=folder.path, resume_ckpt=ckpt_path, tags=_tags(settings, data))
    try:
        result = _fit_and_save(settings, folder, started, data, tracker, ckpt_path)
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")
    return result


def _fit_and_save(
    settings: TrainSettings, folder: RunFolder, started: datetime, data: Any, tracker: Tracker, ckpt_path: str | None
) -> TrainResult | None:
    tracker.log_data(data)
    with quiet_model_load():
        loaded = load_classifier(settings.model, data.label_map, settings.cache_dir)
    dm = TextDataModule(
        data, loaded.tokenizer, settings.model.max_length, settings.cache_dir, settings.loader, settings.seed
    )
    weights = loss_weights(settings.module, data)
    module = build_module(loaded.model, data, settings.module, weights)
    main = settings.module.main_metric
    best, callbacks = build_callbacks(
        folder.path, settings.seed, main, settings.callbacks, [*tracker.callbacks(), ReplicaDigest()]
    )
    trainer_args = console_trainer_args(settings.trainer, sys.stdout)  # no bar when stdout is redirected
    trainer = build_trainer(trainer_args, folder.path, callbacks, tracker.lightning_logger(), plugins=[])
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    if not trainer.is_global_zero:
        return None

    # Test: the best checkpoint, thresholds tuned on validation, one metric code path.
    with phase("loading the best checkpoint"):
        load_best(module, trainer, best)
    with phase("scoring validation and test (temperature, thresholds, majority baseline)"):
        scores = score_best(module, dm, data, settings.calibration, main)
        metrics = run_metrics(scores, best, weights, module, main)
    with phase("writing the run folder (metrics, predictions, model)"):
        save_run_folder(folder, settings, data, dm, scores, metrics)
        save_model(folder, module, loaded.tokenizer)
        save_run_info(folder, settings, started, loaded.source, dm, trainer, metrics["test"]["overall"][main])
    if not isinstance(tracker, NullTracker):  # tracking=none: nothing to log, and no line saying so
        with phase(f"logging to {settings.tracking.get('backend')} (metrics, figures, files, model)"):
            tracker.log_final(run_dir=folder.path, metrics=metrics, final=_final(settings, data, dm, scores, folder))
    print_summary(folder.path, metrics, main)
    return TrainResult(folder.path, metrics, bool(dm.cache_hit))


def _tags(settings: TrainSettings, data: Any) -> dict[str, str]:
    git = git_state()  # one `git` subprocess pair, not one per tag
    return {
        "entry_point": "trainer.train",
        "model": settings.model.name,
        "model_source": settings.model.source,
        "dataset": settings.data.name,
        "task": settings.data.task,
        "languages": ",".join(data.languages),
        "git_commit": str(git["commit"]),
        "git_dirty": str(git["dirty"]),
    }


def _final(settings: TrainSettings, data: Any, dm: TextDataModule, scores: Any, folder: RunFolder) -> dict[str, Any]:
    """What the tracker logs after training besides the run folder's files."""
    return {
        "label_map": data.label_map,
        "thresholds": scores.thresholds,
        "model_dir": folder.model_dir,
        "data": data,
        "languages": dm.languages,
        "max_length": settings.model.max_length,
        "predictions": {
            split: (s.probs, s.targets, s.langs)
            for split, s in (("validation", scores.validation), ("test", scores.test))
        },
    }


@hydra.main(config_path="../../configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    result = run_train(cfg, Path(HydraConfig.get().runtime.output_dir))
    # Returned for Hydra sweepers that optimise a value.
    return None if result is None else result.metrics["test"]["overall"][cfg.module.main_metric]


def cli() -> None:
    """``python -m trainer.train`` and ``seaguard-train``: Hydra's output on global rank 0 only."""
    preflight("train", sys.argv[1:])  # hydra.callbacks are instantiated before main() could check them
    sys.argv[1:] = hydra_overrides_for_resume(hydra_overrides_for_rank(sys.argv[1:]))
    main()


if __name__ == "__main__":
    cli()
