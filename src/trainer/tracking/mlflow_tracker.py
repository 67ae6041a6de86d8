"""MLflow tracking of one training run (``tracking=mlflow``); the only module that opens a run.

One run per training job, created by rank 0 before ``trainer.fit`` spawns any DDP worker, so workers
(which get :class:`~trainer.tracking.NullTracker`) never create runs. Its id is exported in
:data:`RUN_ID_ENV` and saved in every Lightning checkpoint; ``ckpt_path=...`` continues that run.

What a run holds (README "Tracking"): the resolved config as params and as ``config.yaml``; tags for
git, entry point, model, data, host and versions; each split as a dataset input; train loss/lr per
step, every validation metric per epoch, test metrics at the end (names: :mod:`trainer.scoring.metrics`);
system metrics; figures per validation epoch and for test; the run folder's JSON files; the best
model as a pyfunc, optionally registered with an alias.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.data.pandas_dataset import from_pandas
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from trainer.runs.folder import MODEL_MB_METRIC, RunFolder, write_json, write_yaml
from trainer.runs.provenance import versions
from trainer.scoring.figures import (
    confusion_matrix_figure,
    language_bar_figure,
    precision_recall_figure,
    reliability_figure,
)
from trainer.scoring.metrics import compute_metrics, flatten_metrics, predict_labels
from trainer.tracking.baseline_metrics import baseline_summary
from trainer.tracking.connection import MlflowSettings, TrackingError, connect, experiment_id
from trainer.tracking.lightning_hooks import MlflowMetricsLogger, MlflowRunCallback, run_id_in_checkpoint
from trainer.tracking.model_logging import log_pyfunc_model
from trainer.tracking.params import MAX_TAG_VALUE, config_params, fit_value, mlflow_key
from trainer.tracking.spool import is_transient
from trainer.tracking.sweep import PARENT_RUN_ENV  # set by the multirun callback: jobs become child runs
from trainer.tracking.writer import TrackingWriter

if TYPE_CHECKING:
    import pytorch_lightning as pl
    import torch

    from trainer.data.labels import LabelMap
    from trainer.data.prepare import PreparedData

log = logging.getLogger(__name__)

# The current run's id, for any process this one starts (DDP workers, subprocess tools).
RUN_ID_ENV = "SEAGUARD_MLFLOW_RUN_ID"


class MlflowTracker:
    """Implements :class:`trainer.tracking.Tracker` on MLflow (rank 0 only)."""

    def __init__(self, settings: MlflowSettings) -> None:
        self.settings = settings
        self.client: MlflowClient | None = None
        # Every call after the run exists goes through it: training never waits for the server.
        self.writer: TrackingWriter | None = None
        self.run_id: str | None = None
        self.resumed = False
        self._callback: MlflowRunCallback | None = None
        self._monitor: Any = None
        self._n_bins = 15
        self._existing_params: dict[str, str] = {}

    # -- start -----------------------------------------------------------------------------------
    def start(self, *, config: dict[str, Any], tags: dict[str, str], run_dir: Path, resume_ckpt: str | None) -> None:
        s = self.settings
        self.client = connect(s)
        # Reliability figures use the bins of the run's calibration report.
        self._n_bins = int((config.get("calibration") or {}).get("n_bins", 15))
        try:
            self._open_run(resume_ckpt, run_dir)
        except MlflowException as err:  # the run must exist before training: fail now, naming the key
            raise TrackingError(
                f"tracking.uri={s.uri}: could not open the MLflow run ({str(err).splitlines()[0][:300]}); "
                f"check the server, point tracking.uri elsewhere, or run with tracking=none"
            ) from err
        assert self.run_id is not None
        self.writer = TrackingWriter(self.client, self.run_id, s.uri, run_dir)
        if self.resumed:
            self.writer.logged_steps = self._logged_steps()
        self._log_start(config, tags, run_dir, resume_ckpt)

    def _open_run(self, resume_ckpt: str | None, run_dir: Path) -> None:
        s, client = self.settings, self.client
        assert client is not None
        previous = run_id_in_checkpoint(resume_ckpt) if resume_ckpt else None
        if previous is not None and self._can_continue(previous, resume_ckpt):
            run = mlflow.start_run(run_id=previous, log_system_metrics=False)
            self.resumed = True
        else:
            active = mlflow.active_run()
            parent = os.environ.get(PARENT_RUN_ENV) if active is None else None
            run = mlflow.start_run(
                experiment_id=experiment_id(client, s),
                run_name=s.run_name or run_dir.name,
                nested=active is not None,
                parent_run_id=parent,
                log_system_metrics=False,
            )
        self.run_id = run.info.run_id
        os.environ[RUN_ID_ENV] = self.run_id
        log.info("MLflow run %s in %s (%s)", self.run_id, s.uri, "continued" if self.resumed else "new")
        if self.resumed:
            self._existing_params = client.get_run(self.run_id).data.params

    def _logged_steps(self) -> dict[str, set[int]]:
        """Every metric's steps already in the continued run (a resume redoes the steps after its checkpoint)."""
        assert self.client is not None and self.run_id is not None
        client, run_id = self.client, self.run_id
        keys = client.get_run(run_id).data.metrics
        return {key: {m.step for m in client.get_metric_history(run_id, key)} for key in keys}

    def _log_start(self, config: dict[str, Any], tags: dict[str, str], run_dir: Path, resume_ckpt: str | None) -> None:
        s, writer = self.settings, self.writer
        assert writer is not None and self.run_id is not None
        all_tags = {
            **tags,
            "host": socket.gethostname(),
            "run_dir": str(run_dir),
            **{f"version.{k}": str(v) for k, v in versions().items()},
            **((config.get("tracking") or {}).get("tags") or {}),  # the redacted copy: never a secret
        }
        if tags.get("git_commit") not in (None, "None"):
            all_tags["mlflow.source.git.commit"] = tags["git_commit"]  # shown by the UI next to the run
        if resume_ckpt:
            all_tags["resumed_from_checkpoint"] = str(resume_ckpt)
        self._log_params(config)
        writer.log_batch(tags=[(mlflow_key(k), fit_value(str(v), MAX_TAG_VALUE)) for k, v in all_tags.items()])
        with tempfile.TemporaryDirectory() as tmp:
            # Logged now so a failed run has it too; log_final replaces it with the run folder's copy.
            write_yaml(Path(tmp) / "config.yaml", config)
            writer.log_artifact(Path(tmp) / "config.yaml")
        if s.log_system_metrics:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self._monitor = SystemMetricsMonitor(
                self.run_id,
                sampling_interval=s.system_metrics_interval_s,
                resume_logging=self.resumed,
                tracking_uri=s.uri,
            )
            self._monitor.start()

    def _can_continue(self, run_id: str, ckpt: str | None) -> bool:
        assert self.client is not None
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            log.warning(
                "checkpoint %s names MLflow run %s, which %s does not hold: starting a new run",
                ckpt,
                run_id,
                self.settings.uri,
            )
            return False
        if run.info.lifecycle_stage == "deleted":
            log.warning("MLflow run %s from checkpoint %s was deleted: starting a new run", run_id, ckpt)
            return False
        return True

    def _log_params(self, config: dict[str, Any]) -> None:
        assert self.writer is not None
        params = config_params(config)
        if self.resumed:
            # Params are immutable in MLflow: a resumed run keeps the first values, and values that
            # changed (ckpt_path, max_epochs, ...) are recorded as ``resume.<key>`` tags.
            existing = self._existing_params
            changed = {k: v for k, v in params.items() if k in existing and existing[k] != v}
            params = {k: v for k, v in params.items() if k not in existing}
            self.writer.log_batch(
                tags=[(mlflow_key(f"resume.{k}"), fit_value(v, MAX_TAG_VALUE)) for k, v in changed.items()]
            )
        self.writer.log_batch(params=list(params.items()))

    # -- data and training -------------------------------------------------------------------------
    def log_data(self, data: PreparedData) -> None:
        """Each split as a dataset input (name, digest, source, schema, rows) + the data artifacts."""
        import pandas as pd

        assert self.writer is not None
        spec = data.spec
        inputs = []
        for split, rows in data.splits.items():
            key = split if split in spec.files else ("all" if "all" in spec.files else "train")
            frame = pd.DataFrame(
                {
                    "id": [e.id for e in rows],
                    "text": [e.text for e in rows],
                    "lang": [e.lang for e in rows],
                    "label": [
                        "|".join(e.raw_label) if isinstance(e.raw_label, tuple) else str(e.raw_label) for e in rows
                    ],
                }
            )
            with warnings.catch_warnings():
                # MLflow registers its local-file source for two URI schemes and warns that a path
                # matches both; they are the same class, so the warning says nothing.
                warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
                dataset = from_pandas(
                    frame,
                    source=str(spec.resolve_path(key).resolve()),
                    targets="label",
                    name=f"{spec.name}/{split}",
                    digest=data.split_digest(split)[:32],
                )
            input_tags = {"rows": str(len(rows)), "split_sha256": data.split_digest(split)}
            if key in data.file_digests:
                input_tags["file_sha256"] = data.file_digests[key]
            input_tags["mlflow.data.context"] = split  # what mlflow.log_input(context=split) sets
            inputs.append({"dataset": _dataset_fields(dataset), "tags": list(input_tags.items())})
        self.writer.log_inputs(inputs)
        with tempfile.TemporaryDirectory() as tmp:
            data.report.save(Path(tmp) / "data_report.json")
            data.label_map.save(Path(tmp) / "labels.json")
            write_json(
                Path(tmp) / "data_digest.json",
                {
                    "digest": data.digest,
                    "files": data.file_digests,
                    "splits": {s: data.split_digest(s) for s in data.splits},
                },
            )
            self.writer.log_artifact(Path(tmp), None)  # the folder's files at the artifact root
        self.writer.set_tag("data_digest", data.digest)

    def lightning_logger(self) -> MlflowMetricsLogger:
        assert self.writer is not None and self.run_id is not None
        return MlflowMetricsLogger(self.writer, self.run_id, self.settings.experiment_name)

    def callbacks(self) -> list[pl.Callback]:
        assert self.run_id is not None
        self._callback = MlflowRunCallback(self, self.run_id, self.settings.figures_every_n_epochs)
        return [self._callback]

    def log_evaluation(
        self,
        split: str,
        probs: torch.Tensor,
        targets: torch.Tensor,
        langs: list[str],
        label_map: LabelMap,
        main_metric: str,
        step: int,
        thresholds: list[float] | None = None,
        skip: set[str] | frozenset[str] = frozenset(),
        figure_dir: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """All metrics of one split at ``step`` (except names in ``skip``), and figures if ``figure_dir``.

        ``metrics``: the split's :func:`compute_metrics` result when the caller has it (metrics.json),
        so MLflow holds exactly those numbers.
        """
        assert self.writer is not None
        if metrics is None:
            metrics = compute_metrics(probs, targets, langs, label_map, thresholds, main_metric)
        self.log_metrics({k: v for k, v in flatten_metrics(split, metrics).items() if k not in skip}, step)
        if figure_dir is None:
            return
        multilabel = label_map.task == "multilabel"
        preds = predict_labels(probs, label_map, thresholds)
        names = list(label_map.names)
        per_lang = {lang: v.get(main_metric) for lang, v in metrics["per_language"].items()}
        figures = {
            "confusion_matrix.png": confusion_matrix_figure(
                preds, targets, names, multilabel, title=f"{split}: confusion matrix"
            ),
            "precision_recall.png": precision_recall_figure(
                probs, targets, names, multilabel, title=f"{split}: precision-recall"
            ),
            "reliability.png": reliability_figure(
                probs, targets, multilabel, self._n_bins, title=f"{split}: reliability"
            ),
            "per_language.png": language_bar_figure(
                per_lang,
                main_metric,
                {lang: v["n"] for lang, v in metrics["per_language"].items()},
                baseline=metrics["overall"].get(main_metric),
                title=f"{split}: {main_metric} per language",
            ),
        }
        for name, figure in figures.items():
            self.writer.log_figure(figure, f"{figure_dir}/{name}")

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        assert self.writer is not None
        self.writer.log_metrics({mlflow_key(k): v for k, v in values.items()}, step)

    # -- end ----------------------------------------------------------------------------------------
    def log_final(self, *, run_dir: Path, metrics: dict[str, Any], final: dict[str, Any]) -> None:
        """Test metrics and figures, the run folder's files, and the best model."""
        assert self.writer is not None and self.client is not None and self.run_id is not None
        label_map, main = final["label_map"], metrics["main_metric"]
        step = self._callback.last_step if self._callback is not None else 0
        val_probs, val_y, val_langs = final["predictions"]["validation"]
        test_probs, test_y, test_langs = final["predictions"]["test"]
        # The best checkpoint with thresholds tuned on validation: "best_val/..." beside the per-epoch "val/...".
        self.log_evaluation(
            "best_val",
            val_probs,
            val_y,
            val_langs,
            label_map,
            main,
            step,
            final["thresholds"],
            metrics=metrics["validation"],
        )
        self.log_evaluation(
            "test",
            test_probs,
            test_y,
            test_langs,
            label_map,
            main,
            step,
            final["thresholds"],
            figure_dir="figures/test",
            metrics=metrics["test"],
        )
        summary = baseline_summary(metrics, main)
        if metrics.get("best_epoch_score") is not None:
            summary["best_epoch_score"] = metrics["best_epoch_score"]
        # The weights travel inside the pyfunc model, not as run artifacts: record their size for comparisons.
        weights = RunFolder(run_dir).model_weight_bytes()
        if weights:
            summary[MODEL_MB_METRIC] = weights / 1e6
        # calibration/temperature, calibration/ece_before/test, calibration/ece_after/test, ...
        summary.update(
            {
                f"calibration/{k}": v
                for k, v in (metrics.get("calibration") or {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
        )
        self.log_metrics(summary, step)
        # The run folder minus weights: its files, per-row predictions and Hydra's record of the job.
        for path in sorted(run_dir.iterdir()):
            if path.is_file():
                self.writer.log_artifact(path)
        for folder, artifact_path in (("predictions", "predictions"), (".hydra", "hydra")):
            if (run_dir / folder).is_dir():
                self.writer.log_artifact(run_dir / folder, artifact_path)
        self.writer.set_tag("best_checkpoint", str(metrics.get("best_checkpoint")))
        if self.settings.log_model:
            self._log_model(run_dir, final, metrics, step)

    def _log_model(self, run_dir: Path, final: dict[str, Any], metrics: dict[str, Any], step: int) -> None:
        """The pyfunc model, directly (MLflow builds and uploads it in one call), when the server answers."""
        assert self.writer is not None and self.client is not None and self.run_id is not None
        # Its metrics and files first, so the model's page shows them; a stalled server costs one timeout.
        if not self.writer.flush():
            log.warning(
                "tracking.uri=%s is unreachable: the model of run %s is not logged to MLflow (the run "
                "folder's model/ holds it; metrics and files are spooled for python -m trainer.sync)",
                self.settings.uri,
                self.run_id,
            )
            return
        try:
            log_pyfunc_model(
                self.client,
                self.run_id,
                self.settings.register_model,
                self.settings.alias,
                run_dir,
                final,
                metrics,
                step,
            )
        except Exception as err:
            if not is_transient(err):
                raise
            log.warning("tracking.uri=%s failed while logging the model (%s): not logged", self.settings.uri, err)

    def finish(self, status: str) -> None:
        """Terminate the run through the writer (spooled, like the rest, while the server is away)."""
        if self._monitor is not None:
            self._monitor.finish()
            self._monitor = None
        delivered = self.writer.close(status) if self.writer is not None else False
        active = mlflow.active_run()
        if self.run_id is not None and active is not None and active.info.run_id == self.run_id:
            try:
                mlflow.end_run(status)  # pops the fluent run; its second set_terminated is harmless
            except MlflowException as err:
                if delivered or not is_transient(err):
                    raise
        elif self.writer is None and self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status)
        if os.environ.get(RUN_ID_ENV) == self.run_id:
            os.environ.pop(RUN_ID_ENV)


def _dataset_fields(dataset: Any) -> dict[str, Any]:
    """An MLflow dataset as the plain fields of its entity, so a spooled ``log_inputs`` call is JSON."""
    entity = dataset._to_mlflow_entity()  # what mlflow.log_input sends
    return {f: getattr(entity, f) for f in ("name", "digest", "source_type", "source", "schema", "profile")}
