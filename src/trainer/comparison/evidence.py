"""What a comparison reads from a run: its saved predictions on one split, the label map and thresholds
that turned scores into decisions, the split's content digest, and what the model cost.

Training runs and evaluation runs (``python -m trainer.evaluate``) have the same shape where it matters:
``labels.json``, ``thresholds.json``, ``data_digest.json`` (``splits.<split>``: content hash of the
processed split), ``predictions/<split>.csv``, optionally ``metrics.json``, ``run_info.json``,
``data_report.json``, and an export bundle's ``export/manifest.json`` / ``export/smoke.json``.
Metrics are recomputed from the predictions with :func:`trainer.scoring.metrics.compute_metrics`, so every
number in a comparison comes from the same rows the statistics resample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainer.comparison.stats import Decisions
from trainer.data.labels import LabelMap
from trainer.runs.folder import MODEL_MB_METRIC, RunFolder
from trainer.scoring.metrics import compute_metrics, predict_labels
from trainer.scoring.predictions import read_predictions

RUN_FILES = ("labels.json", "thresholds.json", "data_digest.json", "metrics.json", "run_info.json", "data_report.json")
EXPORT_FILES = ("export/manifest.json", "export/smoke.json")


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


def _optional_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _costs(folder: Path, model_bytes: float | None) -> dict[str, float | None]:
    info = _optional_json(folder / "run_info.json") or {}
    report = _optional_json(folder / "data_report.json") or {}
    manifest = _optional_json(folder / "export" / "manifest.json") or {}
    smoke = _optional_json(folder / "export" / "smoke.json") or {}
    trained = info.get("entry_point") == "trainer.train"
    duration = info.get("duration_s") if trained else None
    rows = (report.get("rows") or {}).get("train")
    epochs = info.get("epochs_run")
    files = manifest.get("files") or {}
    if model_bytes is None and (folder / "model").is_dir():
        model_bytes = float(RunFolder(folder).model_weight_bytes())
    if model_bytes is None and "model.onnx" in files:
        model_bytes = float(files["model.onnx"]["bytes"] + (files.get("model.onnx.data") or {}).get("bytes", 0))
    int8 = files.get("model.int8.onnx")
    int8_bytes = int8["bytes"] + (files.get("model.int8.onnx.data") or {}).get("bytes", 0) if int8 else 0
    return {
        "train_time_s": duration,
        "train_samples_per_s": rows * epochs / duration if duration and rows and epochs else None,
        "model_mb": model_bytes / 1e6 if model_bytes else None,
        "int8_mb": int8_bytes / 1e6 if int8 else None,
        "int8_latency_ms": (smoke.get("latency_ms") or {}).get("batch_1_p50") if int8 else None,
    }


def evidence_from_folder(
    folder: Path,
    split: str,
    run_id: str | None = None,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    model_bytes: float | None = None,
) -> RunEvidence:
    """Read a run folder (or a downloaded run) into evidence for ``split``."""
    folder = Path(folder)
    who = f"run {run_id}" if run_id else str(folder)
    predictions = folder / "predictions" / f"{split}.csv"
    for path in (predictions, folder / "labels.json", folder / "thresholds.json"):
        if not path.is_file():
            raise EvidenceError(
                f"{who}: {path.relative_to(folder)} missing; a comparison needs predictions/"
                f"{split}.csv, labels.json and thresholds.json (written by trainer.train and "
                f"trainer.evaluate)"
            )
    label_map = LabelMap.load(folder / "labels.json")
    thresholds = json.loads((folder / "thresholds.json").read_text(encoding="utf-8"))["thresholds"]
    try:
        p = read_predictions(predictions, label_map)
    except (KeyError, ValueError) as err:
        raise EvidenceError(f"{who}: {predictions.name} does not match labels.json ({err})") from None
    order = sorted(range(len(p.ids)), key=lambda i: p.ids[i])  # align runs by row id
    ids = [p.ids[i] for i in order]
    if len(set(ids)) != len(ids):
        raise EvidenceError(f"{who}: predictions/{split}.csv repeats row ids; rows cannot be paired")
    langs = [p.langs[i] for i in order]
    index = torch.tensor(order, dtype=torch.long)
    probs, targets = p.probs[index], p.targets[index]
    saved = _optional_json(folder / "metrics.json") or {}
    main = saved.get("main_metric") or "macro_f1"
    digest = ((_optional_json(folder / "data_digest.json") or {}).get("splits") or {}).get(split)
    metrics = compute_metrics(probs, targets, langs, label_map, thresholds, main)
    return RunEvidence(
        run_id,
        name or (run_id or folder.name),
        split,
        label_map,
        thresholds,
        ids,
        langs,
        probs,
        targets,
        digest,
        main,
        metrics,
        _costs(folder, model_bytes),
        dict(tags or {}),
    )


def download_evidence(client: Any, run_id: str, split: str, dest: Path, tracking_uri: str) -> RunEvidence:
    """Fetch the evidence files of an MLflow run into ``dest`` and read them."""
    import mlflow

    run = client.get_run(run_id)
    present = {a.path for a in client.list_artifacts(run_id)}
    wanted = [n for n in RUN_FILES if n in present]
    if "predictions" in present:
        wanted.append(f"predictions/{split}.csv")
    if "export" in present:
        exported = {a.path for a in client.list_artifacts(run_id, "export")}
        wanted += [n for n in EXPORT_FILES if n in exported]
    dest.mkdir(parents=True, exist_ok=True)
    for path in wanted:
        # A single file lands directly in dst_path: keep its folder (predictions/, export/) ourselves.
        target = dest / Path(path).parent
        target.mkdir(parents=True, exist_ok=True)
        try:
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=str(target), tracking_uri=tracking_uri
            )
        except Exception as err:  # noqa: BLE001 - a missing optional file is reported by the reader below
            if path.startswith("predictions/"):
                raise EvidenceError(f"run {run_id}: cannot download {path} ({err})") from None
    # The tracker records the weights' size as a metric (the weights live in the pyfunc model);
    # runs logged by hand may carry the transformers folder as a ``model_hf/`` artifact instead.
    model_bytes = None
    if run.data.metrics.get(MODEL_MB_METRIC):
        model_bytes = 1e6 * float(run.data.metrics[MODEL_MB_METRIC])
    elif "model_hf" in present:
        model_bytes = float(
            sum(a.file_size or 0 for a in client.list_artifacts(run_id, "model_hf") if a.path.endswith(".safetensors"))
        )
    name = run.info.run_name or run_id
    return evidence_from_folder(dest, split, run_id, name, dict(run.data.tags), model_bytes or None)


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
