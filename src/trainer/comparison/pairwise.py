"""Runs against a baseline on their shared rows: per-run intervals, paired deltas, verdicts, sentences.

Per run: the chosen metrics with bootstrap intervals, overall and (first metric) per language. Against
the baseline, per language and per class: the paired-bootstrap delta with its interval, the McNemar
test and a significance verdict after the configured correction. Runs whose test set differs from the
baseline's get their own numbers, never a delta. :mod:`trainer.compare` reports these results and
:mod:`trainer.comparison.promotion` decides with :func:`compare_pair`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from trainer.comparison.evidence import RunEvidence, shared_test_set
from trainer.comparison.stats import (
    Decisions,
    PairedDelta,
    bootstrap_intervals,
    check_metric,
    decision_metric,
    holm,
    mcnemar,
    paired_bootstrap,
)
from trainer.data.spec import ConfigError


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


def choose_metrics(base: RunEvidence, metrics: list[str]) -> list[str]:
    """The metrics to compare on (the first is the main one): as given, else the baseline's main metric
    and accuracy; each checked against the baseline's task."""
    chosen = list(dict.fromkeys(metrics or [decision_metric(base.main_metric, base.label_map), "accuracy"]))
    for m in chosen:
        check_metric(m, base.label_map)
    return chosen


# -- one run on its own -------------------------------------------------------------------------------
def run_summary(ev: RunEvidence, metrics: list[str], s: StatsSettings) -> dict[str, Any]:
    """``ev``'s chosen metrics with intervals, its first metric per language, its size and costs."""
    decisions = ev.decisions
    intervals = bootstrap_intervals(decisions, metrics, s.n_boot, s.seed, s.confidence, "overall")
    rows = ev.language_rows()
    langs = {
        lang: bootstrap_intervals(decisions.subset(idx), [metrics[0]], s.n_boot, s.seed, s.confidence, lang)[metrics[0]]
        for lang, idx in rows.items()
    }
    return {
        "name": ev.name,
        "rows": len(ev.ids),
        "split_digest": ev.split_digest,
        "metrics": {m: asdict(v) for m, v in intervals.items()},
        "languages": {lang: {**asdict(v), "n": len(rows[lang])} for lang, v in langs.items()},
        "costs": ev.costs,
        "entry_point": ev.tags.get("entry_point"),
    }


# -- one run against the baseline ---------------------------------------------------------------------
def _delta_row(
    scope: str, key: str, metric: str, r: PairedDelta, p_mcnemar: float | None, p_used: float
) -> dict[str, Any]:
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


def _language_rows(
    base: RunEvidence, a: Decisions, b: Decisions, metric: str, s: StatsSettings
) -> list[dict[str, Any]]:
    """One row per language; those with fewer than ``min_language_rows`` rows are listed, not tested."""
    rows: list[dict[str, Any]] = []
    for lang, idx in base.language_rows().items():
        if len(idx) < s.min_language_rows:
            rows.append({"scope": "language", "key": lang, "metric": metric, "n": len(idx), "tested": False})
            continue
        sub_a, sub_b = a.subset(idx), b.subset(idx)
        r = paired_bootstrap(sub_a, sub_b, [metric], s.n_boot, s.seed, s.confidence, group=lang)[metric]
        mc = mcnemar(sub_a.correct, sub_b.correct)
        p = r.p_value if s.test == "bootstrap" else mc.p_mid
        rows.append(
            {
                **_delta_row("language", lang, metric, r, mc.p_mid, p),
                "tested": True,
                "a_only": mc.a_only,
                "b_only": mc.b_only,
            }
        )
    return rows


def _class_rows(base: RunEvidence, a: Decisions, b: Decisions, s: StatsSettings) -> list[dict[str, Any]]:
    class_metrics = [f"class/{n}/f1" for n in base.label_map.names]
    per_class = paired_bootstrap(a, b, class_metrics, s.n_boot, s.seed, s.confidence, group="classes")
    return [
        {**_delta_row("class", m.split("/")[1], "f1", r, None, r.p_value), "tested": True} for m, r in per_class.items()
    ]


def _judge(overall: list[dict[str, Any]], families: list[list[dict[str, Any]]], s: StatsSettings) -> None:
    """Add ``p_adjusted`` (the correction runs within each family), ``significant`` and ``direction``."""
    for family in families:
        tested = {row["key"]: row["p"] for row in family if row["tested"]}
        adjusted = holm(tested) if s.correction == "holm" else tested
        for row in family:
            if row["tested"]:
                row["p_adjusted"] = adjusted[row["key"]]
    for row in [*overall, *(row for family in families for row in family)]:
        if row.get("tested", True):
            row.setdefault("p_adjusted", row["p"])
            row["significant"] = bool(row["p_adjusted"] < s.alpha and row["delta"] != 0)
            row["direction"] = "better" if row["delta"] > 0 else ("worse" if row["delta"] < 0 else "same")


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
    deltas = paired_bootstrap(a, b, metrics, s.n_boot, s.seed, s.confidence, group="overall")
    test_all = mcnemar(a.correct, b.correct)
    overall = [_delta_row("overall", "all", m, r, test_all.p_mid, r.p_value) for m, r in deltas.items()]
    languages = _language_rows(base, a, b, metrics[0], s)
    classes = _class_rows(base, a, b, s)
    _judge(overall, [languages, classes], s)
    return {
        "run_id": run.run_id,
        "shared": True,
        "reason": reason,
        "overall": overall,
        "languages": languages,
        "classes": classes,
        "mcnemar": asdict(test_all),
    }


# -- every run ----------------------------------------------------------------------------------------
def compare_runs(
    evidence: dict[str, RunEvidence], base_id: str, metrics: list[str], stats: StatsSettings
) -> dict[str, Any]:
    """``runs`` (each run's own numbers), ``comparisons`` (each other run against the baseline) and
    ``not_compared`` (the reason, for runs scored on other rows)."""
    base = evidence[base_id]
    per_run = {run_id: run_summary(ev, metrics, stats) for run_id, ev in evidence.items()}
    pairs = {run_id: compare_pair(base, ev, metrics, stats) for run_id, ev in evidence.items() if run_id != base_id}
    return {
        "runs": per_run,
        "comparisons": pairs,
        "not_compared": {k: v["reason"] for k, v in pairs.items() if not v["shared"]},
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


def statements(compared: dict[str, Any], base_id: str, settings: StatsSettings) -> list[str]:
    """A sentence for every significant delta of :func:`compare_runs`' result: the main metric overall,
    then languages and classes, run by run."""
    runs = compared["runs"]
    return [
        statement(runs[k]["name"], runs[base_id]["name"], row, settings)
        for k, v in compared["comparisons"].items()
        if v["shared"]
        for row in [*v["overall"][:1], *v["languages"], *v["classes"]]
        if row.get("significant")
    ]
