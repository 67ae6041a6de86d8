"""The promote rule ``beats_baseline_tfidf`` and the TF-IDF reference read from a run folder.

Hand-made evidence as in test_promotion_rules: predictions right or wrong row by row, so every expected
verdict follows from the counts in the comments.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.comparison.test_promotion_rules import LABELS, evidence, right
from trainer.comparison.evidence import EvidenceError, classical_evidence
from trainer.comparison.pairwise import compare_pair
from trainer.comparison.promotion import PromoteRules, classical_rule
from trainer.data.spec import ConfigError
from trainer.runs.folder import RunFolder
from trainer.scoring.predictions import write_predictions


def _rule(classical: dict[str, list[bool]], candidate: dict[str, list[bool]], mode: str, min_rows: int = 20) -> dict:
    rules = PromoteRules(beat_baseline_tfidf=mode, min_language_rows=min_rows, n_boot=500)
    pair = compare_pair(evidence(classical, name="tfidf"), evidence(candidate), ["accuracy"], rules.stats())
    return classical_rule(pair, rules, "accuracy")


def test_better_on_every_language_passes() -> None:
    # 60 of 100 right for the linear model, 90 of 100 for the candidate, on both languages.
    rule = _rule({"de": right(100, 60), "en": right(100, 60)}, {"de": right(100, 90), "en": right(100, 90)}, "better")
    assert rule["passed"] is True and "every language with >= 20 rows (2)" in rule["detail"]


def test_worse_on_one_language_refuses_naming_it() -> None:
    # Overall the candidate is better (150 vs 120 of 200), but on en it is right 50 times against 60.
    rule = _rule({"de": right(100, 60), "en": right(100, 60)}, {"de": right(100, 100), "en": right(100, 50)}, "better")
    assert rule["passed"] is False
    assert "en (n=100): 0.500 vs 0.600" in rule["detail"] and "de (n=" not in rule["detail"]


def test_significant_needs_each_language_significantly_better() -> None:
    # de: 62 vs 60 of 100 is better but far from significant; en: 95 vs 60 is significant.
    classical, candidate = {"de": right(100, 60), "en": right(100, 60)}, {"de": right(100, 62), "en": right(100, 95)}
    assert _rule(classical, candidate, "better")["passed"] is True
    strict = _rule(classical, candidate, "significant")
    assert (
        strict["passed"] is False
        and strict["detail"].startswith("not significantly better")
        and "de (n=100)" in strict["detail"]
    )


def test_a_language_below_min_language_rows_is_listed_not_judged() -> None:
    # th has 10 rows, all wrong for the candidate: below min_language_rows=20 it is listed, not held against it.
    rule = _rule({"de": right(100, 60), "th": right(10, 5)}, {"de": right(100, 95), "th": right(10, 0)}, "better")
    assert rule["passed"] is True and "too few rows to test: th (n=10)" in rule["detail"]


def test_unknown_mode_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"rules\.beat_baseline_tfidf='yes'"):
        PromoteRules(beat_baseline_tfidf="yes")


def test_classical_evidence_reads_the_run_folder_file(tmp_path: Path) -> None:
    run = evidence({"de": right(30, 20)})
    folder = RunFolder(tmp_path)
    with pytest.raises(EvidenceError, match="predictions/baseline_tfidf_test.csv missing"):
        classical_evidence(tmp_path, run)
    # Written in reverse order: the reference is aligned with the run by id, row by row.
    flip = list(range(len(run.ids)))[::-1]
    write_predictions(
        folder.baseline_predictions_file("test"),
        [run.ids[i] for i in flip],
        [run.langs[i] for i in flip],
        run.targets[flip],
        run.probs[flip],
        LABELS,
        None,
    )
    ref = classical_evidence(tmp_path, run)
    assert ref.ids == run.ids and ref.thresholds is None and ref.split_digest == run.split_digest
    assert ref.run_id == "run:baseline_tfidf"
    assert compare_pair(ref, run, ["accuracy"], PromoteRules().stats())["overall"][0]["delta"] == 0.0
