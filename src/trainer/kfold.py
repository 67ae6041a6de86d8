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
"""

from __future__ import annotations

import copy
import json
import logging
import os
import statistics
from pathlib import Path
from typing import Any

import hydra
import yaml
from omegaconf import DictConfig, open_dict

from trainer.config import to_container
from trainer.runs.folder import write_json, write_yaml
from trainer.runs.provenance import git_state

log = logging.getLogger(__name__)


def _mean_std(values: list[float]) -> dict[str, float | int]:
    # Sample standard deviation (n - 1): the folds are a sample of possible splits.
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values)}


def read_fold_run(run_dir: Path) -> dict[str, Any]:
    """Fold number, config and metrics of one finished ``trainer.train`` run folder."""
    run_dir = Path(run_dir)
    for name in ("config.yaml", "metrics.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: not a finished trainer.train run folder (from_runs)")
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    info_path = run_dir / "run_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    # A split without a fold key (ratio/files) is one run: fold 0.
    fold = int((config["data"].get("split") or {}).get("fold", 0))
    return {"fold": fold, "run_dir": str(run_dir), "config": config, "metrics": metrics, "run_info": info}


def summarize(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-fold scores and their mean ± std: overall metrics, per-class F1, per-language main metric."""
    folds = sorted(folds, key=lambda f: f["fold"])
    numbers = [f["fold"] for f in folds]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"fold numbers repeat across runs: {numbers}")
    main = folds[0]["metrics"]["main_metric"]
    data_names = {f["config"]["data"]["name"] for f in folds}
    if len(data_names) != 1 or len({f["metrics"]["main_metric"] for f in folds}) != 1:
        raise ValueError(f"runs mix datasets {sorted(data_names)} or main metrics; summarise one protocol at a time")

    def collect(get: Any) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for f in folds:
            for name, value in get(f["metrics"]).items():
                if isinstance(value, int | float) and value is not None:
                    out.setdefault(name, []).append(float(value))
        return out

    aggregate: dict[str, Any] = {}
    for split in ("test", "validation"):
        aggregate[split] = {k: _mean_std(v) for k, v in collect(lambda m, s=split: m[s]["overall"]).items()}
        aggregate[f"{split}_per_class_f1"] = {
            k: _mean_std(v)
            for k, v in collect(lambda m, s=split: {c: v["f1"] for c, v in m[s]["per_class"].items()}).items()
        }
        aggregate[f"{split}_per_language"] = {
            k: _mean_std(v)
            for k, v in collect(
                lambda m, s=split: {lang: v.get(main) for lang, v in m[s]["per_language"].items()}
            ).items()
        }
    per_fold = []
    for f in folds:
        m = f["metrics"]
        per_fold.append(
            {
                "fold": f["fold"],
                "run_dir": f["run_dir"],
                f"test_{main}": m["test"]["overall"][main],
                f"validation_{main}": m["validation"]["overall"][main],
                "best_epoch_score": m.get("best_epoch_score"),
                "best_checkpoint": m.get("best_checkpoint"),
                "epochs_run": f["run_info"].get("epochs_run"),
                "thresholds": m["test"].get("thresholds"),
                "duration_s": f["run_info"].get("duration_s"),
                "host": f["run_info"].get("host"),
            }
        )
    return {
        "dataset": data_names.pop(),
        "main_metric": main,
        "folds": numbers,
        "per_fold": per_fold,
        "mean_std": aggregate,
        "std": "sample standard deviation (n - 1) over folds",
    }


