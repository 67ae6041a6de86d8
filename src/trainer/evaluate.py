"""Evaluate any model on any data: ``python -m trainer.evaluate model=<ref> data=<data config>``.

Reads top to bottom: model → data (read with the *model's* text normaliser) → gold labels mapped onto
the model's label names → logits → the model's temperature and thresholds → metrics (the training
code path) → save → figures → track. ``main`` only wires Hydra to :func:`run_evaluate`.

The output folder has the shape of a run folder where it matters (``labels.json``,
``thresholds.json``, ``metrics.json``, ``calibration.json``, ``data_digest.json``,
``predictions/<split>.csv``), so :mod:`trainer.compare` reads evaluation runs like training runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from trainer.config import to_container
from trainer.data import ConfigError, DataError, DataSpec, LabelMap, data_spec_from_dict, prepare_data
from trainer.data.prepare import Example
from trainer.data.spec import SPLITS
from trainer.runs.folder import write_json, write_yaml
from trainer.runs.provenance import git_state, run_info
from trainer.scoring.calibration import expected_calibration_error, probabilities
from trainer.scoring.figures import (
    confusion_matrix_figure,
    language_bar_figure,
    precision_recall_figure,
    reliability_figure,
)
from trainer.scoring.metrics import compute_metrics, flatten_metrics, predict_labels
from trainer.scoring.predictions import write_predictions
from trainer.tracking.references import ModelRef, make_scorer, resolve_model

log = logging.getLogger(__name__)

EVAL_FILES = (
    "README.md",
    "config.yaml",
    "model.json",
    "labels.json",
    "thresholds.json",
    "metrics.json",
    "calibration.json",
    "data_report.json",
    "data_digest.json",
    "run_info.json",
    "predictions/",
    "figures/",
)


@dataclass(frozen=True)
class EvaluateSettings:
    """Top-level keys of ``configs/evaluate.yaml`` besides model, data and tracking."""

    split: str = "test"
    # Gold label name in the data (after data.label_names) -> label name of the model.
    label_mapping: dict[str, str] = field(default_factory=dict)
    graph: str = "auto"
    batch_size: int = 32
    main_metric: str | None = None
    n_bins: int = 15
    link_to_model_run: str = "child"

    def __post_init__(self) -> None:
        if self.split not in (*SPLITS, "all"):
            raise ConfigError(f"split={self.split!r} must be one of {[*SPLITS, 'all']}")
        if self.link_to_model_run not in ("child", "tag"):
            raise ConfigError(f"link_to_model_run={self.link_to_model_run!r} must be child or tag")


@dataclass
class EvaluateResult:
    out_dir: Path
    metrics: dict[str, Any]
    model: ModelRef
    mlflow_run_id: str | None


def map_targets(rows: list[Example], label_map: LabelMap, mapping: dict[str, str], column: str) -> torch.Tensor:
    """Gold labels of ``rows`` in the model's label order; a label the model lacks fails naming its row."""
    names = set(label_map.names)
    wrong = {k: v for k, v in mapping.items() if v not in names}
    if wrong:
        key, value = next(iter(wrong.items()))
        raise ConfigError(f"label_mapping.{key}={value!r} is not a label of the model {list(label_map.names)}")
    index = label_map.label2id
    out: list[Any] = []
    for e in rows:
        values = e.raw_label if isinstance(e.raw_label, tuple) else (e.raw_label,)
        mapped = [mapping.get(str(v), str(v)) for v in values]
        unknown = [v for v, m in zip(values, mapped, strict=True) if m not in index]
        if unknown:
            raise DataError(
                f"label {unknown[0]!r} is not one of the model's labels {list(label_map.names)}; "
                f"map it with label_mapping.{unknown[0]}=<model label>",
                file=e.source,
                row=e.row,
                column=column,
                line=e.line,
            )
        if label_map.task == "multilabel":
            out.append([1.0 if n in mapped else 0.0 for n in label_map.names])
        else:
            out.append(index[mapped[0]])
    return torch.tensor(out, dtype=torch.float if label_map.task == "multilabel" else torch.long)


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
        spec = _data_spec(ref, data)
        label_map = ref.label_map
        if (spec.task == "multilabel") != (label_map.task == "multilabel"):
            raise ConfigError(f"data.task={spec.task} cannot be scored by a {label_map.task} model ({model})")
        prepared = prepare_data(spec)
        # "all": every row of the data (a set the model never saw: a test-only file as files.all).
        rows = (
            [e for s in SPLITS for e in prepared.splits[s]]
            if settings.split == "all"
            else prepared.splits[settings.split]
        )
        if not rows:
            raise DataError(f"split {settings.split} of data {spec.name} has no rows")
        column = spec.label_column or ",".join(spec.label_columns)
        targets = map_targets(rows, label_map, settings.label_mapping, column)

        logits = make_scorer(ref, settings.graph, settings.batch_size).logits([e.text for e in rows])
    multilabel = label_map.task == "multilabel"
    probs = probabilities(logits, multilabel, ref.temperature)
    langs = [e.lang for e in rows]
    main_metric = settings.main_metric or ref.main_metric or "macro_f1"
    split_metrics = compute_metrics(probs, targets, langs, label_map, ref.thresholds, main_metric)
    calibration = {
        "method": "temperature_scaling" if ref.temperature != 1.0 else "none",
        "temperature": ref.temperature,
        "fitted_on": "the model's validation split (training)",
        "n_bins": settings.n_bins,
        f"ece_before/{settings.split}": expected_calibration_error(
            probabilities(logits, multilabel), targets, multilabel, settings.n_bins
        ),
        f"ece_after/{settings.split}": expected_calibration_error(probs, targets, multilabel, settings.n_bins),
    }
    metrics = {
        "main_metric": main_metric,
        "split": settings.split,
        "dataset": spec.name,
        settings.split: split_metrics,
        "calibration": calibration,
    }

    # Save: the folder explains itself (and has a run folder's shape for compare).
    out_dir.mkdir(parents=True, exist_ok=True)
    write_yaml(out_dir / "config.yaml", config or {"model": model, "data": asdict(spec), **asdict(settings)})
    write_json(out_dir / "model.json", ref.describe())
    label_map.save(out_dir / "labels.json")
    write_json(
        out_dir / "thresholds.json",
        {
            "task": label_map.task,
            "thresholds": ref.thresholds,
            "labels": list(label_map.names),
            "tuned_on": "the model's validation",
        },
    )
    write_json(out_dir / "metrics.json", metrics)
    write_json(out_dir / "calibration.json", calibration)
    write_predictions(
        out_dir / "predictions" / f"{settings.split}.csv",
        [e.id for e in rows],
        langs,
        targets,
        probs,
        label_map,
        ref.thresholds,
    )
    prepared.report.save(out_dir / "data_report.json")
    write_json(
        out_dir / "data_digest.json",
        {
            "digest": prepared.digest,
            "files": prepared.file_digests,
            "splits": {settings.split: _split_digest(prepared, settings.split)},
        },
    )
    _save_figures(out_dir / "figures", probs, targets, label_map, ref.thresholds, split_metrics, settings)
    write_json(
        out_dir / "run_info.json",
        run_info(
            "trainer.evaluate",
            started,
            {"model": ref.describe(), "dataset": spec.name, "split": settings.split, "rows": len(rows)},
        ),
    )
    _write_readme(out_dir, ref, spec, settings, split_metrics, calibration)
    run_id = None
    if tracking.get("backend") == "mlflow":
        run_id = _track(out_dir, ref, spec, settings, metrics, prepared.digest, tracking, config or {})
    _print_summary(out_dir, split_metrics, calibration, settings.split)
    return EvaluateResult(out_dir, metrics, ref, run_id)


