"""What a comparison reads from a run: its saved predictions on one split, the label map and thresholds
that turned scores into decisions, the split's content digest, and what the model cost.

Training runs and evaluation runs (``python -m trainer.evaluate``) have the same shape where it matters:
the run folder's evidence files (:data:`trainer.runs.folder.EVIDENCE_FILES`: labels, thresholds, the
data digest with ``splits.<split>``, optionally metrics, run info and data report), the split's
predictions, and an export bundle's manifest and smoke file under ``export/`` (as MLflow logs it).
Metrics are recomputed from the predictions with :func:`trainer.scoring.metrics.compute_metrics`, so every
number in a comparison comes from the same rows the statistics resample.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainer.comparison.stats import Decisions
from trainer.data.labels import LabelMap
from trainer.data.spec import ConfigError
from trainer.runs.folder import CLASSICAL_BASELINE, EVIDENCE_FILES, LABELS, THRESHOLDS, RunFolder
from trainer.scoring.metrics import compute_metrics, predict_labels
from trainer.scoring.predictions import read_predictions
from trainer.serving.bundle import MANIFEST, graph_bytes
from trainer.serving.precisions import FP32, REDUCED
from trainer.serving.smoke import SMOKE_FILE
from trainer.tracking.registry import EXPORT_ARTIFACT, evidence_run_id

# The export bundle's files a comparison reads (sizes from the manifest, latency from the smoke file),
# where MLflow logs the bundle inside a run.
EXPORT_FILES = (f"{EXPORT_ARTIFACT}/{MANIFEST}", f"{EXPORT_ARTIFACT}/{SMOKE_FILE}")


def _predictions_path(split: str) -> str:
    """``predictions/<split>.csv`` inside a run folder, as a relative (artifact) path."""
    return RunFolder(Path()).predictions_file(split).as_posix()


# What a comparison measures runs against: a selected run, or the classical baseline saved with one.
REFERENCES = ("run", CLASSICAL_BASELINE)


class EvidenceError(ValueError):
    """A run lacks what a comparison needs; the message names the run and the file."""


@dataclass
class RunEvidence:
    run_id: str | None
    name: str
    split: str
    label_map: LabelMap
    thresholds: list[float] | None
    ids: list[str]
    langs: list[str]
    probs: torch.Tensor
    targets: torch.Tensor
    split_digest: str | None
    main_metric: str
    metrics: dict[str, Any]
    costs: dict[str, float | None]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def decisions(self) -> Decisions:
        return Decisions.from_labels(
            self.targets, predict_labels(self.probs, self.label_map, self.thresholds), self.label_map
        )

    def language_rows(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, lang in enumerate(self.langs):
            out.setdefault(lang, []).append(i)
        return dict(sorted(out.items()))


# -- costs --------------------------------------------------------------------------------------------
def _optional_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _export_costs(export_dir: Path) -> tuple[float | None, dict[str, float | None]]:
    """The bundle's fp32 graph size, and size and batch-1 latency of each reduced-precision graph (None
    where the bundle has none)."""
    files = (_optional_json(export_dir / MANIFEST) or {}).get("files") or {}
    smoke = _optional_json(export_dir / SMOKE_FILE) or {}
    # The smoke latency is the served graph's: the one it names, else the one ``auto`` serves.
    served = smoke.get("graph") or next((p.graph for p in REDUCED if p.graph in files), None)
    latency = (smoke.get("latency_ms") or {}).get("batch_1_p50")
    costs: dict[str, float | None] = {}
    for precision in REDUCED:
        size = graph_bytes(files, precision)
        costs[precision.size_column] = size / 1e6 if size is not None else None
        costs[precision.latency_column] = latency if size is not None and served == precision.graph else None
    return graph_bytes(files, FP32), costs


def _costs(run: RunFolder, model_bytes: float | None) -> dict[str, float | None]:
    info = run.run_info() or {}
    report = run.data_report() or {}
    trained = info.get("entry_point") == "trainer.train"
    duration = info.get("duration_s") if trained else None
    rows = (report.get("rows") or {}).get("train")
    epochs = info.get("epochs_run")
    fp32_bytes, export = _export_costs(run.path / EXPORT_ARTIFACT)
    if model_bytes is None and run.model_dir.is_dir():
        model_bytes = float(run.model_weight_bytes())
    if model_bytes is None:
        model_bytes = fp32_bytes
    return {
        "train_time_s": duration,
        "train_samples_per_s": rows * epochs / duration if duration and rows and epochs else None,
        "model_mb": model_bytes / 1e6 if model_bytes else None,
        **export,
    }


# -- reading ------------------------------------------------------------------------------------------
def _sorted_predictions(run: RunFolder, path: Path, label_map: LabelMap, who: str) -> tuple[Any, list[int]]:
    """A predictions file and its row order by id (how runs are aligned row by row)."""
    try:
        p = read_predictions(path, label_map)
    except (KeyError, ValueError) as err:
        raise EvidenceError(f"{who}: {path.name} does not match {LABELS} ({err})") from None
    order = sorted(range(len(p.ids)), key=lambda i: p.ids[i])
    if len({p.ids[i] for i in order}) != len(order):
        raise EvidenceError(f"{who}: {path.relative_to(run.path)} repeats row ids; rows cannot be paired")
    return p, order


def evidence_from_folder(
    folder: Path,
    split: str,
    run_id: str | None = None,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    model_bytes: float | None = None,
) -> RunEvidence:
    """Read a run folder (or a downloaded run) into evidence for ``split``."""
    run = RunFolder(Path(folder))
    who = f"run {run_id}" if run_id else str(run.path)
    predictions = _predictions_path(split)
    missing = run.missing((predictions, LABELS, THRESHOLDS))
    if missing:
        raise EvidenceError(
            f"{who}: {missing[0]} missing; a comparison needs {predictions}, {LABELS} and {THRESHOLDS} "
            f"(written by trainer.train and trainer.evaluate)"
        )
    label_map, thresholds = run.label_map(), run.thresholds()
    p, order = _sorted_predictions(run, run.predictions_file(split), label_map, who)
    index = torch.tensor(order, dtype=torch.long)
    ids, langs = [p.ids[i] for i in order], [p.langs[i] for i in order]
    probs, targets = p.probs[index], p.targets[index]
    main = (run.metrics() or {}).get("main_metric") or "macro_f1"
    metrics = compute_metrics(probs, targets, langs, label_map, thresholds, main)
    return RunEvidence(
        run_id,
        name or (run_id or run.name),
        split,
        label_map,
        thresholds,
        ids,
        langs,
        probs,
        targets,
        run.split_digest(split),
        main,
        metrics,
        _costs(run, model_bytes),
        dict(tags or {}),
    )


def _classical_path(split: str) -> str:
    """``predictions/baseline_tfidf_<split>.csv`` inside a run folder, as a relative (artifact) path."""
    return RunFolder(Path()).baseline_predictions_file(split).as_posix()


def classical_evidence(folder: Path, run: RunEvidence) -> RunEvidence:
    """``run``'s own TF-IDF baseline (trainer.scoring.classical) on the same split, as a run of its own:
    decisions by argmax / 0.5 (no thresholds), the run's split digest and main metric, no costs."""
    rf = RunFolder(Path(folder))
    who = f"run {run.run_id}" if run.run_id else str(rf.path)
    path = rf.baseline_predictions_file(run.split)
    if not path.is_file():
        raise EvidenceError(
            f"{who}: {_classical_path(run.split)} missing (runs trained with classical=none have none; runs "
            f"before 2026-12-02 saved only the test split's): no {CLASSICAL_BASELINE} reference"
        )
    p, order = _sorted_predictions(rf, path, run.label_map, who)
    index = torch.tensor(order, dtype=torch.long)
    ids, langs = [p.ids[i] for i in order], [p.langs[i] for i in order]
    probs, targets = p.probs[index], p.targets[index]
    return RunEvidence(
        f"{run.run_id or rf.name}:{CLASSICAL_BASELINE}",
        f"{CLASSICAL_BASELINE} of {run.name}",
        run.split,
        run.label_map,
        None,
        ids,
        langs,
        probs,
        targets,
        run.split_digest,
        run.main_metric,
        compute_metrics(probs, targets, langs, run.label_map, None, run.main_metric),
        {},
        {"entry_point": "trainer.scoring.classical"},
    )


