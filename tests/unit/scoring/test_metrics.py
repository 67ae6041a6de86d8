from __future__ import annotations

import pytest
import torch

from trainer.data.labels import LabelMap
from trainer.scoring.metrics import compute_metrics, flatten_metrics, predict_labels, tune_thresholds

MC = LabelMap("multiclass", ("a", "b", "c"))
BIN = LabelMap("binary", ("hs", "not_hs"), positive_index=0)
ML = LabelMap("multilabel", ("x", "y"))


def test_multiclass_perfect_and_per_language() -> None:
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    probs = torch.nn.functional.one_hot(y, 3).float()
    probs[5] = torch.tensor([0.0, 1.0, 0.0])  # one th error
    m = compute_metrics(probs, y, ["en", "en", "en", "th", "th", "th"], MC)
    assert m["per_language"]["en"]["macro_f1"] == 1.0
    assert m["per_language"]["th"]["accuracy"] == pytest.approx(2 / 3)
    # th: class c never predicted -> f1 0; a f1 1; b: p=1/2 r=1 -> 2/3. macro = (1 + 2/3 + 0) / 3.
    assert m["per_language"]["th"]["macro_f1"] == pytest.approx((1 + 2 / 3) / 3)
    assert m["per_class"]["c"]["support"] == 2 and m["per_class"]["c"]["recall"] == 0.5
    flat = flatten_metrics("test", m)
    assert flat["test/lang/th/accuracy"] == pytest.approx(2 / 3) and "test/class/b/precision" in flat


def test_binary_threshold_tuning_separates_validation() -> None:
    # positive-class probabilities all below 0.5 but perfectly ranked: tuning must find the gap.
    pos = torch.tensor([0.40, 0.35, 0.30, 0.10, 0.05, 0.02])
    probs = torch.stack([pos, 1 - pos], dim=1)
    y = torch.tensor([0, 0, 0, 1, 1, 1])  # index 0 = hs (positive)
    (t,) = tune_thresholds(probs, y, BIN)
    assert 0.10 < t < 0.30
    assert compute_metrics(probs, y, ["id"] * 6, BIN, [t], main_metric="f1")["overall"]["f1"] == 1.0
    assert compute_metrics(probs, y, ["id"] * 6, BIN, None, main_metric="f1")["overall"]["f1"] == 0.0


def test_binary_threshold_objective_follows_the_main_metric() -> None:
    # 6 positives, 3 negatives; ranking P P P P N N P P N. Positive-class F1 is best when only the last
    # negative is called negative (top 8: 12/14); macro-F1 prefers the cut under the top four (0.775 vs 0.679).
    pos = torch.tensor([0.95, 0.90, 0.85, 0.80, 0.70, 0.65, 0.60, 0.55, 0.10])
    probs = torch.stack([pos, 1 - pos], dim=1)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 0, 0, 1])  # index 0 = hs (positive)
    (t_f1,) = tune_thresholds(probs, y, BIN, objective="f1")
    (t_macro,) = tune_thresholds(probs, y, BIN, objective="macro_f1")
    assert 0.10 < t_f1 < 0.55 and 0.70 < t_macro < 0.80
    langs = ["id"] * 9
    at_f1 = compute_metrics(probs, y, langs, BIN, [t_f1], main_metric="macro_f1")["overall"]
    at_macro = compute_metrics(probs, y, langs, BIN, [t_macro], main_metric="macro_f1")["overall"]
    assert at_f1["f1"] > at_macro["f1"] and at_macro["macro_f1"] > at_f1["macro_f1"]
    (t_acc,) = tune_thresholds(probs, y, BIN, objective="accuracy")
    assert compute_metrics(probs, y, langs, BIN, [t_acc])["overall"]["accuracy"] == pytest.approx(7 / 9)


def test_multilabel_thresholds_per_label() -> None:
    probs = torch.tensor([[0.9, 0.2], [0.8, 0.3], [0.1, 0.15], [0.2, 0.1]])
    y = torch.tensor([[1, 1], [1, 1], [0, 0], [0, 0]]).float()
    t = tune_thresholds(probs, y, ML)
    assert t is not None and 0.2 < t[0] < 0.8 and 0.15 < t[1] < 0.2
    assert predict_labels(probs, ML, t).tolist() == y.long().tolist()
    assert compute_metrics(probs, y, ["en"] * 4, ML, t)["overall"]["macro_f1"] == 1.0


def test_unknown_main_metric_names_the_config_key() -> None:
    with pytest.raises(ValueError, match="module.main_metric"):
        compute_metrics(torch.eye(3), torch.tensor([0, 1, 2]), ["en"] * 3, MC, main_metric="f1")
