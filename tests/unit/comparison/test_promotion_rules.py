"""Promotion rules (trainer.comparison.promotion) on hand-made evidence: better on the main metric, no
language with enough rows worse, one shared test set (an embedded store for the registry).

Expected values are worked out from the rules in the comments, never copied from a run.
"""

from __future__ import annotations

from typing import Any

import mlflow.tracking  # imported here so its import time is not charged to the first test using it
import pytest
import torch

from trainer.comparison.evidence import RunEvidence
from trainer.comparison.pairwise import compare_pair
from trainer.comparison.promotion import PromoteRules, apply_rules
from trainer.comparison.stats import decision_metric
from trainer.data.labels import LabelMap
from trainer.promote import run_promote

LABELS = LabelMap("multiclass", ("none", "propaganda", "incitement"))
METRIC = "macro_f1"


def _predictions(right: list[bool]) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot probabilities that are right exactly where ``right`` says, and their gold labels."""
    targets = torch.arange(len(right)) % LABELS.num_labels
    preds = torch.where(torch.tensor(right), targets, (targets + 1) % LABELS.num_labels)
    return torch.nn.functional.one_hot(preds, LABELS.num_labels).float(), targets


def evidence(right: dict[str, list[bool]], digest: str | None = "digest-1", name: str = "run") -> RunEvidence:
    """A run's test predictions per language, right or wrong row by row (what promote downloads)."""
    langs = [lang for lang, rows in right.items() for _ in rows]
    flat = [ok for rows in right.values() for ok in rows]
    probs, targets = _predictions(flat)
    ids = [f"{lang}-{i:03d}" for lang, rows in right.items() for i in range(len(rows))]
    return RunEvidence(name, name, "test", LABELS, None, ids, langs, probs, targets, digest, "accuracy", {}, {})


def right(n: int, k: int, first: bool = True) -> list[bool]:
    """``k`` of ``n`` rows right: the first ``k`` (or the last ``k``)."""
    return [True] * k + [False] * (n - k) if first else [False] * (n - k) + [True] * k


def decide(champion: RunEvidence, candidate: RunEvidence, rules: PromoteRules) -> dict[str, dict[str, Any]]:
    """The decision steps of :func:`run_promote` after the registry look-ups (which need MLflow)."""
    metric = rules.main_metric or decision_metric(champion.main_metric, champion.label_map)
    pair = compare_pair(champion, candidate, [metric], rules.stats())
    return {r["rule"]: r for r in apply_rules(pair, rules, metric)}


def test_equal_main_metric_is_refused_by_the_main_metric_rule() -> None:
    # Both right on 80 of 100 rows, not the same ones: accuracy delta exactly 0, which is not "higher".
    rules = decide(evidence({"en": right(100, 80)}), evidence({"en": right(100, 80, first=False)}), PromoteRules())
    assert rules["main_metric"]["passed"] is False
    assert rules["main_metric"]["detail"].startswith("accuracy 0.8000 vs champion 0.8000 (delta +0.0000")
    assert rules["shared_test_set"]["passed"] and rules["no_language_worse"]["passed"]


def test_worse_main_metric_is_refused() -> None:
    rules = decide(evidence({"en": right(100, 85)}), evidence({"en": right(100, 80)}), PromoteRules())
    assert rules["main_metric"]["passed"] is False
    assert "delta -0.0500" in rules["main_metric"]["detail"]


def test_better_overall_but_significantly_worse_on_a_large_language_is_refused_naming_it() -> None:
    # Champion: en 96/160, th 40/40 -> 136/200. Candidate: en 160/160, th 20/40 -> 180/200: better overall,
    # but 20 of 40 th rows lost and none gained (significant at any usual alpha).
    champion = evidence({"en": right(160, 96), "th": right(40, 40)})
    candidate = evidence({"en": right(160, 160), "th": right(40, 20)})
    rules = decide(champion, candidate, PromoteRules())
    assert rules["main_metric"]["passed"] is True
    assert rules["no_language_worse"]["passed"] is False
    assert "th (n=40): accuracy 0.500 vs 1.000" in rules["no_language_worse"]["detail"]
    assert "en (n=" not in rules["no_language_worse"]["detail"]