def _split_digest(prepared: Any, split: str) -> str:
    if split != "all":
        return prepared.split_digest(split)
    return hashlib.sha256("".join(prepared.split_digest(s) for s in SPLITS).encode()).hexdigest()


def _data_spec(ref: ModelRef, data: DataSpec | None) -> DataSpec:
    if data is None:
        if ref.train_data is None:
            raise ConfigError(f"data= is required: {ref.uri} is a bundle and does not carry its training data config")
        data = data_spec_from_dict(ref.train_data)
    if data.normalizer != ref.normalizer:
        log.info("reading %s with the model's text normaliser (the data config's differs)", data.name)
    # The model sees text exactly as it did in training, whatever the data config says.
    return replace(data, normalizer=ref.normalizer)


def _save_figures(
    folder: Path,
    probs: torch.Tensor,
    targets: torch.Tensor,
    label_map: LabelMap,
    thresholds: list[float] | None,
    metrics: dict[str, Any],
    settings: EvaluateSettings,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    multilabel = label_map.task == "multilabel"
    names, split, main = list(label_map.names), settings.split, metrics["main_metric"]
    figures = {
        "confusion_matrix.png": confusion_matrix_figure(
            predict_labels(probs, label_map, thresholds), targets, names, multilabel, title=f"{split}: confusion matrix"
        ),
        "precision_recall.png": precision_recall_figure(
            probs, targets, names, multilabel, title=f"{split}: precision-recall"
        ),
        # The probabilities after the model's temperature: the diagram shows what a server would output.
        "reliability.png": reliability_figure(
            probs, targets, multilabel, settings.n_bins, title=f"{split}: reliability (calibrated)"
        ),
        "per_language.png": language_bar_figure(
            {lang: v.get(main) for lang, v in metrics["per_language"].items()},
            main,
            {lang: v["n"] for lang, v in metrics["per_language"].items()},
            metrics["overall"].get(main),
            title=f"{split}: {main} per language",
        ),
    }
    for name, figure in figures.items():
        figure.savefig(folder / name, dpi=100)


def _write_readme(
    out_dir: Path,
    ref: ModelRef,
    spec: DataSpec,
    settings: EvaluateSettings,
    metrics: dict[str, Any],
    calibration: dict[str, Any],
) -> None:
    main = metrics["main_metric"]
    split = settings.split
    lines = [
        f"# Evaluation of {ref.name} on {spec.name}/{split}",
        "",
        "Written by `python -m trainer.evaluate`.",
        "",
        f"- **model**: `{ref.uri}` ({ref.kind}, scored with {ref.describe()['scored_with']})",
        f"- **rows**: {metrics['n']}",
        f"- **{main}**: {metrics['overall'][main]:.4f}",
        f"- **ECE**: {calibration[f'ece_before/{split}']:.4f} before, {calibration[f'ece_after/{split}']:.4f} "
        f"after temperature {ref.temperature:.3f}",
        f"- **label mapping**: {json.dumps(settings.label_mapping, ensure_ascii=False) or '{}'}",
        "",
        "| file | what it holds |",
        "|---|---|",
    ]
    what = {
        "config.yaml": "the evaluation config",
        "model.json": "what was evaluated: source, run, version, thresholds, temperature",
        "labels.json": "the model's label map",
        "thresholds.json": "the model's decision thresholds",
        "metrics.json": f"{split} metrics (overall, per class, per language) + calibration",
        "calibration.json": "temperature applied and ECE before/after",
        "data_report.json": "rows, labels and languages per split",
        "data_digest.json": f"hash of the data and of the {split} split",
        "run_info.json": "git, host, versions, timings",
        "predictions/": f"{split}.csv: id, lang, gold, pred, scores",
        "figures/": "confusion matrix, precision-recall, reliability, per-language bars",
    }
    lines += [f"| `{name}` | {what[name]} |" for name in EVAL_FILES if name in what]
    (out_dir / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _track(
    out_dir: Path,
    ref: ModelRef,
    spec: DataSpec,
    settings: EvaluateSettings,
    metrics: dict[str, Any],
    data_digest: str,
    tracking: dict[str, Any],
    config: dict[str, Any],
) -> str:
    """One MLflow run: params, metrics, the folder as artifacts; a child of the model's run when known."""
    from mlflow.entities import Metric, Param, RunTag

    from trainer.tracking.connection import MlflowSettings, connect, experiment_id
    from trainer.tracking.params import MAX_TAG_VALUE, config_params, fit_value, mlflow_key
    from trainer.tracking.publish import find_run_by_folder

    known = {k: v for k, v in tracking.items() if k in MlflowSettings.__dataclass_fields__}
    mlflow_settings = MlflowSettings.from_dict(known)
    client = connect(mlflow_settings)
    model_run = ref.run_id
    if model_run is None and ref.kind == "run_folder":
        model_run = find_run_by_folder(client, Path(ref.uri).resolve())
    tags = {
        "entry_point": "trainer.evaluate",
        "model_ref": ref.uri,
        "model_kind": ref.kind,
        "eval_dataset": spec.name,
        "eval_split": settings.split,
        "data_digest": data_digest,
        "label_mapping": json.dumps(settings.label_mapping, ensure_ascii=False),
        "git_commit": str(git_state()["commit"]),
        **mlflow_settings.tags,
    }
    if ref.version:
        tags["model_version"] = f"{ref.version['name']}/{ref.version['version']}"
    exp = experiment_id(client, mlflow_settings)
    if model_run is not None:
        tags["model_run_id"] = model_run
        if settings.link_to_model_run == "child":
            # The UI nests runs only within one experiment: the evaluation joins the model's.
            exp = client.get_run(model_run).info.experiment_id
            tags["mlflow.parentRunId"] = model_run
    run = client.create_run(exp, run_name=mlflow_settings.run_name or out_dir.name)
    run_id = run.info.run_id
    split = settings.split
    scalars = flatten_metrics(split, metrics[split])
    scalars.update(
        {
            f"calibration/{k}": v
            for k, v in metrics["calibration"].items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    )
    now = int(datetime.now(UTC).timestamp() * 1000)
    params = config_params(config) if config else {}
    client.log_batch(
        run_id,
        metrics=[Metric(mlflow_key(k), float(v), now, 0) for k, v in scalars.items()],
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag(mlflow_key(k), fit_value(str(v), MAX_TAG_VALUE)) for k, v in tags.items()],
    )
    client.log_artifacts(run_id, str(out_dir))
    client.set_terminated(run_id, "FINISHED")
    log.info("evaluation logged to MLflow run %s (model run %s)", run_id, model_run)
    return run_id


def _print_summary(out_dir: Path, metrics: dict[str, Any], calibration: dict[str, Any], split: str) -> None:
    main = metrics["main_metric"]
    lines = [
        f"evaluation folder: {out_dir}",
        f"{split} {main}: {metrics['overall'][main]:.4f} (n={metrics['n']}); "
        f"ECE {calibration[f'ece_before/{split}']:.4f} -> {calibration[f'ece_after/{split}']:.4f}",
    ]
    lines += [f"  {lang:>4} n={v['n']:<5} {main}={v.get(main) or 0:.4f}" for lang, v in metrics["per_language"].items()]
    print("\n".join(lines), flush=True)


def settings_from_config(cfg: dict[str, Any]) -> EvaluateSettings:
    keys = set(EvaluateSettings.__dataclass_fields__)
    return EvaluateSettings(**{k: v for k, v in cfg.items() if k in keys})


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
