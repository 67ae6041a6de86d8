"""Move the champion alias on evidence only: ``python -m trainer.promote candidate=<ref> against=models:/name@champion``.

Reads top to bottom: candidate and champion versions → their runs' saved test predictions → shared
test set? → paired comparison (:func:`trainer.compare.compare_pair`) → rules → move the alias or not →
record the decision as tags on the candidate version (:func:`trainer.tracking.registry.record_decision`).

The rules (``rules.*`` in ``configs/promote.yaml``), all of which must pass:

1. ``shared_test_set``: both were scored on the same rows (same split digest, ids and gold labels);
2. ``main_metric``: the candidate's main metric is higher than the champion's (and, with
   ``require_significant_gain``, significantly so);
3. ``no_language_worse``: on no language with at least ``min_language_rows`` rows is the candidate
   significantly worse (``alpha``, ``test``, ``correction``), nor, with ``max_language_drop`` set,
   worse by more than that many points (100 x metric).

``candidate`` is ``models:/name/<version>``, ``models:/name@<alias>`` or a run id (the newest version of
the ``against`` model created from that run). Exit status: 0 promoted, 3 refused, 1 on errors.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from trainer.compare import StatsSettings, compare_pair
from trainer.comparison.evidence import download_evidence
from trainer.comparison.stats import decision_metric
from trainer.config import to_container
from trainer.data.spec import ConfigError, build_dataclass
from trainer.scoring.metrics import POINTS_TOLERANCE
from trainer.tracking.registry import (
    RegistryError,
    evidence_run_id,
    model_version,
    parse_model_uri,
    record_decision,
    version_for_run,
)

REFUSED_EXIT = 3


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

    def stats(self) -> StatsSettings:
        return StatsSettings(
            n_boot=self.n_boot,
            seed=self.seed,
            alpha=self.alpha,
            test=self.test,
            correction=self.correction,
            min_language_rows=self.min_language_rows,
        )


def _describe(version: Any, run_id: str | None = None) -> dict[str, Any]:
    return {"name": version.name, "version": str(version.version), "run_id": run_id or version.run_id}


def apply_rules(pair: dict[str, Any], rules: PromoteRules, metric: str) -> list[dict[str, Any]]:
    """Each rule with ``passed`` and a ``detail`` that says why, from a :func:`compare_pair` result."""
    if not pair["shared"]:
        return [{"rule": "shared_test_set", "passed": False, "detail": f"no shared test set: {pair['reason']}"}]
    out = [{"rule": "shared_test_set", "passed": True, "detail": pair["reason"]}]
    main = next(r for r in pair["overall"] if r["metric"] == metric)
    better = 100 * main["delta"] > POINTS_TOLERANCE and (not rules.require_significant_gain or main["significant"])
    needed = "significantly higher" if rules.require_significant_gain else "higher"
    out.append(
        {
            "rule": "main_metric",
            "passed": better or not rules.require_better_main_metric,
            "detail": f"{metric} {main['run']:.4f} vs champion {main['baseline']:.4f} "
            f"(delta {main['delta']:+.4f} [{main['low']:+.4f}, {main['high']:+.4f}], "
            f"p={main['p']:.4f}); required: {needed if rules.require_better_main_metric else 'nothing'}",
        }
    )
    failing, untested = [], []
    for row in pair["languages"]:
        if not row["tested"]:
            untested.append(f"{row['key']} (n={row['n']})")
            continue
        worse = row["significant"] and row["direction"] == "worse"
        too_far = (
            rules.max_language_drop is not None and -100 * row["delta"] > rules.max_language_drop + POINTS_TOLERANCE
        )
        if worse or too_far:
            failing.append(
                f"{row['key']} (n={row['n']}): {metric} {row['run']:.3f} vs {row['baseline']:.3f}, "
                f"delta {row['delta']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}], "
                f"p={row['p_adjusted']:.4f}" + (" — beyond max_language_drop" if too_far and not worse else "")
            )
    detail = (
        ("significantly worse on " + "; ".join(failing))
        if failing
        else f"not significantly worse on any language with >= {rules.min_language_rows} rows"
    )
    if untested:
        detail += f" (too few rows to test: {', '.join(untested)})"
    out.append({"rule": "no_language_worse", "passed": not failing, "detail": detail})
    return out


def run_promote(
    uri: str,
    candidate: str,
    against: str,
    rules: PromoteRules,
    split: str = "test",
    allow_first_champion: bool = True,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Decide, move the alias when every rule passes, and record the decision on the candidate version."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    name, alias, number = parse_model_uri(against)
    if alias is None:
        raise ConfigError(f"against={against}: name the alias to move, e.g. models:/{name}@champion")
    cand = (
        model_version(client, candidate)
        if candidate.startswith("models:/")
        else version_for_run(client, name, candidate)
    )
    if cand.name != name:
        raise ConfigError(
            f"candidate={candidate} is a version of {cand.name!r}, against={against} of {name!r}: "
            f"aliases live within one registered model"
        )
    try:
        champ = model_version(client, against)
    except RegistryError:
        champ = None
    decision: dict[str, Any] = {
        "candidate": _describe(cand),
        "champion": None,
        "alias": alias,
        "split": split,
        "rules_config": asdict(rules),
        "decided_at": datetime.now(UTC).isoformat(),
    }
    if champ is None:
        passed = allow_first_champion
        decision["rules"] = [
            {
                "rule": "first_champion",
                "passed": passed,
                "detail": f"{name} has no @{alias} yet" + ("" if passed else " and allow_first_champion=false"),
            }
        ]
    elif champ.version == cand.version:
        raise ConfigError(f"candidate={candidate} is already {against} (version {cand.version})")
    else:
        with tempfile.TemporaryDirectory(prefix="seaguard-promote-") as tmp:
            cand_run, champ_run = evidence_run_id(client, cand, split), evidence_run_id(client, champ, split)
            ev_cand = download_evidence(client, cand_run, split, Path(tmp) / "candidate", uri)
            ev_champ = download_evidence(client, champ_run, split, Path(tmp) / "champion", uri)
        decision["candidate"]["run_id"], decision["champion"] = cand_run, _describe(champ, champ_run)
        metric = rules.main_metric or decision_metric(ev_champ.main_metric, ev_champ.label_map)
        pair = compare_pair(ev_champ, ev_cand, [metric], rules.stats())
        decision["rules"] = apply_rules(pair, rules, metric)
        decision["comparison"] = pair
    failed = [r for r in decision["rules"] if not r["passed"]]
    decision["decision"] = "promoted" if not failed else "refused"
    decision["reason"] = "; ".join(f"{r['rule']}: {r['detail']}" for r in (failed or decision["rules"]))
    if dry_run:
        decision["decision"] = f"dry_run:{decision['decision']}"
        return decision
    if not failed:
        client.set_registered_model_alias(name, alias, cand.version)
        if champ is not None:
            client.set_model_version_tag(name, champ.version, "promotion.replaced_by", str(cand.version))
    record_decision(client, cand, decision)
    return decision


@hydra.main(config_path="../../configs", config_name="promote", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from trainer.tracking.connection import check_reachable

    c = to_container(cfg)
    check_reachable(c["tracking"]["uri"])
    decision = run_promote(
        c["tracking"]["uri"],
        str(c["candidate"]),
        str(c["against"]),
        build_dataclass(PromoteRules, dict(c["rules"]), "rules"),
        c["split"],
        bool(c["allow_first_champion"]),
        bool(c["dry_run"]),
    )
    cand, champ = decision["candidate"], decision["champion"] or {}
    print(
        f"{decision['decision'].upper()}: {cand['name']} version {cand['version']} "
        f"against @{decision['alias']} (version {champ.get('version', 'none')})",
        flush=True,
    )
    for rule in decision["rules"]:
        print(f"  [{'pass' if rule['passed'] else 'FAIL'}] {rule['rule']}: {rule['detail']}", flush=True)
    if decision["decision"].endswith("refused"):
        sys.exit(REFUSED_EXIT)


if __name__ == "__main__":
    main()
