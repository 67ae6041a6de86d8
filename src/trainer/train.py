"""Fine-tune a multilingual encoder: ``python -m trainer.train experiment=... model=... data=...``.

Reads top to bottom: seed → data → model → module → trainer → fit → test → save → track.
``main`` only wires Hydra to :func:`run_train`, which tests call directly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

from trainer.config import to_container
from trainer.config.instantiate import safe_instantiate
from trainer.data import data_spec_from_dict, prepare_data
from trainer.data.tokenized import make_collator, make_loader, tokenize_cached
from trainer.models.sources import load_classifier, model_spec_from_dict
from trainer.runs.folder import RunFolder, write_json, write_yaml
from trainer.runs.provenance import git_state, run_info
from trainer.scoring.calibration import calibrate, probabilities
from trainer.scoring.metrics import compute_metrics, tune_thresholds
from trainer.scoring.predictions import write_predictions
from trainer.tracking import make_tracker
from trainer.training.loss_weights import resolve_loss_weights
from trainer.training.module import ClassifierModule, predict_logits
from trainer.training.resume import EpochSeed

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    cache_hit: bool


def _majority_baseline(
    train_labels: list[Any],
    test_probs_shape: tuple[int, ...],
    targets: torch.Tensor,
    langs: list[str],
    label_map: Any,
    main_metric: str,
) -> dict[str, Any]:
    """Metrics of always predicting the most frequent training class (or label set)."""
    n, k = test_probs_shape
    if label_map.task == "multilabel":
        rate = torch.tensor(train_labels).float().mean(dim=0)
        probs = (rate >= 0.5).float().expand(n, k).clone()
    else:
        counts = torch.bincount(torch.tensor(train_labels), minlength=k)
        probs = torch.zeros(n, k)
        probs[:, int(counts.argmax())] = 1.0
    metric = main_metric if main_metric in ("macro_f1", "micro_f1", "accuracy", "f1") else "macro_f1"
    m = compute_metrics(probs, targets, langs, label_map, main_metric=metric)
    return {
        "strategy": "majority",
        "overall": m["overall"],
        "per_language": {lang: v.get(metric) for lang, v in m["per_language"].items()},
    }


def run_train(cfg: DictConfig, run_dir: Path) -> TrainResult | None:
    """Train, evaluate and write a self-describing run folder. Returns None on non-zero ranks."""
    started = datetime.now(UTC)
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)
    is_rank_zero = int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0

    # Data: every input problem fails here, before a model exists.
    spec = data_spec_from_dict(to_container(cfg.data))
    model_spec = model_spec_from_dict(to_container(cfg.model))
    data = prepare_data(spec)
    if is_rank_zero:
        print(data.report.format(), flush=True)

    tracker = make_tracker(to_container(cfg.tracking), is_rank_zero)
    git = git_state()  # one `git` subprocess pair, not one per tag
    tracker.start(
        config=to_container(cfg),
        run_dir=run_dir,
        resume_ckpt=cfg.ckpt_path,
        tags={
            "entry_point": "trainer.train",
            "model": model_spec.name,
            "model_source": model_spec.source,
            "dataset": spec.name,
            "task": spec.task,
            "languages": ",".join(data.languages),
            "git_commit": str(git["commit"]),
            "git_dirty": str(git["dirty"]),
        },
    )
    try:
        result = _fit_and_save(cfg, run_dir, started, spec, model_spec, data, tracker)
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")
    return result


def _fit_and_save(
    cfg: DictConfig, run_dir: Path, started: datetime, spec: Any, model_spec: Any, data: Any, tracker: Any
) -> TrainResult | None:
    tracker.log_data(data)
    # Model, tokenised once per content.
    cache_dir = Path(cfg.paths.cache_dir)
    loaded = load_classifier(model_spec, data.label_map, cache_dir)
    tokenized = tokenize_cached(data, loaded.tokenizer, model_spec.max_length, cache_dir)
    log.info("tokenisation cache %s: %s", "hit" if tokenized.cache_hit else "miss", tokenized.cache_dir)
    collator = make_collator(loaded.tokenizer, cfg.loader.pad_to_multiple_of)
    train_loader = make_loader(
        tokenized.splits["train"],
        collator,
        cfg.loader.batch_size,
        shuffle=True,
        num_workers=cfg.loader.num_workers,
        seed=cfg.seed,
    )
    val_loader = make_loader(tokenized.splits["validation"], collator, cfg.loader.eval_batch_size, shuffle=False)
    test_loader = make_loader(tokenized.splits["test"], collator, cfg.loader.eval_batch_size, shuffle=False)

    m = cfg.module
    train_labels = [e.label for e in data.splits["train"]]
    class_weights = resolve_loss_weights(
        to_container(m.class_weights), data.label_map, train_labels, "module.class_weights"
    )
    pos_weight = resolve_loss_weights(to_container(m.pos_weight), data.label_map, train_labels, "module.pos_weight")
    if class_weights is not None or pos_weight is not None:
        log.info("loss weights: class_weights=%s pos_weight=%s", class_weights, pos_weight)
    module = ClassifierModule(
        loaded.model,
        data.label_map,
        tokenized.languages,
        optimizer=safe_instantiate(m.optimizer, "module.optimizer"),
        scheduler=safe_instantiate(m.scheduler, "module.scheduler"),
        warmup_ratio=m.warmup_ratio,
        weight_decay=m.weight_decay,
        class_weights=class_weights,
        label_smoothing=m.label_smoothing,
        pos_weight=pos_weight,
        main_metric=m.main_metric,
    )

    monitor = f"val/{m.main_metric}"
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=monitor,
        mode="max",
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    callbacks: list[pl.Callback] = [checkpoint, EpochSeed(cfg.seed), *tracker.callbacks()]
    if cfg.callbacks.save_last:
        # Its own callback: Lightning >= 2.6's save_last only writes when the monitored metric improved,
        # so after a flat epoch last.ckpt would be stale and a resume would repeat epochs.
        callbacks.append(
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints",
                filename="last",
                monitor=None,
                save_top_k=1,
                enable_version_counter=False,
            )
        )
    if cfg.callbacks.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode="max", patience=cfg.callbacks.early_stopping_patience))
    trainer = pl.Trainer(
        **to_container(cfg.trainer),
        callbacks=callbacks,
        logger=tracker.lightning_logger() or False,
        default_root_dir=str(run_dir),
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_loader, val_loader, ckpt_path=cfg.ckpt_path)
    if not trainer.is_global_zero:
        return None

    # Test: the best checkpoint, thresholds tuned on validation, one metric code path.
    state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)["state_dict"]
    module.load_state_dict(state)
    module.to("cpu" if trainer.strategy.root_device.type == "cpu" else trainer.strategy.root_device)
    langs = tokenized.languages
    val_logits, val_y, val_l = predict_logits(module, val_loader)
    test_logits, test_y, test_l = predict_logits(module, test_loader)
    task = data.label_map.task
    calibration = calibrate(
        val_logits,
        val_y,
        {"validation": (val_logits, val_y), "test": (test_logits, test_y)},
        task,
        cfg.calibration.temperature_scaling,
        cfg.calibration.n_bins,
    )
    temperature = float(calibration["temperature"])  # type: ignore[arg-type]
    val_probs = probabilities(val_logits, task == "multilabel", temperature)
    test_probs = probabilities(test_logits, task == "multilabel", temperature)
    thresholds = tune_thresholds(val_probs, val_y, data.label_map, objective=m.main_metric)
    val_langs = [langs[i] for i in val_l.tolist()]
    test_langs = [langs[i] for i in test_l.tolist()]
    metrics = {
        "main_metric": m.main_metric,
        "best_checkpoint": Path(checkpoint.best_model_path).name,
        "best_epoch_score": float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None,
        "validation": compute_metrics(val_probs, val_y, val_langs, data.label_map, thresholds, m.main_metric),
        "test": compute_metrics(test_probs, test_y, test_langs, data.label_map, thresholds, m.main_metric),
        "baseline_test": _majority_baseline(
            train_labels, tuple(test_probs.shape), test_y, test_langs, data.label_map, m.main_metric
        ),
        "calibration": calibration,
        "loss_weights": {"class_weights": class_weights, "pos_weight": pos_weight},
        "val_history": module.val_history,
    }

    # Save: the run folder explains itself.
    write_yaml(run_dir / "config.yaml", to_container(cfg))
    data.label_map.save(run_dir / "labels.json")
    write_json(
        run_dir / "thresholds.json",
        {
            "task": data.label_map.task,
            "thresholds": thresholds,
            "labels": list(data.label_map.names),
            "tuned_on": "validation",
        },
    )
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "calibration.json", calibration)
    for split, (ids_, langs_, y_, p_) in {
        "validation": (tokenized.splits["validation"]["id"], val_langs, val_y, val_probs),
        "test": (tokenized.splits["test"]["id"], test_langs, test_y, test_probs),
    }.items():
        write_predictions(run_dir / "predictions" / f"{split}.csv", ids_, langs_, y_, p_, data.label_map, thresholds)
    data.report.save(run_dir / "data_report.json")
    write_json(
        run_dir / "data_digest.json",
        {"digest": data.digest, "files": data.file_digests, "splits": {s: data.split_digest(s) for s in data.splits}},
    )
    module.model.save_pretrained(run_dir / "model", safe_serialization=True)
    loaded.tokenizer.save_pretrained(run_dir / "model")
    main_value = metrics["test"]["overall"][m.main_metric]
    write_json(
        run_dir / "run_info.json",
        run_info(
            "trainer.train",
            started,
            {
                "model_source": loaded.source,
                "dataset": spec.name,
                "task": spec.task,
                "languages": langs,
                "tokenisation_cache": {"hit": tokenized.cache_hit, "path": str(tokenized.cache_dir)},
                "epochs_run": trainer.current_epoch,
                "global_steps": trainer.global_step,
            },
        ),
    )
    RunFolder(run_dir).write_readme(
        {"model": model_spec.name, "data": spec.name, "task": spec.task, f"test {m.main_metric}": f"{main_value:.4f}"},
    )
    tracker.log_final(
        run_dir=run_dir,
        metrics=metrics,
        final={
            "label_map": data.label_map,
            "thresholds": thresholds,
            "model_dir": run_dir / "model",
            "data": data,
            "languages": langs,
            "max_length": model_spec.max_length,
            "predictions": {"validation": (val_probs, val_y, val_langs), "test": (test_probs, test_y, test_langs)},
        },
    )
    _print_summary(run_dir, metrics, m.main_metric)
    return TrainResult(run_dir, metrics, tokenized.cache_hit)


def _print_summary(run_dir: Path, metrics: dict[str, Any], main: str) -> None:
    test, base = metrics["test"], metrics["baseline_test"]
    lines = [
        f"run folder: {run_dir}",
        f"test {main}: {test['overall'][main]:.4f} (majority baseline {base['overall'].get(main) or 0:.4f})",
    ]
    for lang, values in test["per_language"].items():
        lines.append(
            f"  {lang:>4} n={values['n']:<4} {main}={values.get(main) or 0:.4f} "
            f"(baseline {base['per_language'].get(lang) or 0:.4f})"
        )
    print("\n".join(lines), flush=True)


@hydra.main(config_path="../../configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    result = run_train(cfg, Path(HydraConfig.get().runtime.output_dir))
    # Returned for Hydra sweepers that optimise a value.
    return None if result is None else result.metrics["test"]["overall"][cfg.module.main_metric]


if __name__ == "__main__":
    main()
