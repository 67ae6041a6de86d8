"""An evaluation (``python -m trainer.evaluate tracking=mlflow``) as one MLflow run.

Params, metrics and the evaluation folder as artifacts; a child of the model's run when MLflow knows
that run (``link_to_model_run=child``), else linked to it by the ``model_run_id`` tag. mlflow is
imported inside the functions, so evaluating with ``tracking=none`` never imports it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trainer.runs.provenance import git_state
from trainer.scoring.metrics import flatten_metrics
from trainer.tracking.params import MAX_TAG_VALUE, config_params, fit_value, mlflow_key
from trainer.tracking.references import ModelRef

log = logging.getLogger(__name__)


def log_evaluation(
    out_dir: Path,
    ref: ModelRef,
    *,
    dataset: str,
    split: str,
    label_mapping: dict[str, str],
    link_to_model_run: str,
    metrics: dict[str, Any],
    data_digest: str,
    tracking: dict[str, Any],
    config: dict[str, Any],
) -> str:
    """One finished MLflow run for the evaluation folder ``out_dir``; returns its id."""
    from mlflow.entities import Metric, Param, RunTag

    from trainer.tracking.connection import MlflowSettings, connect, experiment_id

    known = {k: v for k, v in tracking.items() if k in MlflowSettings.__dataclass_fields__}
    settings = MlflowSettings.from_dict(known)
    client = connect(settings)
    model_run = _model_run(client, ref)
    tags = {**_tags(ref, dataset, split, label_mapping, data_digest), **settings.tags}
    if ref.version:
        tags["model_version"] = f"{ref.version['name']}/{ref.version['version']}"
    exp = experiment_id(client, settings)
    if model_run is not None:
        tags["model_run_id"] = model_run
        if link_to_model_run == "child":
            # The UI nests runs only within one experiment: the evaluation joins the model's.
            exp = client.get_run(model_run).info.experiment_id
            tags["mlflow.parentRunId"] = model_run
    run_id = client.create_run(exp, run_name=settings.run_name or out_dir.name).info.run_id
    now = int(datetime.now(UTC).timestamp() * 1000)
    params = config_params(config) if config else {}
    client.log_batch(
        run_id,
        metrics=[Metric(mlflow_key(k), float(v), now, 0) for k, v in _scalars(metrics, split).items()],
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag(mlflow_key(k), fit_value(str(v), MAX_TAG_VALUE)) for k, v in tags.items()],
    )
    client.log_artifacts(run_id, str(out_dir))
    client.set_terminated(run_id, "FINISHED")
    log.info("evaluation logged to MLflow run %s (model run %s)", run_id, model_run)
    return run_id


def _tags(ref: ModelRef, dataset: str, split: str, label_mapping: dict[str, str], data_digest: str) -> dict[str, str]:
    return {
        "entry_point": "trainer.evaluate",
        "model_ref": ref.uri,
        "model_kind": ref.kind,
        "eval_dataset": dataset,
        "eval_split": split,
        "data_digest": data_digest,
        "label_mapping": json.dumps(label_mapping, ensure_ascii=False),
        "git_commit": str(git_state()["commit"]),
    }


def _model_run(client: Any, ref: ModelRef) -> str | None:
    """The MLflow run that trained the model: known from the reference, or found by its run folder's path."""
    from trainer.tracking.publish import find_run_by_folder

    if ref.run_id is None and ref.kind == "run_folder":
        return find_run_by_folder(client, Path(ref.uri).resolve())
    return ref.run_id


def _scalars(metrics: dict[str, Any], split: str) -> dict[str, float]:
    """The split's metrics and the numeric calibration entries, as MLflow metric names."""
    scalars = flatten_metrics(split, metrics[split])
    scalars.update(
        {
            f"calibration/{k}": v
            for k, v in metrics["calibration"].items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    )
    return scalars
