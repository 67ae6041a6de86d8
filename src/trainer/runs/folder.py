"""The run folder (``python -m trainer.train`` output; evaluation folders share its shape): the only code
that knows its file names and reads or writes them. It must explain itself without MLflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from trainer.data.labels import LabelMap

# Run metric (MLflow): the best model's weight size. The tracker logs the weights only inside the pyfunc
# model, so comparisons of tracked runs read their size from this metric.
MODEL_MB_METRIC = "model_mb"

CONFIG = "config.yaml"
LABELS = "labels.json"
THRESHOLDS = "thresholds.json"
METRICS = "metrics.json"
CALIBRATION = "calibration.json"
DATA_REPORT = "data_report.json"
DATA_DIGEST = "data_digest.json"
RUN_INFO = "run_info.json"
README = "README.md"
MODEL_DIR = "model"
CHECKPOINTS = "checkpoints"
PREDICTIONS = "predictions"
# The classical baseline's (trainer.scoring.classical) prediction file stem: predictions/baseline_tfidf_<split>.csv.
CLASSICAL_BASELINE = "baseline_tfidf"
# Evaluation folders only (``python -m trainer.evaluate``): what was scored, and the figures.
EVALUATED_MODEL = "model.json"
FIGURES = "figures"
# Only when the tracking server was unreachable during the run (trainer.tracking.spool).
TRACKING_SPOOL = "tracking_spool"

RUN_FOLDER_FILES = {
    README: "this description",
    CONFIG: "the fully resolved config of the run",
    LABELS: "label map (task, names in output order, positive label)",
    THRESHOLDS: "decision thresholds tuned on validation (binary/multi-label; null for multiclass)",
    METRICS: "validation and test metrics (overall, per class, per language) + majority and TF-IDF baselines",
    CALIBRATION: "temperature (fitted on validation) and expected calibration error before/after",
    f"{PREDICTIONS}/": "validation.csv and test.csv: id, lang, gold, pred, one score column per label; "
    f"{CLASSICAL_BASELINE}_validation.csv and _test.csv: the same for the TF-IDF baseline (decisions: argmax / 0.5)",
    DATA_REPORT: "rows, labels and languages per split, dropped rows by reason",
    DATA_DIGEST: "hash of the raw files + data config, and of each processed split",
    RUN_INFO: "git commit/dirty, host, versions, timings, model source, tokenisation cache",
    f"{MODEL_DIR}/": "best checkpoint as a transformers folder (safetensors) with its tokenizer",
    f"{CHECKPOINTS}/": "Lightning checkpoints: best.ckpt and last.ckpt (resume with ckpt_path=...)",
    f"{TRACKING_SPOOL}/": "only if the tracking server was unreachable: the logging calls it missed, in order "
    "(`state.json` says how many are pending; `python -m trainer.sync <run folder>` sends them)",
}
# What a model needs to be exported, evaluated or served from a run folder; the rest is optional.
REQUIRED_FILES = (CONFIG, LABELS, THRESHOLDS)
OPTIONAL_FILES = (METRICS, CALIBRATION, DATA_DIGEST, RUN_INFO, DATA_REPORT)
# What a comparison reads (training and evaluation folders alike).
EVIDENCE_FILES = (LABELS, THRESHOLDS, DATA_DIGEST, METRICS, RUN_INFO, DATA_REPORT)


class RunFolderError(ValueError):
    """A run folder lacks a file or holds a malformed one; the message names the path."""


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


@dataclass(frozen=True)
class RunFolder:
    """A run folder on disk. Readers return ``None`` for an optional file that is absent."""

    path: Path

    # -- locations ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL_DIR

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def figures_dir(self) -> Path:
        return self.path / FIGURES

    def predictions_file(self, split: str) -> Path:
        return self.path / PREDICTIONS / f"{split}.csv"

    def baseline_predictions_file(self, split: str) -> Path:
        """The classical baseline's predictions of ``split``, shaped like :meth:`predictions_file`."""
        return self.path / PREDICTIONS / f"{CLASSICAL_BASELINE}_{split}.csv"

    def missing(self, names: tuple[str, ...] = REQUIRED_FILES) -> list[str]:
        return [n for n in names if not (self.path / n).is_file()]

    # -- readers -----------------------------------------------------------------------------------
    def _json(self, name: str, required: bool = False) -> Any:
        path = self.path / name
        if not path.is_file():
            if required:
                raise RunFolderError(f"{path}: missing (expected a run folder written by python -m trainer.train)")
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise RunFolderError(f"{path}: not valid JSON ({err})") from None

    def config(self) -> dict[str, Any]:
        path = self.path / CONFIG
        if not path.is_file():
            raise RunFolderError(f"{path}: missing (expected a run folder written by python -m trainer.train)")
        return yaml.safe_load(path.read_text(encoding="utf-8"))

    def label_map(self) -> LabelMap:
        return LabelMap.from_dict(self._json(LABELS, required=True))

    def thresholds(self) -> list[float] | None:
        return self._json(THRESHOLDS, required=True)["thresholds"]

    def metrics(self) -> dict[str, Any] | None:
        return self._json(METRICS)

    def calibration(self) -> dict[str, Any] | None:
        return self._json(CALIBRATION)

    def temperature(self) -> float:
        return float((self.calibration() or {}).get("temperature", 1.0))

    def data_digest(self) -> dict[str, Any] | None:
        return self._json(DATA_DIGEST)

    def split_digest(self, split: str) -> str | None:
        return ((self.data_digest() or {}).get("splits") or {}).get(split)

    def run_info(self) -> dict[str, Any] | None:
        return self._json(RUN_INFO)

    def data_report(self) -> dict[str, Any] | None:
        return self._json(DATA_REPORT)

    def main_metric(self) -> str | None:
        """The run's main metric: ``metrics.json`` first, else the config's ``module.main_metric``."""
        value = (self.metrics() or {}).get("main_metric")
        if value:
            return str(value)
        config = self.config() if (self.path / CONFIG).is_file() else {}
        return (config.get("module") or {}).get("main_metric")

    def model_weight_bytes(self) -> int:
        """Bytes of the best model's weights (``model/*.safetensors``); 0 when the folder has none."""
        return sum(p.stat().st_size for p in self.model_dir.glob("*.safetensors"))

    # -- writers -----------------------------------------------------------------------------------
    def create(self) -> RunFolder:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def write_config(self, config: dict[str, Any]) -> None:
        write_yaml(self.path / CONFIG, config)

    def write_labels(self, label_map: LabelMap) -> None:
        label_map.save(self.path / LABELS)

    def write_thresholds(self, label_map: LabelMap, thresholds: list[float] | None, tuned_on: str) -> None:
        write_json(
            self.path / THRESHOLDS,
            {"task": label_map.task, "thresholds": thresholds, "labels": list(label_map.names), "tuned_on": tuned_on},
        )

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.path / METRICS, metrics)

    def write_calibration(self, calibration: dict[str, Any]) -> None:
        write_json(self.path / CALIBRATION, calibration)

    def write_data_digest(self, digest: dict[str, Any]) -> None:
        write_json(self.path / DATA_DIGEST, digest)

    def write_data_report(self, report: dict[str, Any]) -> None:
        write_json(self.path / DATA_REPORT, report)

    def write_run_info(self, info: dict[str, Any]) -> None:
        write_json(self.path / RUN_INFO, info)

    def write_evaluated_model(self, description: dict[str, Any]) -> None:
        write_json(self.path / EVALUATED_MODEL, description)

    def write_readme(
        self,
        summary: dict[str, Any],
        files: dict[str, str] | None = None,
        by: str = "trainer.train",
        title: str | None = None,
    ) -> None:
        lines = [f"# {title or f'Run {self.name}'}", "", f"Written by `python -m {by}`.", ""]
        lines += [f"- **{key}**: {value}" for key, value in summary.items()]
        lines += ["", "| file | what it holds |", "|---|---|"]
        lines += [f"| `{n}` | {what} |" for n, what in (files or RUN_FOLDER_FILES).items()]
        (self.path / README).write_text("\n".join(lines) + "\n", encoding="utf-8")
