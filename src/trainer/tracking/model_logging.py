"""The best model as an MLflow pyfunc (signature, input example, pinned requirements), and its registration.

Registration uses aliases and version tags, never stages (deprecated since MLflow 2.9): with
``tracking.register_model=seaguard-demo`` and ``tracking.alias=candidate`` a deployer loads
``models:/seaguard-demo@candidate``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, DataType, Schema, TensorSpec

import trainer
from trainer.tracking import pyfunc_model
from trainer.tracking.pyfunc_model import INFERENCE, LABELS, MODEL_DIR, TEXT_COLUMN, THRESHOLDS

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

MODEL_NAME = "model"
# Neutral example inputs: the real data is sensitive and must not be copied into every model.
EXAMPLE_TEXTS = ["an example post to classify", "another example post @USER HTTPURL"]
# What the pyfunc imports when it is served; pinned to this environment so it loads the same way.
_REQUIREMENTS = ("mlflow", "torch", "transformers", "tokenizers", "safetensors", "torchmetrics", "pandas", "numpy")


def pip_requirements() -> list[str]:
    out = []
    for name in _REQUIREMENTS:
        try:
            # "2.13.0+cpu" is not on PyPI: keep the public version.
            out.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def signature(label_names: Sequence[str]) -> ModelSignature:
    """Texts in; ``label`` and one ``score:<label>`` per class out (see :mod:`pyfunc_model`).

    The input column is unnamed: MLflow then accepts a plain list of strings as well as a DataFrame
    with a ``text`` column, where a named column would refuse the list.
    """
    inputs: list[ColSpec | TensorSpec] = [ColSpec(DataType.string)]
    outputs: list[ColSpec | TensorSpec] = [ColSpec(DataType.string, "label")]
    outputs += [ColSpec(DataType.double, f"score:{n}") for n in label_names]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def log_pyfunc_model(
    client: MlflowClient,
    run_id: str,
    register_as: str | None,
    alias: str | None,
    run_dir: Path,
    final: dict[str, Any],
    metrics: dict[str, Any],
    step: int,
) -> ModelInfo:
    """Log ``run_dir/model`` as ``model`` in the active run; register it when ``register_as`` is set."""
    data = final["data"]
    with tempfile.TemporaryDirectory() as tmp:
        inference = Path(tmp) / "inference.json"
        temperature = float((metrics.get("calibration") or {}).get("temperature", 1.0))
        settings = pyfunc_model.inference_settings(data.spec.normalizer, final["max_length"], temperature)
        inference.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        artifacts = {
            MODEL_DIR: str(run_dir / "model"),
            LABELS: str(run_dir / "labels.json"),
            THRESHOLDS: str(run_dir / "thresholds.json"),
            INFERENCE: str(inference),
        }
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=pyfunc_model.__file__,
            artifacts=artifacts,
            # The trainer package travels with the model: loading needs no checkout or install.
            code_paths=[str(Path(trainer.__file__).parent)],
            signature=signature(data.label_map.names),
            # MLflow loads the logged model from its own folder and predicts this example before
            # returning: a model that would not serve shows up as a warning in the run's log.
            input_example=pd.DataFrame({TEXT_COLUMN: EXAMPLE_TEXTS}),
            pip_requirements=pip_requirements(),
            registered_model_name=register_as,
            # Metrics logged at this step (test/..., best_val/...) appear on the model's page.
            step=step,
            tags={"run_id": run_id, "task": data.label_map.task, "dataset": data.spec.name},
        )
    client.set_tag(run_id, "model_uri", info.model_uri)
    if register_as and info.registered_model_version is not None:
        version = str(info.registered_model_version)
        main = metrics["main_metric"]
        version_tags = {
            "run_id": run_id,
            "dataset": data.spec.name,
            "task": data.label_map.task,
            "labels": ",".join(data.label_map.names),
            "main_metric": main,
            f"test_{main}": str(metrics["test"]["overall"].get(main)),
        }
        for key, value in version_tags.items():
            client.set_model_version_tag(register_as, version, key, value)
        if alias:
            client.set_registered_model_alias(register_as, alias, version)
        client.set_tag(run_id, "registered_model", f"{register_as}/{version}")
        log.info("registered %s version %s%s", register_as, version, f" as @{alias}" if alias else "")
    return info
