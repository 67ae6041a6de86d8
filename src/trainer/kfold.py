"""K-fold protocol: one model per fold, epoch chosen on validation, test per fold, mean ± std.

``python -m trainer.kfold experiment=id_hs1_me5`` trains folds ``0..data.split.folds-1`` one after the
other (``folds=[0,2]`` picks some), each through :func:`trainer.train.run_train` with
``data.split.fold=k`` into ``<run>/fold<k>/``, then writes ``<run>/kfold_summary.json``. The fold key
serves both fold kinds: ``split.strategy=kfold`` splits one file, published folds interpolate it into
their file names (``configs/data/id_hs1.yaml``).

``from_runs=[dir,...]`` trains nothing: it summarises fold runs that finished elsewhere (folds trained
in parallel on a GPU machine, say), reading each folder's ``config.yaml`` and ``metrics.json``.

With ``tracking=mlflow`` the summary is a parent run (mean and std of every test/validation metric,
``kfold_summary.json`` as artifact); trained folds become its child runs through the same
``PARENT_RUN_ENV`` hand-over as a Hydra multirun, imported folds are logged as child runs too.
The summary is computed in :mod:`trainer.training.kfold`, the parent run kept by
:mod:`trainer.tracking.kfold_parent`.
"""

from __future__ import annotations

import copy
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, open_dict

from trainer.config import to_container
from trainer.config.instantiate import preflight
from trainer.runs.folder import RunFolder, write_json
from trainer.tracking.kfold_parent import KfoldParent
from trainer.training.kfold import SUMMARY_FILE, child_run_ids, read_fold_run, summarize

__all__ = ["read_fold_run", "run_kfold", "summarize"]

log = logging.getLogger(__name__)


def run_kfold(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train (or, with ``from_runs``, read) every fold and write ``run_dir / "kfold_summary.json"``."""
    run_dir = Path(run_dir)
    if cfg.get("dry_run"):
        return _dry_run_folds(cfg, run_dir)
    RunFolder(run_dir).create().write_config(to_container(cfg))
    parent = KfoldParent(to_container(cfg.tracking), run_dir, dataset=str(cfg.data.name), model=str(cfg.model.name))
    summary: dict[str, Any] | None = None
    path = run_dir / SUMMARY_FILE
    try:
        folds = _import_folds(cfg, parent) if cfg.get("from_runs") else _train_folds(cfg, run_dir)
        if folds is None:  # a non-zero DDP rank: rank 0 summarises
            return {}
        summary = done = _summary(folds, parent)
        write_json(path, done)
    finally:
        parent.finish(summary, path if summary is not None else None)
    _print_summary(done, path)
    return done


def _summary(folds: list[dict[str, Any]], parent: KfoldParent) -> dict[str, Any]:
    """Mean ± std over ``folds``, and where MLflow keeps the parent and each fold."""
    summary = summarize(folds)
    summary["mlflow_parent_run_id"] = parent.run_id
    summary["mlflow_child_run_ids"] = child_run_ids(folds, parent.children())
    return summary


def _import_folds(cfg: DictConfig, parent: KfoldParent) -> list[dict[str, Any]]:
    """``from_runs``: folds trained elsewhere, each logged as a child of the parent run."""
    folds = []
    for folder in cfg.from_runs:
        fold = read_fold_run(Path(str(folder)))
        fold["mlflow_run_id"] = parent.import_fold(fold)
        folds.append(fold)
    return folds


def _fold_numbers(cfg: DictConfig) -> list[int]:
    return [int(k) for k in cfg.folds] if cfg.get("folds") is not None else list(range(cfg.data.split.folds))


def _dry_run_folds(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """``dry_run=true``: every fold's data report, and no parent MLflow run, summary or model."""
    from trainer.train import run_train

    numbers = _fold_numbers(cfg)
    for k in numbers:
        log.info("fold %d of %s (dry run)", k, numbers)
        run_train(_fold_config(cfg, k), run_dir / f"fold{k}")
    return {"dry_run": True, "folds": numbers}


def _train_folds(cfg: DictConfig, run_dir: Path) -> list[dict[str, Any]] | None:
    """Train ``folds`` (default: all of ``data.split.folds``) one after the other; None on a non-zero rank."""
    from trainer.train import run_train

    numbers = _fold_numbers(cfg)
    folds = []
    for k in numbers:
        log.info("fold %d of %s", k, numbers)
        result = run_train(_fold_config(cfg, int(k)), run_dir / f"fold{k}")
        if result is None:
            return None
        folds.append(read_fold_run(result.run_dir))
    return folds


def _fold_config(cfg: DictConfig, fold: int) -> DictConfig:
    fold_cfg = copy.deepcopy(cfg)
    with open_dict(fold_cfg):
        fold_cfg.data.split.fold = fold
        for key in ("folds", "from_runs"):
            fold_cfg.pop(key, None)
    return fold_cfg


def _print_summary(summary: dict[str, Any], path: Path) -> None:
    main = summary["main_metric"]
    stats = summary["mean_std"]["test"][main]
    scores = ", ".join(f"{f[f'test_{main}']:.4f}" for f in summary["per_fold"])
    print(
        f"k-fold {summary['dataset']}: test {main} {stats['mean']:.4f} ± {stats['std']:.4f} "
        f"over folds {summary['folds']} ({scores})\nsummary: {path}",
        flush=True,
    )


@hydra.main(config_path="../../configs", config_name="kfold", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    summary = run_kfold(cfg, Path(HydraConfig.get().runtime.output_dir))
    return summary["mean_std"]["test"][summary["main_metric"]]["mean"] if "mean_std" in summary else None


def cli() -> None:
    """``python -m trainer.kfold``: hydra.callbacks are checked before Hydra instantiates them."""
    preflight("kfold", sys.argv[1:])
    main()


if __name__ == "__main__":
    cli()
