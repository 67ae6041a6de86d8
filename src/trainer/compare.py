"""Compare runs with evidence: ``python -m trainer.compare select.experiments=[demo] baseline=<run id>``.

Reads top to bottom: select runs in MLflow → download their predictions (:mod:`trainer.comparison.evidence`) →
check which share the baseline's test set → per run, the chosen metrics with bootstrap intervals →
against the baseline, per language and per class, the paired-bootstrap delta with its interval, the
McNemar test and a significance verdict → report (markdown + self-contained HTML) → log it to MLflow.

Runs whose test set differs from the baseline's are listed as *not compared* with the reason; their
own numbers and intervals are still shown, never a delta. ``main`` only wires Hydra to
:func:`run_compare`; :func:`compare_pair` is what :mod:`trainer.promote` decides with.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from trainer.comparison.evidence import EvidenceError, RunEvidence, download_evidence, shared_test_set
from trainer.comparison.stats import bootstrap_intervals, check_metric, decision_metric, holm, mcnemar, paired_bootstrap
from trainer.config import to_container
from trainer.data.spec import ConfigError, build_dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    """``select.*``: runs matching all given criteria (experiments by name; no experiment: all)."""

    experiments: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    filter: str | None = None
    max_runs: int = 20


@dataclass(frozen=True)
class StatsSettings:
    """``stats.*``: how deltas are tested."""

    n_boot: int = 1000
    seed: int = 0
    confidence: float = 0.95
    alpha: float = 0.05
    # Significance of a language's delta: bootstrap (paired, on the main metric) or mcnemar (mid-p,
    # on per-row correctness). Per-class deltas always use the paired bootstrap.
    test: str = "bootstrap"
    correction: str = "none"
    min_language_rows: int = 10

    def __post_init__(self) -> None:
        if self.test not in ("bootstrap", "mcnemar"):
            raise ConfigError(f"stats.test={self.test!r} must be bootstrap or mcnemar")
        if self.correction not in ("none", "holm"):
            raise ConfigError(f"stats.correction={self.correction!r} must be none or holm")
        if not 0 < self.alpha < 1 or not 0 < self.confidence < 1 or self.n_boot < 100:
            raise ConfigError("stats.alpha and stats.confidence must be in (0, 1), stats.n_boot >= 100")


def _delta_row(scope: str, key: str, metric: str, r: Any, p_mcnemar: float | None, p_used: float) -> dict[str, Any]:
    return {
        "scope": scope,
        "key": key,
        "metric": metric,
        "n": r.n,
        "baseline": r.a,
        "run": r.b,
        "delta": r.delta,
        "low": r.low,
        "high": r.high,
        "p_bootstrap": r.p_value,
        "p_mcnemar": p_mcnemar,
        "p": p_used,
    }


def compare_pair(base: RunEvidence, run: RunEvidence, metrics: list[str], settings: StatsSettings) -> dict[str, Any]:
    """``run`` against ``base`` on their shared rows: overall, per language and per class deltas.

    Every delta is ``run - base``; ``significant`` uses ``p < alpha`` after the configured correction,
    ``direction`` says which way it went.
    """
    shared, reason = shared_test_set(base, run)
    if not shared:
        return {"run_id": run.run_id, "shared": False, "reason": reason}
    s = settings
    a, b = base.decisions, run.decisions
    main = metrics[0]
    overall = paired_bootstrap(a, b, metrics, s.n_boot, s.seed, s.confidence, group="overall")
    test_all = mcnemar(a.correct, b.correct)
    rows = [_delta_row("overall", "all", m, r, test_all.p_mid, r.p_value) for m, r in overall.items()]
    languages: list[dict[str, Any]] = []
    for lang, idx in base.language_rows().items():
        if len(idx) < s.min_language_rows:
            languages.append({"scope": "language", "key": lang, "metric": main, "n": len(idx), "tested": False})
            continue
        r = paired_bootstrap(a.subset(idx), b.subset(idx), [main], s.n_boot, s.seed, s.confidence, group=lang)[main]
        mc = mcnemar(a.subset(idx).correct, b.subset(idx).correct)
        p = r.p_value if s.test == "bootstrap" else mc.p_mid
        languages.append(
            {
                **_delta_row("language", lang, main, r, mc.p_mid, p),
                "tested": True,
                "a_only": mc.a_only,
                "b_only": mc.b_only,
            }
        )
    class_metrics = [f"class/{n}/f1" for n in base.label_map.names]
    per_class = paired_bootstrap(a, b, class_metrics, s.n_boot, s.seed, s.confidence, group="classes")
    classes: list[dict[str, Any]] = [
        {**_delta_row("class", m.split("/")[1], "f1", r, None, r.p_value), "tested": True} for m, r in per_class.items()
    ]
    for family in (languages, classes):
        tested = {row["key"]: row["p"] for row in family if row["tested"]}
        adjusted = holm(tested) if s.correction == "holm" else tested
        for row in family:
            if row["tested"]:
                row["p_adjusted"] = adjusted[row["key"]]
    for row in [*rows, *languages, *classes]:
        if row.get("tested", True):
            row.setdefault("p_adjusted", row["p"])
            row["significant"] = bool(row["p_adjusted"] < s.alpha and row["delta"] != 0)
            row["direction"] = "better" if row["delta"] > 0 else ("worse" if row["delta"] < 0 else "same")
    return {
        "run_id": run.run_id,
        "shared": True,
        "reason": reason,
        "overall": rows,
        "languages": languages,
        "classes": classes,
        "mcnemar": asdict(test_all),
    }


def statement(name: str, base: str, row: dict[str, Any], settings: StatsSettings) -> str:
    """ "B beats A on th" as a sentence with its numbers."""
    verb = {"better": "beats", "worse": "is worse than", "same": "ties"}[row["direction"]]
    where = (
        "overall"
        if row["scope"] == "overall"
        else f"on {row['key']}"
        if row["scope"] == "language"
        else f"on class {row['key']}"
    )
    how = "paired bootstrap" if row["scope"] != "language" or settings.test == "bootstrap" else "McNemar mid-p"
    return (
        f"{name} {verb} {base} {where}: {row['metric']} {row['delta']:+.3f} "
        f"[{row['low']:+.3f}, {row['high']:+.3f}], p={row['p_adjusted']:.4f} ({how}, n={row['n']})"
    )


def select_runs(client: Any, selection: Selection) -> list[Any]:
    """MLflow runs matching ``selection``, oldest first."""
    if selection.experiments:
        experiments = []
        for name in selection.experiments:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise ConfigError(f"select.experiments: no experiment named {name!r}")
            experiments.append(exp.experiment_id)
    else:
        experiments = [e.experiment_id for e in client.search_experiments()]
    clauses = [f"tags.`{k}` = '{v}'" for k, v in selection.tags.items()]
    if selection.run_ids:
        clauses.append("attributes.run_id IN (" + ", ".join(f"'{r}'" for r in selection.run_ids) + ")")
    if selection.filter:
        clauses.append(selection.filter)
    if not clauses and not selection.experiments:
        raise ConfigError("select: give experiments, run_ids, tags or a filter (refusing to compare every run)")
    runs = client.search_runs(
        experiments,
        filter_string=" and ".join(clauses),
        max_results=selection.max_runs,
        order_by=["attributes.start_time ASC"],
    )
    missing = set(selection.run_ids) - {r.info.run_id for r in runs}
    if missing:
        raise ConfigError(f"select.run_ids: {sorted(missing)} not found (or excluded by the other criteria)")
    return list(runs)


def run_compare(
    uri: str,
    selection: Selection,
    baseline: str | None,
    split: str,
    metrics: list[str],
    stats: StatsSettings,
    out_dir: Path,
    experiment_name: str | None = "compare",
) -> dict[str, Any]:
    """Select, compare and report; logs the report to ``experiment_name`` unless it is None."""
    from mlflow.tracking import MlflowClient

    from trainer.comparison.report import write_report

    client = MlflowClient(uri)
    runs = select_runs(client, selection)
    if len(runs) < 2:
        raise ConfigError(f"select matched {len(runs)} run(s); a comparison needs at least two")
    base_id = baseline or runs[0].info.run_id
    if base_id not in {r.info.run_id for r in runs}:
        runs.insert(0, client.get_run(base_id))
    evidence: dict[str, RunEvidence] = {}
    skipped: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="seaguard-compare-") as tmp:
        for r in runs:
            try:
                evidence[r.info.run_id] = download_evidence(
                    client, r.info.run_id, split, Path(tmp) / r.info.run_id, uri
                )
            except EvidenceError as err:
                if r.info.run_id == base_id:
                    raise
                # A sweep's parent run, a report run...: listed, never silently dropped.
                skipped[r.info.run_id] = {"name": r.info.run_name or r.info.run_id, "reason": str(err)}
    if len(evidence) < 2:
        raise ConfigError(f"only {len(evidence)} selected run(s) hold predictions/{split}.csv: nothing to compare")
    base = evidence[base_id]
    chosen = list(dict.fromkeys(metrics or [decision_metric(base.main_metric, base.label_map), "accuracy"]))
    for m in chosen:
        check_metric(m, base.label_map)
    per_run: dict[str, dict[str, Any]] = {}
    for run_id, ev in evidence.items():
        intervals = bootstrap_intervals(ev.decisions, chosen, stats.n_boot, stats.seed, stats.confidence, "overall")
        langs = {
            lang: bootstrap_intervals(
                ev.decisions.subset(idx), [chosen[0]], stats.n_boot, stats.seed, stats.confidence, lang
            )[chosen[0]]
            for lang, idx in ev.language_rows().items()
        }
        per_run[run_id] = {
            "name": ev.name,
            "rows": len(ev.ids),
            "split_digest": ev.split_digest,
            "metrics": {m: asdict(v) for m, v in intervals.items()},
            "languages": {lang: {**asdict(v), "n": len(ev.language_rows()[lang])} for lang, v in langs.items()},
            "costs": ev.costs,
            "entry_point": ev.tags.get("entry_point"),
        }
    pairs = {run_id: compare_pair(base, ev, chosen, stats) for run_id, ev in evidence.items() if run_id != base_id}
    result = {
        "created": datetime.now(UTC).isoformat(),
        "tracking_uri": uri,
        "split": split,
        "baseline": base_id,
        "metrics": chosen,
        "stats": asdict(stats),
        "selection": asdict(selection),
        "runs": per_run,
        "comparisons": pairs,
        "not_compared": {k: v["reason"] for k, v in pairs.items() if not v["shared"]},
        "skipped": skipped,
        "statements": [
            statement(per_run[k]["name"], base.name, row, stats)
            for k, v in pairs.items()
            if v["shared"]
            for row in [*v["overall"][:1], *v["languages"], *v["classes"]]
            if row.get("significant")
        ],
    }
    files = write_report(result, out_dir)
    if experiment_name:
        result["mlflow_run_id"] = _log_report(client, experiment_name, result, files, out_dir)
    for line in result["statements"] or ["no significant difference against the baseline"]:
        print(line, flush=True)
    for run_id, reason in result["not_compared"].items():
        print(f"NOT COMPARED {per_run[run_id]['name']} ({run_id}): {reason}", flush=True)
    for run_id, info in skipped.items():
        print(f"SKIPPED {info['name']} ({run_id}): {info['reason']}", flush=True)
    print(f"report: {files['html']}", flush=True)
    return result


def _log_report(
    client: Any, experiment_name: str, result: dict[str, Any], files: dict[str, Path], out_dir: Path
) -> str:
    from trainer.tracking.connection import MlflowSettings, experiment_id

    # The one get-or-create: with an embedded store it puts the artifacts beside the database.
    exp_id = experiment_id(client, MlflowSettings(uri=result["tracking_uri"], experiment_name=experiment_name))
    compared = [k for k in result["runs"] if k != result["baseline"]]
    run = client.create_run(
        exp_id,
        run_name=out_dir.name,
        tags={
            "entry_point": "trainer.compare",
            "baseline_run_id": result["baseline"],
            "compared_run_ids": ",".join(compared)[:5000],
            "split": result["split"],
            "not_compared": ",".join(result["not_compared"])[:5000],
        },
    )
    run_id = run.info.run_id
    client.log_metric(run_id, "significant_deltas", float(len(result["statements"])))
    client.log_metric(run_id, "runs_not_compared", float(len(result["not_compared"])))
    client.log_artifacts(run_id, str(out_dir))
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _stats_settings(values: dict[str, Any]) -> StatsSettings:
    return build_dataclass(StatsSettings, dict(values), "stats")


@hydra.main(config_path="../../configs", config_name="compare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from trainer.tracking.connection import check_reachable

    c = to_container(cfg)
    check_reachable(c["tracking"]["uri"])
    run_compare(
        uri=c["tracking"]["uri"],
        selection=build_dataclass(Selection, dict(c["select"]), "select"),
        baseline=c["baseline"],
        split=c["split"],
        metrics=list(c["metrics"] or []),
        stats=_stats_settings(c["stats"]),
        out_dir=Path(c["out_dir"]) if c["out_dir"] else Path(HydraConfig.get().runtime.output_dir),
        experiment_name=c["tracking"]["experiment_name"] if c["log_report"] else None,
    )


if __name__ == "__main__":
    main()