# -- from MLflow --------------------------------------------------------------------------------------
def download_evidence(client: Any, run_id: str, split: str, dest: Path, tracking_uri: str) -> RunEvidence:
    """Fetch the evidence files of an MLflow run into ``dest`` and read them."""
    # Imported here: reading a local folder does not need MLflow (nor its import time).
    from trainer.tracking.run_search import download_run_files

    predictions = _predictions_path(split)
    fetched = download_run_files(client, run_id, [*EVIDENCE_FILES, predictions, *EXPORT_FILES], dest, tracking_uri)
    if predictions in fetched.failed:
        raise EvidenceError(f"run {run_id}: cannot download {predictions} ({fetched.failed[predictions]})")
    return evidence_from_folder(dest, split, run_id, fetched.name, fetched.tags, fetched.model_bytes)


def download_classical(client: Any, run: RunEvidence, dest: Path, tracking_uri: str) -> RunEvidence:
    """Fetch ``run``'s TF-IDF baseline predictions (same split) into ``dest`` and read them."""
    from trainer.tracking.run_search import download_run_files

    assert run.run_id is not None  # evidence downloaded from MLflow always has its run id
    path = _classical_path(run.split)
    fetched = download_run_files(client, run.run_id, [path], dest, tracking_uri)
    if path in fetched.failed:
        raise EvidenceError(f"run {run.run_id}: cannot download {path} ({fetched.failed[path]})")
    return classical_evidence(dest, run)


