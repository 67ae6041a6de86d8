"""Move the champion alias on evidence only: ``python -m trainer.promote candidate=<ref> against=models:/name@champion``.

Reads top to bottom: candidate and champion versions → their runs' saved test predictions → shared
test set? → paired comparison (:func:`trainer.comparison.pairwise.compare_pair`) → rules
(:mod:`trainer.comparison.promotion`, where they are listed) → move the alias or not → record the
decision as tags on the candidate version (:func:`trainer.tracking.registry.record_decision`).

``candidate`` is ``models:/name/<version>``, ``models:/name@<alias>`` or a run id (the newest version of
the ``against`` model created from that run). Exit status: 0 promoted, 3 refused, 1 on errors.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from trainer.comparison.evidence import download_classical, version_evidence
from trainer.comparison.promotion import (
    PromoteRules,
    conclude,
    first_champion_rules,
    judge_against_champion,
    judge_against_classical,
    new_decision,
    summary_lines,
)
from trainer.config import to_container
from trainer.data.spec import build_dataclass
from trainer.tracking.connection import check_reachable
from trainer.tracking.registry import record_decision
from trainer.tracking.run_search import find_versions, move_alias, open_client

REFUSED_EXIT = 3


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
    client = open_client(uri)
    versions = find_versions(client, candidate, against)
    decision = new_decision(versions.candidate, versions.alias, split, rules)
    with tempfile.TemporaryDirectory(prefix="seaguard-promote-") as tmp:
        if versions.champion is None:
            decision["rules"] = first_champion_rules(versions.name, versions.alias, allow_first_champion)
        else:
            candidate_ev = version_evidence(client, versions.candidate, split, Path(tmp) / "candidate", uri)
            champion_ev = version_evidence(client, versions.champion, split, Path(tmp) / "champion", uri)
            judge_against_champion(decision, versions.champion, candidate_ev, champion_ev, rules)
        if rules.beat_baseline_tfidf != "off":
            if versions.champion is None:
                candidate_ev = version_evidence(client, versions.candidate, split, Path(tmp) / "candidate", uri)
            classical_ev = download_classical(client, candidate_ev, Path(tmp) / "classical", uri)
            judge_against_classical(decision, candidate_ev, classical_ev, rules)
    if conclude(decision, dry_run):
        move_alias(client, versions)
    if not dry_run:
        record_decision(client, versions.candidate, decision)
    return decision


@hydra.main(config_path="../../configs", config_name="promote", version_base="1.3")
def main(cfg: DictConfig) -> None:
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
    for line in summary_lines(decision):
        print(line, flush=True)
    if decision["decision"].endswith("refused"):
        sys.exit(REFUSED_EXIT)


if __name__ == "__main__":
    main()
