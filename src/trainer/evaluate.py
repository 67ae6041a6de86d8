"""Evaluate any model on any data: ``python -m trainer.evaluate model=<ref> data=<data config>``.

Reads top to bottom: model → data (read with the *model's* text normaliser) → gold labels mapped onto
the model's label names → logits → the model's temperature and thresholds → metrics (the training
code path) → save → figures → track. ``main`` only wires Hydra to :func:`run_evaluate`; the steps live
in :mod:`trainer.evaluation`, the MLflow run in :mod:`trainer.tracking.evaluation_run`.

The output folder has the shape of a run folder where it matters (``labels.json``,
``thresholds.json``, ``metrics.json``, ``calibration.json``, ``data_digest.json``,
``predictions/<split>.csv``), so :mod:`trainer.compare` reads evaluation runs like training runs.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from trainer.config import to_container
from trainer.data import DataSpec, data_spec_from_dict, prepare_data
from trainer.evaluation.folder import EVAL_FILES, default_config, print_summary, write_evaluation_folder
from trainer.evaluation.inputs import (
    EvaluateSettings,
    data_spec_for,
    label_column,
    map_targets,
    settings_from_config,
    split_rows,
)
from trainer.evaluation.scores import score_split
from trainer.scoring.scorers import make_scorer
from trainer.tracking.evaluation_run import log_evaluation
from trainer.tracking.references import ModelRef, resolve_model

__all__ = ["EVAL_FILES", "EvaluateResult", "EvaluateSettings", "map_targets", "run_evaluate", "settings_from_config"]


@dataclass
class EvaluateResult:
    out_dir: Path
    metrics: dict[str, Any]
    model: ModelRef
    mlflow_run_id: str | None


def run_evaluate(
    model: str,
    data: DataSpec | None,
    settings: EvaluateSettings,
    out_dir: Path,
    tracking: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> EvaluateResult:
    """Score ``model`` on one split of ``data`` (None: the data it was trained on) and save everything."""
    started = datetime.now(UTC)
    tracking = tracking or {"backend": "none"}
    with tempfile.TemporaryDirectory(prefix="seaguard-evaluate-") as downloads:
        # Model: only its small files are read here; weights load once the data is known to be usable.
        ref = resolve_model(model, Path(downloads), tracking.get("uri"))
        spec = data_spec_for(ref, data, model)
        prepared = prepare_data(spec)
        rows = split_rows(prepared, settings.split)
        targets = map_targets(rows, ref.label_map, settings.label_mapping, label_column(spec))
        logits = make_scorer(ref, settings.graph, settings.batch_size).logits([e.text for e in rows])
    evaluation = score_split(ref, spec.name, settings, rows, targets, logits)
    written = config or default_config(model, spec, evaluation)
    write_evaluation_folder(out_dir, evaluation, spec, prepared, written, started)
    run_id = None
    if tracking.get("backend") == "mlflow":
        run_id = log_evaluation(
            out_dir,
            ref,
            dataset=spec.name,
            split=settings.split,
            label_mapping=settings.label_mapping,
            link_to_model_run=settings.link_to_model_run,
            metrics=evaluation.metrics(),
            data_digest=prepared.digest,
            tracking=tracking,
            config=config or {},
        )
    print_summary(out_dir, evaluation)
    return EvaluateResult(out_dir, evaluation.metrics(), ref, run_id)


@hydra.main(config_path="../../configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    resolved = to_container(cfg)
    data = data_spec_from_dict(resolved["data"]) if resolved.get("data") else None
    out_dir = Path(cfg.out_dir) if cfg.out_dir else Path(HydraConfig.get().runtime.output_dir)
    run_evaluate(str(cfg.model_ref), data, settings_from_config(resolved), out_dir, resolved["tracking"], resolved)


def cli_args(argv: list[str]) -> list[str]:
    """``model=<ref>`` → ``model_ref=<ref>``.

    ``configs/model/`` is a config group (of ``train.yaml``), so Hydra reads a bare ``model=`` as a
    group choice and refuses it; the issue's command line ``model=<ref>`` is kept by renaming it here.
    """
    return [f"model_ref={a.removeprefix('model=')}" if a.startswith("model=") else a for a in argv]


if __name__ == "__main__":
    sys.argv[1:] = cli_args(sys.argv[1:])
    main()