@pytest.mark.parametrize(("max_drop", "passed"), [(None, True), (3.0, True), (2.0, False)])
def test_max_language_drop_refuses_a_drop_that_is_not_significant(max_drop: float | None, passed: bool) -> None:
    # th: one of 40 rows lost = 2.5 points, too few rows to be significant; only max_language_drop < 2.5 refuses.
    champion = evidence({"en": right(160, 96), "th": right(40, 40)})
    candidate = evidence({"en": right(160, 160), "th": right(40, 39)})
    rules = decide(champion, candidate, PromoteRules(max_language_drop=max_drop))
    assert rules["main_metric"]["passed"] is True
    assert rules["no_language_worse"]["passed"] is passed
    if not passed:
        assert "th (n=40)" in rules["no_language_worse"]["detail"]
        assert rules["no_language_worse"]["detail"].endswith("beyond max_language_drop")


def test_a_language_drop_equal_to_max_language_drop_passes() -> None:
    # configs/promote.yaml: "refuse a larger drop": th loses exactly 2.0 points (1 of 50 rows).
    champion = evidence({"en": right(150, 90), "th": right(50, 50)})
    candidate = evidence({"en": right(150, 150), "th": right(50, 49)})
    rules = decide(champion, candidate, PromoteRules(max_language_drop=2.0))
    assert rules["no_language_worse"]["passed"] is True


@pytest.mark.parametrize("min_rows", [20, 10])
def test_a_language_below_min_language_rows_is_not_held_against_the_candidate(min_rows: int) -> None:
    # lo has 10 rows, all lost by the candidate; it only counts once min_language_rows <= 10.
    champion = evidence({"en": right(160, 96), "lo": right(10, 10)})
    candidate = evidence({"en": right(160, 160), "lo": right(10, 0)})
    rules = decide(champion, candidate, PromoteRules(min_language_rows=min_rows))
    detail = rules["no_language_worse"]["detail"]
    if min_rows > 10:
        assert rules["no_language_worse"]["passed"] is True
        assert detail.endswith("(too few rows to test: lo (n=10))")
    else:
        assert rules["no_language_worse"]["passed"] is False and "lo (n=10)" in detail


def _other_digest(ev: RunEvidence) -> None:
    ev.split_digest = "digest-2"


def _other_row(ev: RunEvidence) -> None:
    ev.ids[-1] = "en-999"


def _other_gold(ev: RunEvidence) -> None:
    ev.targets = ev.targets.clone()
    ev.targets[0] = (ev.targets[0] + 1) % LABELS.num_labels


@pytest.mark.parametrize(
    ("change", "reason"),
    [(_other_digest, "data digest"), (_other_row, "different test rows"), (_other_gold, "different gold labels")],
    ids=["digest", "row_ids", "gold"],
)
def test_candidate_scored_on_another_test_set_is_refused(change: Any, reason: str) -> None:
    champion = evidence({"en": right(100, 60)})
    candidate = evidence({"en": right(100, 100)})  # far better, if it were the same test set
    change(candidate)
    rules = decide(champion, candidate, PromoteRules())
    assert list(rules) == ["shared_test_set"]
    assert rules["shared_test_set"]["passed"] is False and reason in rules["shared_test_set"]["detail"]


@pytest.mark.parametrize("allow", [True, False])
def test_first_champion_follows_allow_first_champion(allow: bool, tmp_path: Any) -> None:
    # A real embedded MLflow store with one registered version and no champion alias yet.
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(uri)
    run = client.create_run(client.create_experiment("promote", artifact_location=(tmp_path / "a").as_uri()))
    client.create_registered_model("seaguard")
    client.create_model_version("seaguard", source=f"runs:/{run.info.run_id}/export", run_id=run.info.run_id)
    decision = run_promote(uri, "models:/seaguard/1", "models:/seaguard@champion", PromoteRules(), "test", allow)
    assert [r["rule"] for r in decision["rules"]] == ["first_champion"]
    assert decision["decision"] == ("promoted" if allow else "refused")
    aliases = {alias: str(version) for alias, version in client.get_registered_model("seaguard").aliases.items()}
    assert aliases == ({"champion": "1"} if allow else {})
    tags = client.get_model_version("seaguard", "1").tags
    assert tags["promotion.decision"] == decision["decision"]
    assert tags["promotion.against"] == "none"
    assert ("allow_first_champion=false" in decision["reason"]) is not allow
