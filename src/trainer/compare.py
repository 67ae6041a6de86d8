"""Compare runs with evidence: ``python -m trainer.compare select.experiments=[demo] baseline=<run id>``
(``reference=baseline_tfidf``: against the run's own TF-IDF baseline instead).

Reads top to bottom: select runs in MLflow (:mod:`trainer.tracking.run_search`) → download their
predictions (:mod:`trainer.comparison.evidence`) → check which share the baseline's test set → per run,
the chosen metrics with bootstrap intervals → against the baseline, per language and per class, the
paired-bootstrap delta with its interval, the McNemar test and a significance verdict
(:mod:`trainer.comparison.pairwise`) → report (markdown + self-contained HTML,
:mod:`trainer.comparison.report`) → log it to MLflow.

Runs whose test set differs from the baseline's are listed as *not compared* with the reason; their
own numbers and intervals are still shown, never a delta. ``main`` only wires Hydra to :func:`run_compare`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from trainer.comparison.evidence import collect_evidence
from trainer.comparison.pairwise import StatsSettings, choose_metrics, compare_runs, statements
from trainer.comparison.report import report_metrics, report_tags, write_report
from trainer.config import to_container
from trainer.data.spec import build_dataclass
from trainer.tracking.connection import MlflowSettings, check_reachable
from trainer.tracking.run_search import Selection, log_folder_run, open_client, select_with_baseline

__all__ = ["Selection", "StatsSettings", "main", "run_compare"]


def run_compare(
    uri: str,
    selection: Selection,
    baseline: str | None,
    split: str,
    metrics: list[str],
    stats: StatsSettings,
    out_dir: Path,
    experiment_name: str | None = "compare",
    reference: str = "run",
) -> dict[str, Any]:
    """Select, compare and report; logs the report to ``experiment_name`` unless it is None.

    ``reference=baseline_tfidf``: every run is measured against the TF-IDF baseline that the ``baseline``
    run (null: the oldest selected) saved with its predictions, paired row by row.
    """
    client = open_client(uri)
    base_id, runs = select_with_baseline(client, selection, baseline, min_runs=1 if reference != "run" else 2)
    evidence, skipped, base_id = collect_evidence(client, runs, base_id, split, uri, reference)
    chosen = choose_metrics(evidence[base_id], metrics)
    compared = compare_runs(evidence, base_id, chosen, stats)
    result = {
        "created": datetime.now(UTC).isoformat(),
        "tracking_uri": uri,
        "split": split,
        "baseline": base_id,
        "reference": reference,
        "metrics": chosen,
        "stats": asdict(stats),
        "selection": asdict(selection),
        **compared,
        "skipped": skipped,
        "statements": statements(compared, base_id, stats),
    }
    files = write_report(result, out_dir)
    if experiment_name:
        settings = MlflowSettings(uri=uri, experiment_name=experiment_name)
        result["mlflow_run_id"] = log_folder_run(
            client, settings, out_dir.name, report_tags(result), report_metrics(result), out_dir
        )
    _print_outcome(result, files)
    return result


def _print_outcome(result: dict[str, Any], files: dict[str, Path]) -> None:
    for line in result["statements"] or ["no significant difference against the baseline"]:
        print(line, flush=True)
    for run_id, reason in result["not_compared"].items():
        print(f"NOT COMPARED {result['runs'][run_id]['name']} ({run_id}): {reason}", flush=True)
    for run_id, info in result["skipped"].items():
        print(f"SKIPPED {info['name']} ({run_id}): {info['reason']}", flush=True)
    print(f"report: {files['html']}", flush=True)


@hydra.main(config_path="../../configs", config_name="compare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    c = to_container(cfg)
    check_reachable(c["tracking"]["uri"])
    run_compare(
        uri=c["tracking"]["uri"],
        selection=build_dataclass(Selection, dict(c["select"]), "select"),
        baseline=c["baseline"],
        split=c["split"],
        metrics=list(c["metrics"] or []),
        stats=build_dataclass(StatsSettings, dict(c["stats"]), "stats"),
        out_dir=Path(c["out_dir"]) if c["out_dir"] else Path(HydraConfig.get().runtime.output_dir),
        experiment_name=c["tracking"]["experiment_name"] if c["log_report"] else None,
        reference=str(c.get("reference") or "run"),
    )


if __name__ == "__main__":
    main()
