"""Bootstrap and McNemar on synthetic decisions where the answer is known (fast, no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainer.comparison.stats import (
    Decisions,
    bootstrap_intervals,
    decision_metric,
    holm,
    mcnemar,
    paired_bootstrap,
    point_values,
)
from trainer.data.labels import LabelMap
from trainer.scoring.metrics import compute_metrics, predict_labels

MULTICLASS = LabelMap("multiclass", ("a", "b", "c", "d"))
BINARY = LabelMap("binary", ("neg", "pos"), 1)
MULTILABEL = LabelMap("multilabel", ("x", "y", "z"))


def _random_case(label_map: LabelMap, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    g = torch.Generator().manual_seed(seed)
    k = label_map.num_labels
    if label_map.task == "multilabel":
        probs = torch.rand(n, k, generator=g)
        targets = (torch.rand(n, k, generator=g) > 0.6).float()
    else:
        probs = torch.rand(n, k, generator=g).softmax(dim=-1)
        # Class "d" never occurs in gold: macro averages must skip it exactly as torchmetrics does.
        targets = torch.randint(0, min(k, 3), (n,), generator=g)
    langs = ["th" if i % 3 == 0 else "id" for i in range(n)]
    return probs, targets, langs


@pytest.mark.parametrize(
    ("label_map", "thresholds"),
    [(MULTICLASS, None), (BINARY, [0.3]), (MULTILABEL, [0.2, 0.5, 0.8])],
    ids=["multiclass", "binary", "multilabel"],
)
def test_point_values_equal_compute_metrics(label_map: LabelMap, thresholds: list[float] | None) -> None:
    probs, targets, langs = _random_case(label_map, 90, seed=1)
    reference = compute_metrics(probs, targets, langs, label_map, thresholds)
    d = Decisions.from_labels(targets, predict_labels(probs, label_map, thresholds), label_map)
    overall = ["accuracy", "macro_f1", "micro_f1", "f1_weighted"] + (["f1"] if label_map.task == "binary" else [])
    per_class = [f"class/{n}/{m}" for n in label_map.names for m in ("f1", "precision", "recall")]
    ours = point_values(d, overall + per_class)
    for name in overall:
        assert ours[name] == pytest.approx(reference["overall"][name], abs=1e-6), name
    for name in per_class:
        _, label, metric = name.split("/")
        assert ours[name] == pytest.approx(reference["per_class"][label][metric], abs=1e-6), name
    for lang, values in reference["per_language"].items():  # subsets where classes go missing
        rows = [i for i, x in enumerate(langs) if x == lang]
        sub = point_values(d.subset(rows), ["accuracy", "macro_f1"])
        assert sub["macro_f1"] == pytest.approx(values["macro_f1"], abs=1e-6)
        assert sub["accuracy"] == pytest.approx(values["accuracy"], abs=1e-6)


def test_macro_f1_skips_classes_absent_from_gold_and_predictions() -> None:
    d = Decisions.from_labels(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 1, 0]), MULTICLASS)
    # Classes c and d never occur: the mean is over a (F1 0.8) and b (F1 2/3) only.
    assert point_values(d, ["macro_f1"])["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)


def _accuracy_run(correct: np.ndarray) -> Decisions:
    targets = torch.zeros(len(correct), dtype=torch.long)
    preds = torch.from_numpy(np.where(correct, 0, 1))
    return Decisions.from_labels(targets, preds, MULTICLASS)


def test_bootstrap_interval_of_accuracy_matches_the_normal_approximation() -> None:
    correct = np.zeros(400, dtype=bool)
    correct[:280] = True  # accuracy 0.7 on 400 rows: standard error sqrt(.7 * .3 / 400) = 0.0229
    ci = bootstrap_intervals(_accuracy_run(correct), ["accuracy"], n_boot=2000, seed=3)["accuracy"]
    se = math.sqrt(0.7 * 0.3 / 400)
    assert ci.value == pytest.approx(0.7)
    assert ci.low == pytest.approx(0.7 - 1.96 * se, abs=0.01)
    assert ci.high == pytest.approx(0.7 + 1.96 * se, abs=0.01)


def test_identical_runs_have_zero_delta_and_p_one() -> None:
    probs, targets, _ = _random_case(MULTICLASS, 120, seed=5)
    d = Decisions.from_labels(targets, predict_labels(probs, MULTICLASS, None), MULTICLASS)
    result = paired_bootstrap(d, d, ["macro_f1", "accuracy", "class/a/f1"], n_boot=500, seed=0)
    for r in result.values():
        assert (r.delta, r.low, r.high, r.p_value) == (0.0, 0.0, 0.0, 1.0)
        assert not r.significant(0.05)


def test_a_real_difference_is_significant_with_the_right_sign() -> None:
    rng = np.random.default_rng(0)
    correct_a = rng.random(200) < 0.9
    correct_b = correct_a.copy()
    correct_b[:60] = False  # B loses up to 60 rows A got right
    result = paired_bootstrap(_accuracy_run(correct_a), _accuracy_run(correct_b), ["accuracy"], n_boot=1000)
    r = result["accuracy"]
    assert r.delta == pytest.approx(correct_b.mean() - correct_a.mean())
    assert r.delta < 0 and r.high < 0 and r.p_value < 0.01
    assert r.p_value >= 1 / 1001  # never exactly zero


def test_small_noise_is_not_significant() -> None:
    rng = np.random.default_rng(1)
    correct_a = rng.random(100) < 0.8
    correct_b = correct_a.copy()
    correct_b[np.flatnonzero(correct_b)[0]] = False  # one row of a hundred
    r = paired_bootstrap(_accuracy_run(correct_a), _accuracy_run(correct_b), ["accuracy"], n_boot=1000)["accuracy"]
    assert r.p_value > 0.3 and r.low < 0 <= r.high


def test_pairing_needs_the_same_rows() -> None:
    a = Decisions.from_labels(torch.tensor([0, 1]), torch.tensor([0, 1]), MULTICLASS)
    b = Decisions.from_labels(torch.tensor([1, 1]), torch.tensor([0, 1]), MULTICLASS)
    with pytest.raises(ValueError, match="same rows"):
        paired_bootstrap(a, b, ["accuracy"])


def test_seeded_and_group_dependent() -> None:
    probs, targets, _ = _random_case(MULTICLASS, 80, seed=7)
    d = Decisions.from_labels(targets, predict_labels(probs, MULTICLASS, None), MULTICLASS)
    first = bootstrap_intervals(d, ["macro_f1"], n_boot=300, seed=11, group="th")
    assert bootstrap_intervals(d, ["macro_f1"], n_boot=300, seed=11, group="th") == first
    assert bootstrap_intervals(d, ["macro_f1"], n_boot=300, seed=11, group="id") != first


def test_unknown_metric_names_the_metric() -> None:
    d = Decisions.from_labels(torch.tensor([0]), torch.tensor([0]), MULTICLASS)
    with pytest.raises(ValueError, match="'f1' has no bootstrap for task multiclass"):
        point_values(d, ["f1"])
    with pytest.raises(ValueError, match="class/zzz/f1"):
        point_values(d, ["class/zzz/f1"])


def test_ranking_main_metrics_fall_back_to_macro_f1() -> None:
    assert decision_metric("auroc", MULTICLASS) == "macro_f1"
    assert decision_metric("f1", MULTICLASS) == "macro_f1" and decision_metric("f1", BINARY) == "f1"
    assert decision_metric("accuracy", MULTILABEL) == "accuracy"


def test_mcnemar_known_values() -> None:
    a = np.array([True] * 10 + [True] * 5 + [False] * 5)
    b = np.array([False] * 10 + [True] * 5 + [False] * 5)
    result = mcnemar(a, b)
    assert (result.a_only, result.b_only) == (10, 0)
    assert result.p_exact == pytest.approx(2 * 0.5**10)  # both tails of Binomial(10, 1/2) at 0 and 10
    assert result.p_mid == pytest.approx(0.5**10)
    tie = mcnemar(np.array([True, False] * 5), np.array([False, True] * 5))
    assert (tie.a_only, tie.b_only, tie.p_exact) == (5, 5, 1.0)
    assert mcnemar(a, a).p_exact == 1.0


def test_holm_adjustment() -> None:
    adjusted = holm({"th": 0.01, "id": 0.04, "ms": 0.03})
    assert adjusted == pytest.approx({"th": 0.03, "ms": 0.06, "id": 0.06})