def _flat(summary: dict[str, Any]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for group, values in summary["mean_std"].items():
        for name, stats in values.items():
            key = f"{group}/{name}".replace("_per_class_f1/", "/class/").replace("_per_language/", "/lang/")
            flat[f"{key}/mean"] = stats["mean"]
            flat[f"{key}/std"] = stats["std"]
    return flat


class _Parent:
    """The MLflow parent run of a k-fold job (a no-op without ``tracking.backend=mlflow``)."""

    def __init__(self, cfg: DictConfig, run_dir: Path) -> None:
        self.client: Any = None
        self.run_id: str | None = None
        tracking = to_container(cfg.tracking)
        is_rank_zero = os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"
        if tracking.get("backend") != "mlflow" or not is_rank_zero:
            return
        from trainer.tracking.connection import MlflowSettings, connect, experiment_id
        from trainer.tracking.sweep import PARENT_RUN_ENV

        settings = MlflowSettings.from_dict(tracking)
        self.client = connect(settings)
        self.experiment_id = experiment_id(self.client, settings)
        git = git_state()
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"kfold-{run_dir.name}",
            tags={
                "kfold": "parent",
                "entry_point": "trainer.kfold",
                "run_dir": str(run_dir),
                "dataset": str(cfg.data.name),
                "model": str(cfg.model.name),
                "git_commit": str(git["commit"]),
                "git_dirty": str(git["dirty"]),
                **settings.tags,
            },
        )
        self.run_id = run.info.run_id
        self._env = PARENT_RUN_ENV
        os.environ[PARENT_RUN_ENV] = self.run_id  # run_train's tracker starts each fold as a child

    def import_fold(self, fold: dict[str, Any]) -> str | None:
        """Log a fold trained elsewhere as a child run: its test/validation metrics and run folder files."""
        if self.run_id is None:
            return None
        from trainer.scoring.metrics import flatten_metrics

        run = self.client.create_run(
            self.experiment_id,
            run_name=f"fold{fold['fold']}",
            tags={
                "mlflow.parentRunId": self.run_id,
                "kfold": "child",
                "fold": str(fold["fold"]),
                "imported_from": fold["run_dir"],
                "dataset": fold["config"]["data"]["name"],
                "model": fold["config"]["model"]["name"],
                "hardware": fold["run_info"].get("host", "unknown"),
            },
        )
        metrics = {
            **flatten_metrics("test", fold["metrics"]["test"]),
            **flatten_metrics("val", fold["metrics"]["validation"]),
        }
        for name, value in metrics.items():
            self.client.log_metric(run.info.run_id, name.replace(" ", "_"), value)
        for name in ("config.yaml", "metrics.json", "run_info.json", "data_report.json", "thresholds.json"):
            if (Path(fold["run_dir"]) / name).is_file():
                self.client.log_artifact(run.info.run_id, str(Path(fold["run_dir"]) / name))
        self.client.set_terminated(run.info.run_id, "FINISHED")
        return run.info.run_id

    def children(self) -> dict[str, str]:
        """Run name -> id of this parent's child runs (folds trained here are named ``fold<k>``)."""
        if self.run_id is None:
            return {}
        runs = self.client.search_runs([self.experiment_id], f"tags.mlflow.parentRunId = '{self.run_id}'")
        return {r.info.run_name: r.info.run_id for r in runs}

    def finish(self, summary: dict[str, Any] | None, summary_path: Path | None) -> None:
        if self.run_id is None:
            return
        os.environ.pop(self._env, None)
        if summary is not None and summary_path is not None:
            for name, value in _flat(summary).items():
                self.client.log_metric(self.run_id, name, value)
            self.client.log_artifact(self.run_id, str(summary_path))
        self.client.set_terminated(self.run_id, "FINISHED" if summary is not None else "FAILED")


def _fold_config(cfg: DictConfig, fold: int) -> DictConfig:
    fold_cfg = copy.deepcopy(cfg)
    with open_dict(fold_cfg):
        fold_cfg.data.split.fold = fold
        for key in ("folds", "from_runs"):
            fold_cfg.pop(key, None)
    return fold_cfg


def run_kfold(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train (or, with ``from_runs``, read) every fold and write ``run_dir / "kfold_summary.json"``."""
    from trainer.train import run_train

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_yaml(run_dir / "config.yaml", to_container(cfg))
    parent = _Parent(cfg, run_dir)
    summary: dict[str, Any] | None = None
    path = run_dir / "kfold_summary.json"
    try:
        folds: list[dict[str, Any]] = []
        if cfg.get("from_runs"):
            for folder in cfg.from_runs:
                fold = read_fold_run(Path(str(folder)))
                fold["mlflow_run_id"] = parent.import_fold(fold)
                folds.append(fold)
        else:
            numbers = list(cfg.folds) if cfg.get("folds") is not None else list(range(cfg.data.split.folds))
            for k in numbers:
                log.info("fold %d of %s", k, numbers)
                result = run_train(_fold_config(cfg, int(k)), run_dir / f"fold{k}")
                if result is None:  # a non-zero DDP rank: rank 0 summarises
                    return {}
                folds.append(read_fold_run(result.run_dir))
        summary = summarize(folds)
        summary["mlflow_parent_run_id"] = parent.run_id
        children = parent.children()
        summary["mlflow_child_run_ids"] = {
            str(f["fold"]): f.get("mlflow_run_id") or children.get(Path(f["run_dir"]).name) for f in folds
        }
        write_json(path, summary)
    finally:
        parent.finish(summary, path if summary is not None else None)
    assert summary is not None  # set in the try block, or its exception propagated
    main = summary["main_metric"]
    stats = summary["mean_std"]["test"][main]
    scores = ", ".join(f"{f[f'test_{main}']:.4f}" for f in summary["per_fold"])
    print(
        f"k-fold {summary['dataset']}: test {main} {stats['mean']:.4f} ± {stats['std']:.4f} "
        f"over folds {summary['folds']} ({scores})\nsummary: {path}",
        flush=True,
    )
    return summary


@hydra.main(config_path="../../configs", config_name="kfold", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    summary = run_kfold(cfg, Path(HydraConfig.get().runtime.output_dir))
    return summary["mean_std"]["test"][summary["main_metric"]]["mean"] if summary else None


if __name__ == "__main__":
    main()
