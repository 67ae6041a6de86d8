"""The evaluation folder: a run folder's shape where it matters, so :mod:`trainer.compare` reads it like one.

``labels.json``, ``thresholds.json``, ``metrics.json``, ``calibration.json``, ``data_digest.json`` and
``predictions/<split>.csv`` are written by :class:`~trainer.runs.folder.RunFolder`, as training writes them;
``model.json`` says what was evaluated and ``figures/`` shows the split.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from trainer.data import DataSpec
from trainer.data.prepare import PreparedData
from trainer.data.spec import SPLITS
from trainer.evaluation.scores import Evaluation
from trainer.runs.folder import (
    CALIBRATION,
    CONFIG,
    DATA_DIGEST,
    DATA_REPORT,
    EVALUATED_MODEL,
    FIGURES,
    LABELS,
    METRICS,
    PREDICTIONS,
    README,
    RUN_INFO,
    THRESHOLDS,
    RunFolder,
)
from trainer.runs.provenance import run_info
from trainer.scoring.figures import (
    confusion_matrix_figure,
    language_bar_figure,
    precision_recall_figure,
    reliability_figure,
)
from trainer.scoring.metrics import predict_labels
from trainer.scoring.predictions import write_predictions

EVAL_FILES = (
    README,
    CONFIG,
    EVALUATED_MODEL,
    LABELS,
    THRESHOLDS,
    METRICS,
    CALIBRATION,
    DATA_REPORT,
    DATA_DIGEST,
    RUN_INFO,
    f"{PREDICTIONS}/",
    f"{FIGURES}/",
)


def write_evaluation_folder(
    out_dir: Path,
    ev: Evaluation,
    spec: DataSpec,
    prepared: PreparedData,
    config: dict[str, Any],
    started: datetime,
) -> None:
    """Every file of :data:`EVAL_FILES` in ``out_dir``; the folder explains itself."""
    ref, label_map, split = ev.ref, ev.ref.label_map, ev.split
    folder = RunFolder(out_dir).create()
    folder.write_config(config)
    folder.write_evaluated_model(ref.describe())
    folder.write_labels(label_map)
    folder.write_thresholds(label_map, ref.thresholds, tuned_on="the model's validation")
    folder.write_metrics(ev.metrics())
    folder.write_calibration(ev.calibration)
    write_predictions(folder.predictions_file(split), ev.ids, ev.langs, ev.targets, ev.probs, label_map, ref.thresholds)
    folder.write_data_report(prepared.report.to_dict())
    folder.write_data_digest(
        {"digest": prepared.digest, "files": prepared.file_digests, "splits": {split: _split_digest(prepared, split)}}
    )
    save_figures(folder.figures_dir, ev)
    folder.write_run_info(
        run_info(
            "trainer.evaluate",
            started,
            {"model": ref.describe(), "dataset": spec.name, "split": split, "rows": len(ev.ids)},
        )
    )
    _write_readme(folder, ev, spec)


def default_config(model: str, spec: DataSpec, ev: Evaluation) -> dict[str, Any]:
    """``config.yaml`` of an evaluation run without a Hydra config (``run_evaluate`` called directly)."""
    return {"model": model, "data": asdict(spec), **asdict(ev.settings)}


def _split_digest(prepared: PreparedData, split: str) -> str:
    if split != "all":
        return prepared.split_digest(split)
    return hashlib.sha256("".join(prepared.split_digest(s) for s in SPLITS).encode()).hexdigest()


def save_figures(folder: Path, ev: Evaluation) -> None:
    """Confusion matrix, precision-recall, reliability and per-language bars of the split."""
    folder.mkdir(parents=True, exist_ok=True)
    label_map, metrics = ev.ref.label_map, ev.split_metrics
    multilabel = label_map.task == "multilabel"
    names, split, main = list(label_map.names), ev.split, metrics["main_metric"]
    predicted = predict_labels(ev.probs, label_map, ev.ref.thresholds)
    figures = {
        "confusion_matrix.png": confusion_matrix_figure(
            predicted, ev.targets, names, multilabel, title=f"{split}: confusion matrix"
        ),
        "precision_recall.png": precision_recall_figure(
            ev.probs, ev.targets, names, multilabel, title=f"{split}: precision-recall"
        ),
        # The probabilities after the model's temperature: the diagram shows what a server would output.
        "reliability.png": reliability_figure(
            ev.probs, ev.targets, multilabel, ev.settings.n_bins, title=f"{split}: reliability (calibrated)"
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


def _write_readme(folder: RunFolder, ev: Evaluation, spec: DataSpec) -> None:
    ref, metrics, calibration, split = ev.ref, ev.split_metrics, ev.calibration, ev.split
    main = metrics["main_metric"]
    summary = {
        "model": f"`{ref.uri}` ({ref.kind}, scored with {ref.describe()['scored_with']})",
        "rows": metrics["n"],
        main: f"{metrics['overall'][main]:.4f}",
        "ECE": f"{calibration[f'ece_before/{split}']:.4f} before, {calibration[f'ece_after/{split}']:.4f} "
        f"after temperature {ref.temperature:.3f}",
        "label mapping": json.dumps(ev.settings.label_mapping, ensure_ascii=False) or "{}",
    }
    what = {
        CONFIG: "the evaluation config",
        EVALUATED_MODEL: "what was evaluated: source, run, version, thresholds, temperature",
        LABELS: "the model's label map",
        THRESHOLDS: "the model's decision thresholds",
        METRICS: f"{split} metrics (overall, per class, per language) + calibration",
        CALIBRATION: "temperature applied and ECE before/after",
        DATA_REPORT: "rows, labels and languages per split",
        DATA_DIGEST: f"hash of the data and of the {split} split",
        RUN_INFO: "git, host, versions, timings",
        f"{PREDICTIONS}/": f"{split}.csv: id, lang, gold, pred, scores",
        f"{FIGURES}/": "confusion matrix, precision-recall, reliability, per-language bars",
    }
    files = {name: what[name] for name in EVAL_FILES if name in what}
    title = f"Evaluation of {ref.name} on {spec.name}/{split}"
    folder.write_readme(summary, files, by="trainer.evaluate", title=title)


def print_summary(out_dir: Path, ev: Evaluation) -> None:
    metrics, calibration, split = ev.split_metrics, ev.calibration, ev.split
    main = metrics["main_metric"]
    lines = [
        f"evaluation folder: {out_dir}",
        f"{split} {main}: {metrics['overall'][main]:.4f} (n={metrics['n']}); "
        f"ECE {calibration[f'ece_before/{split}']:.4f} -> {calibration[f'ece_after/{split}']:.4f}",
    ]
    lines += [f"  {lang:>4} n={v['n']:<5} {main}={v.get(main) or 0:.4f}" for lang, v in metrics["per_language"].items()]
    print("\n".join(lines), flush=True)
