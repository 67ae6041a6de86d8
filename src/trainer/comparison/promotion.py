"""When a candidate may replace the champion: the rules, and the decision they add up to.

The rules (``rules.*`` in ``configs/promote.yaml``), all of which must pass:

1. ``shared_test_set``: both were scored on the same rows (same split digest, ids and gold labels);
2. ``main_metric``: the candidate's main metric is higher than the champion's (and, with
   ``require_significant_gain``, significantly so);
3. ``no_language_worse``: on no language with at least ``min_language_rows`` rows is the candidate
   significantly worse (``alpha``, ``test``, ``correction``), nor, with ``max_language_drop`` set,
   worse by more than that many points (100 x metric).

4. ``beats_baseline_tfidf`` (only with ``beat_baseline_tfidf: better | significant``): the candidate beats
   its own run's TF-IDF baseline (:mod:`trainer.scoring.classical`, same rows) on the main metric overall
   and on every language with at least ``min_language_rows`` rows (``significant``: each significantly,
   paired bootstrap). It is checked for a first champion too.

A model without a champion yet passes ``first_champion`` (``allow_first_champion``) instead of rules 1–3.
The decision is a plain dict: :mod:`trainer.promote` prints it, moves the alias when it says so, and
records it on the candidate version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from trainer.comparison.evidence import RunEvidence
from trainer.comparison.pairwise import StatsSettings, compare_pair
from trainer.comparison.stats import decision_metric
from trainer.data.spec import ConfigError
from trainer.scoring.metrics import POINTS_TOLERANCE

BEAT_BASELINE = ("off", "better", "significant")


@dataclass(frozen=True)
class PromoteRules:
    """``rules.*``: when a candidate may replace the champion."""

    main_metric: str | None = None
    require_better_main_metric: bool = True
    require_significant_gain: bool = False
    min_language_rows: int = 20
    alpha: float = 0.05
    test: str = "bootstrap"
    correction: str = "none"
    max_language_drop: float | None = None
    n_boot: int = 2000
    seed: int = 0
    # off | better | significant: the candidate must beat its own TF-IDF baseline on every tested language.
    beat_baseline_tfidf: str = "off"

    def __post_init__(self) -> None:
        if self.beat_baseline_tfidf not in BEAT_BASELINE:
            raise ConfigError(
                f"rules.beat_baseline_tfidf={self.beat_baseline_tfidf!r} must be one of {BEAT_BASELINE} "
                "(quoted in YAML: a bare off reads as false)"
            )

    def stats(self) -> StatsSettings:
        return StatsSettings(
            n_boot=self.n_boot,
            seed=self.seed,
            alpha=self.alpha,
            test=self.test,
            correction=self.correction,
            min_language_rows=self.min_language_rows,
        )


# -- the rules ----------------------------------------------------------------------------------------
def _main_metric_rule(pair: dict[str, Any], rules: PromoteRules, metric: str) -> dict[str, Any]:
    main = next(r for r in pair["overall"] if r["metric"] == metric)
    better = 100 * main["delta"] > POINTS_TOLERANCE and (not rules.require_significant_gain or main["significant"])
    needed = "significantly higher" if rules.require_significant_gain else "higher"
    return {
        "rule": "main_metric",
        "passed": better or not rules.require_better_main_metric,
        "detail": f"{metric} {main['run']:.4f} vs champion {main['baseline']:.4f} "
        f"(delta {main['delta']:+.4f} [{main['low']:+.4f}, {main['high']:+.4f}], "
        f"p={main['p']:.4f}); required: {needed if rules.require_better_main_metric else 'nothing'}",
    }


def _language_failure(row: dict[str, Any], rules: PromoteRules, metric: str) -> str | None:
    """Why a tested language refuses the candidate (significantly worse, or beyond the drop), or None."""
    worse = row["significant"] and row["direction"] == "worse"
    too_far = rules.max_language_drop is not None and -100 * row["delta"] > rules.max_language_drop + POINTS_TOLERANCE
    if not (worse or too_far):
        return None
    return (
        f"{row['key']} (n={row['n']}): {metric} {row['run']:.3f} vs {row['baseline']:.3f}, "
        f"delta {row['delta']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}], "
        f"p={row['p_adjusted']:.4f}" + (" — beyond max_language_drop" if too_far and not worse else "")
    )


def _language_rule(pair: dict[str, Any], rules: PromoteRules, metric: str) -> dict[str, Any]:
    failing, untested = [], []
    for row in pair["languages"]:
        if not row["tested"]:
            untested.append(f"{row['key']} (n={row['n']})")
        elif (failure := _language_failure(row, rules, metric)) is not None:
            failing.append(failure)
    detail = (
        ("significantly worse on " + "; ".join(failing))
        if failing
        else f"not significantly worse on any language with >= {rules.min_language_rows} rows"
    )
    if untested:
        detail += f" (too few rows to test: {', '.join(untested)})"
    return {"rule": "no_language_worse", "passed": not failing, "detail": detail}


def apply_rules(pair: dict[str, Any], rules: PromoteRules, metric: str) -> list[dict[str, Any]]:
    """Each rule with ``passed`` and a ``detail`` that says why, from a :func:`compare_pair` result."""
    if not pair["shared"]:
        return [{"rule": "shared_test_set", "passed": False, "detail": f"no shared test set: {pair['reason']}"}]
    return [
        {"rule": "shared_test_set", "passed": True, "detail": pair["reason"]},
        _main_metric_rule(pair, rules, metric),
        _language_rule(pair, rules, metric),
    ]


def _beats(row: dict[str, Any], significant: bool) -> bool:
    return row["direction"] == "better" and (row["significant"] or not significant)


def classical_rule(pair: dict[str, Any], rules: PromoteRules, metric: str) -> dict[str, Any]:
    """``beats_baseline_tfidf``, from :func:`compare_pair` (the TF-IDF baseline as ``base``, the candidate as run)."""
    significant = rules.beat_baseline_tfidf == "significant"
    if not pair["shared"]:
        return {"rule": "beats_baseline_tfidf", "passed": False, "detail": f"no shared test set: {pair['reason']}"}
    main = next(r for r in pair["overall"] if r["metric"] == metric)
    tested = [r for r in pair["languages"] if r["tested"]]
    short = [f"{r['key']} (n={r['n']})" for r in pair["languages"] if not r["tested"]]
    losing = [
        f"{r['key']} (n={r['n']}): {r['run']:.3f} vs {r['baseline']:.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"
        for r in tested
        if not _beats(r, significant)
    ]
    if not _beats(main, significant):
        losing.insert(
            0, f"overall: {main['run']:.3f} vs {main['baseline']:.3f} [{main['low']:+.3f}, {main['high']:+.3f}]"
        )
    how = "significantly better" if significant else "better"
    detail = (
        f"not {how} than the TF-IDF baseline ({metric}) on " + "; ".join(losing)
        if losing
        else f"{how} than the TF-IDF baseline ({metric} {main['run']:.4f} vs {main['baseline']:.4f}) overall "
        f"and on every language with >= {rules.min_language_rows} rows ({len(tested)})"
    )
    if short:
        detail += f" (too few rows to test: {', '.join(short)})"
    return {"rule": "beats_baseline_tfidf", "passed": not losing, "detail": detail}


def first_champion_rules(name: str, alias: str, allowed: bool) -> list[dict[str, Any]]:
    """The one rule for a model that has no ``@alias`` yet."""
    detail = f"{name} has no @{alias} yet" + ("" if allowed else " and allow_first_champion=false")
    return [{"rule": "first_champion", "passed": allowed, "detail": detail}]


# -- the decision -------------------------------------------------------------------------------------
def describe(version: Any, run_id: str | None = None) -> dict[str, Any]:
    """A registered version as the decision names it."""
    return {"name": version.name, "version": str(version.version), "run_id": run_id or version.run_id}


def new_decision(candidate: Any, alias: str, split: str, rules: PromoteRules) -> dict[str, Any]:
    """The decision record before any rule ran."""
    return {
        "candidate": describe(candidate),
        "champion": None,
        "alias": alias,
        "split": split,
        "rules_config": asdict(rules),
        "decided_at": datetime.now(UTC).isoformat(),
    }


def judge_against_champion(
    decision: dict[str, Any], champion: Any, candidate_ev: RunEvidence, champion_ev: RunEvidence, rules: PromoteRules
) -> None:
    """Fill ``decision`` with the paired comparison of the two runs and the rules' verdicts."""
    decision["candidate"]["run_id"] = candidate_ev.run_id
    decision["champion"] = describe(champion, champion_ev.run_id)
    metric = rules.main_metric or decision_metric(champion_ev.main_metric, champion_ev.label_map)
    pair = compare_pair(champion_ev, candidate_ev, [metric], rules.stats())
    decision["rules"] = apply_rules(pair, rules, metric)
    decision["comparison"] = pair