def collect_evidence(
    client: Any,
    runs: dict[str, str],
    base_id: str,
    split: str,
    tracking_uri: str,
    reference: str = "run",
) -> tuple[dict[str, RunEvidence], dict[str, dict[str, str]], str]:
    """Evidence of every run ``{run id: name}``, the runs without any (name and reason), and the
    reference's id: ``base_id``, or with ``reference=baseline_tfidf`` the TF-IDF baseline saved by
    ``base_id``'s run (then first in the evidence, and one selected run is enough).

    A run without predictions (a sweep's parent, a report run...) is listed, never silently dropped;
    the baseline's lack of them is an error, and so are fewer than two runs with evidence.
    """
    if reference not in REFERENCES:
        raise ConfigError(f"reference={reference!r} must be one of {list(REFERENCES)}")
    evidence: dict[str, RunEvidence] = {}
    skipped: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="seaguard-compare-") as tmp:
        for run_id, name in runs.items():
            try:
                evidence[run_id] = download_evidence(client, run_id, split, Path(tmp) / run_id, tracking_uri)
            except EvidenceError as err:
                if run_id == base_id:
                    raise
                skipped[run_id] = {"name": name, "reason": str(err)}
        if reference == CLASSICAL_BASELINE:
            ref = download_classical(client, evidence[base_id], Path(tmp) / f"{base_id}-classical", tracking_uri)
            evidence, base_id = {ref.run_id or "": ref, **evidence}, ref.run_id or ""
    if len(evidence) < 2:
        raise ConfigError(f"only {len(evidence)} selected run(s) hold {_predictions_path(split)}: nothing to compare")
    return evidence, skipped, base_id


def version_evidence(client: Any, version: Any, split: str, dest: Path, tracking_uri: str) -> RunEvidence:
    """The evidence of a registered version: its run's, or its export's source run's (the one holding
    the predictions of ``split``)."""
    return download_evidence(client, evidence_run_id(client, version, split), split, dest, tracking_uri)


def shared_test_set(a: RunEvidence, b: RunEvidence) -> tuple[bool, str]:
    """Whether ``a`` and ``b`` were scored on the same rows (and why not)."""
    if a.label_map.names != b.label_map.names or a.label_map.task != b.label_map.task:
        return False, f"different labels ({list(a.label_map.names)} vs {list(b.label_map.names)})"
    if a.split_digest and b.split_digest and a.split_digest != b.split_digest:
        return False, f"different {a.split} sets (data digest {a.split_digest[:12]} vs {b.split_digest[:12]})"
    if a.ids != b.ids:
        return (
            False,
            f"different {a.split} rows ({len(a.ids)} vs {len(b.ids)} ids, {len(set(a.ids) ^ set(b.ids))} not in both)",
        )
    if not torch.equal(a.targets, b.targets):
        return False, f"same {a.split} row ids but different gold labels"
    if not (a.split_digest and b.split_digest):
        return True, "matched on row ids and gold labels (no data digest)"
    return True, "same data digest"
