"""``f1_weighted`` (issue 14 §1): scikit-learn's ``f1_score(average="weighted")``, per split and language, and a
main metric that threshold tuning and the early config check accept."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import f1_score

from trainer.data.labels import LabelMap
from trainer.scoring.metrics import MAIN_METRICS, check_main_metric, compute_metrics, predict_labels, tune_thresholds

MC = LabelMap("multiclass", ("a", "b", "c", "d"))
BIN = LabelMap("binary", ("hs", "not_hs"), positive_index=0)
ML = LabelMap("multilabel", ("x", "y", "z"))


def _random_probs(n: int, k: int, seed: int) -> torch.Tensor:
    return torch.softmax(torch.randn(n, k, generator=torch.Generator().manual_seed(seed)) * 2, dim=1)


def test_multiclass_matches_sklearn_with_unbalanced_and_absent_classes() -> None:
    # Class d never occurs in the gold labels (support 0: weight 0), but the model predicts it.
    y = torch.tensor([0] * 20 + [1] * 6 + [2] * 3)
    probs = _random_probs(len(y), 4, seed=3)
    preds = probs.argmax(dim=1)
    assert 3 in preds.tolist()
    langs = ["en"] * 15 + ["th"] * 14
    m = compute_metrics(probs, y, langs, MC, main_metric="f1_weighted")
    expected = f1_score(y.numpy(), preds.numpy(), average="weighted", zero_division=0)
    assert m["overall"]["f1_weighted"] == pytest.approx(expected, abs=1e-6)
    assert m["overall"]["f1_weighted"] != pytest.approx(m["overall"]["macro_f1"], abs=1e-3)
    th = f1_score(y[15:].numpy(), preds[15:].numpy(), average="weighted", zero_division=0)
    assert m["per_language"]["th"]["f1_weighted"] == pytest.approx(th, abs=1e-6)


def test_binary_and_multilabel_match_sklearn() -> None:
    probs = _random_probs(40, 2, seed=5)
    y = torch.tensor([0] * 10 + [1] * 30)
    m = compute_metrics(probs, y, ["id"] * 40, BIN, [0.4], main_metric="f1_weighted")
    preds = predict_labels(probs, BIN, [0.4])
    assert m["overall"]["f1_weighted"] == pytest.approx(f1_score(y, preds, average="weighted"), abs=1e-6)

    scores = torch.rand(30, 3, generator=torch.Generator().manual_seed(7))
    truth = (torch.rand(30, 3, generator=torch.Generator().manual_seed(8)) < torch.tensor([0.7, 0.3, 0.1])).float()
    m = compute_metrics(scores, truth, ["en"] * 30, ML, [0.5, 0.5, 0.5], main_metric="f1_weighted")
    expected = f1_score(truth.long().numpy(), (scores >= 0.5).long().numpy(), average="weighted", zero_division=0)
    assert m["overall"]["f1_weighted"] == pytest.approx(expected, abs=1e-6)


def test_binary_thresholds_tuned_for_weighted_f1_score_both_classes() -> None:
    # 6 positives, 3 negatives (the ranking of test_metrics' objective test): positive-class F1 wants the cut
    # low, weighted F1 (both classes, by support) wants it under the top four, like macro-F1.
    pos = torch.tensor([0.95, 0.90, 0.85, 0.80, 0.70, 0.65, 0.60, 0.55, 0.10])
    probs = torch.stack([pos, 1 - pos], dim=1)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 0, 0, 1])
    (t_f1,) = tune_thresholds(probs, y, BIN, objective="f1")
    (t_weighted,) = tune_thresholds(probs, y, BIN, objective="f1_weighted")
    assert t_weighted != pytest.approx(t_f1)
    best = max(f1_score(y, predict_labels(probs, BIN, [t]), average="weighted") for t in [0.05, *pos.tolist(), 0.99])
    at_tuned = f1_score(y, predict_labels(probs, BIN, [t_weighted]), average="weighted")
    assert at_tuned == pytest.approx(best, abs=1e-6)


def test_main_metric_check_accepts_weighted_f1_and_names_the_key() -> None:
    assert "f1_weighted" in MAIN_METRICS
    for task in ("binary", "multiclass", "multilabel"):
        check_main_metric("f1_weighted", task)
    with pytest.raises(ValueError, match=r"module.main_metric='f1'.*multiclass.*positive-class"):
        check_main_metric("f1", "multiclass")
    with pytest.raises(ValueError, match=r"module.main_metric='weighted_f1'.*'f1_weighted'"):
        check_main_metric("weighted_f1", "binary")
