"""Average finished runs into one scored ensemble: ``python -m trainer.ensemble 'runs=[<run>,<run>,...]'``.

Reads top to bottom: the members' saved validation and test predictions (checked to be the same rows,
labels and data) → mean probabilities → thresholds tuned on validation → test metrics → paired deltas
against the best member (by validation) and the TF-IDF baseline → the ensemble folder → summary. Nothing is
retrained or re-scored; the steps live in :mod:`trainer.comparison.ensemble`. ``tracking=mlflow`` logs the
folder as a run (:func:`trainer.tracking.run_search.log_ensemble_run`) that ``trainer.compare`` selects.
``main`` only wires Hydra to :func:`run_ensemble`.

The folder has a run folder's evidence files (labels, thresholds, data digest, metrics, predictions), so
comparisons read it like a run; it has no ``model/``: serving an ensemble means serving every member.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from trainer.comparison.ensemble import (
    Ensemble,
    EnsembleStats,
    build_ensemble,
    ensemble_scalars,
    ensemble_tags,
    summary_lines,
    write_ensemble_folder,
)
from trainer.config import to_container
from trainer.config.safety import redact
from trainer.data.spec import build_dataclass

__all__ = ["EnsembleStats", "main", "run_ensemble"]


def run_ensemble(
    runs: list[Path],
    stats: EnsembleStats,
    out_dir: Path,
    config: dict[str, Any],
    with_baseline_tfidf: bool = False,
    tracking: dict[str, Any] | None = None,
) -> tuple[Ensemble, str | None]:
    """Build the ensemble of ``runs`` (plus the first run's TF-IDF baseline when asked), write it to ``out_dir``,
    log it as an MLflow run with ``tracking.backend=mlflow``, print its summary. Returns it and the run id."""
    ensemble = build_ensemble(runs, stats, with_baseline_tfidf)
    write_ensemble_folder(out_dir, ensemble, config)
    run_id, tracking = None, tracking or {}
    if tracking.get("backend") == "mlflow":
        from trainer.tracking.run_search import log_ensemble_run  # tracking=none never imports mlflow

        run_id = log_ensemble_run(
            tracking["uri"], tracking["experiment_name"], out_dir, ensemble_tags(ensemble), ensemble_scalars(ensemble)
        )
    for line in summary_lines(ensemble):
        print(line, flush=True)
    print(f"ensemble folder: {out_dir}" + (f" (MLflow run {run_id})" if run_id else ""), flush=True)
    return ensemble, run_id


@hydra.main(config_path="../../configs", config_name="ensemble", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    c = to_container(cfg)
    written = redact(c, cfg)  # config.yaml is logged as an artifact: no credentials in tracking.uri
    runs = [Path(r) for r in (c["runs"] or [])]
    out_dir = Path(c["out_dir"]) if c["out_dir"] else Path(HydraConfig.get().runtime.output_dir)
    stats = build_dataclass(EnsembleStats, dict(c["stats"]), "stats")
    run_ensemble(runs, stats, out_dir, written, bool(c["with_baseline_tfidf"]), c["tracking"])


if __name__ == "__main__":
    main()