def judge_against_classical(
    decision: dict[str, Any], candidate_ev: RunEvidence, classical_ev: RunEvidence, rules: PromoteRules
) -> None:
    """Add ``beats_baseline_tfidf`` (and the paired comparison behind it) to ``decision``."""
    metric = rules.main_metric or decision_metric(candidate_ev.main_metric, candidate_ev.label_map)
    pair = compare_pair(classical_ev, candidate_ev, [metric], rules.stats())
    decision["rules"].append(classical_rule(pair, rules, metric))
    decision["comparison_baseline_tfidf"] = pair


def conclude(decision: dict[str, Any], dry_run: bool) -> bool:
    """Set ``decision`` and ``reason`` from the rules; True when the candidate is promoted (not on a dry run)."""
    failed = [r for r in decision["rules"] if not r["passed"]]
    decision["decision"] = "promoted" if not failed else "refused"
    decision["reason"] = "; ".join(f"{r['rule']}: {r['detail']}" for r in (failed or decision["rules"]))
    if dry_run:
        decision["decision"] = f"dry_run:{decision['decision']}"
    return not failed and not dry_run


def summary_lines(decision: dict[str, Any]) -> list[str]:
    """What ``python -m trainer.promote`` prints: the verdict, then every rule."""
    cand, champ = decision["candidate"], decision["champion"] or {}
    lines = [
        f"{decision['decision'].upper()}: {cand['name']} version {cand['version']} "
        f"against @{decision['alias']} (version {champ.get('version', 'none')})"
    ]
    lines += [f"  [{'pass' if r['passed'] else 'FAIL'}] {r['rule']}: {r['detail']}" for r in decision["rules"]]
    return lines
