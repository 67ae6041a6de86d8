"""The accuracy gate's paired rule (issue 15 #5) on hand-made decisions: a faithful int8 graph whose point
drop is over the limit by a few rows passes, a damaged one fails on its drop and its flip rate.

Rows are built so the numbers can be worked out by hand: 300 rows, 3 classes, fp32 right on 270.
"""

from __future__ import annotations

import pytest
import torch

from trainer.data.labels import LabelMap
from trainer.exporting.gates import GateError, GateSettings, GraphMetrics, accuracy_report, check_accuracy
from trainer.scoring.metrics import compute_metrics

LABELS = LabelMap("multiclass", ("none", "propaganda", "incitement"))
N = 300
LANGS = ["en"] * 150 + ["th"] * 150
GOLD = torch.arange(N) % 3


def _graph(wrong: set[int]) -> GraphMetrics:
    """One graph that is right on every row but ``wrong`` (there it predicts the next class)."""
    from trainer.comparison.stats import Decisions
    from trainer.scoring.metrics import predict_labels

    preds = torch.where(torch.tensor([i in wrong for i in range(N)]), (GOLD + 1) % 3, GOLD)
    probs = torch.nn.functional.one_hot(preds, 3).float()
    metrics = compute_metrics(probs, GOLD, LANGS, LABELS, None, "accuracy", min_language_rows=1)
    return GraphMetrics(metrics, Decisions.from_labels(GOLD, predict_labels(probs, LABELS, None), LABELS), LANGS)


FP32_WRONG = set(range(0, N, 10))  # 30 rows: 90.0% accuracy, 15 per language


def test_a_faithful_graph_a_few_rows_over_the_point_limit_passes() -> None:
    # int8 gets 4 more rows wrong: 4/300 = 1.33 points > 1.0 overall, and 4/150 = 2.67 > 2.0 on en.
    # The old point rule failed this on both counts; the paired interval of the drop reaches below 1.
    fp32, int8 = _graph(FP32_WRONG), _graph(FP32_WRONG | {1, 2, 3, 4})
    report = accuracy_report(fp32, int8, "accuracy", GateSettings())
    check_accuracy(report)  # does not raise
    o = report["overall"]
    assert o["drop"] == pytest.approx(400 / 300) and o["flips"] == 4 and o["flip_rate"] == pytest.approx(4 / 300)
    low, high = o["interval"]
    assert 0 <= low <= 1.0 < o["drop"] < high and report["rows"] == N
    en = report["per_language"]["en"]
    assert en["drop"] == pytest.approx(400 / 150) and en["interval"][0] <= 2.0 and en["passed"] is True
    assert report["per_language"]["th"]["drop"] == 0 and report["flips_passed"] is True
    assert "interval of the drop lies wholly above" in report["rule"]
    # The same numbers without their rows: only the point drop is known, and the point rule fails it.
    plain = accuracy_report(dict(fp32), dict(int8), "accuracy", GateSettings())
    assert plain["passed"] is False and plain["overall"].get("interval") is None and "point drop" in plain["rule"]


def test_a_damaged_graph_fails_on_its_drop_and_its_flip_rate() -> None:
    damaged = _graph(FP32_WRONG | set(range(1, N, 3)))  # a third of the rows go wrong
    with pytest.raises(GateError) as caught:
        check_accuracy(accuracy_report(_graph(FP32_WRONG), damaged, "accuracy", GateSettings()))
    message, report = str(caught.value), caught.value.report
    assert "overall accuracy drop" in message and "interval [" in message
    assert "rows changed decision" in message and "> gates.max_flip_rate=0.05" in message
    assert report["overall"]["interval"][0] > 1.0 and report["overall"]["flip_interval"][0] > 0.05
    assert report["failing_languages"] == ["en", "th"]


def test_flips_that_cancel_out_in_the_metric_still_fail_the_gate() -> None:
    # 30 rows fp32 got right go wrong and the 30 it got wrong go right: accuracy unchanged, 20% of decisions differ.
    int8 = _graph({i + 1 for i in FP32_WRONG})
    report = accuracy_report(_graph(FP32_WRONG), int8, "accuracy", GateSettings())
    assert report["overall"]["drop"] == pytest.approx(0.0) and report["overall"]["passed"] is True
    assert report["flips_passed"] is False and report["passed"] is False
    with pytest.raises(GateError, match=r"60 of 300 rows changed decision \(flip rate 20\.0%"):
        check_accuracy(report)


def test_gate_settings_check_the_bootstrap_and_the_splits() -> None:
    assert GateSettings(splits=["validation"]).splits == ("validation",)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gates.n_boot=10"):
        GateSettings(n_boot=10)
    with pytest.raises(ValueError, match="gates.splits"):
        GateSettings(splits=())
