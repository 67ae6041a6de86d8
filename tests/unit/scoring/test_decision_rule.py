"""``python -m trainer.predict`` shows its decision rule (issue 14 §1): a tuned threshold makes a label that is not
the highest score correct, so the rule goes to stderr once and every row says which score met which threshold.

The predictor is the real :class:`~trainer.serving.predictor.BundlePredictor` (its ``predict`` and decision
rule) with fixed probabilities in place of an ONNX session, so each case sits exactly where it should.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from trainer import predict
from trainer.data.labels import LabelMap
from trainer.predict import DecisionRule, RowPolicy, records, text_rows
from trainer.serving.predictor import BundlePredictor

BIN = LabelMap("binary", ("hs", "not_hs"), positive_index=0)
ML = LabelMap("multilabel", ("x", "y", "z"))
MC = LabelMap("multiclass", ("a", "b", "c"))


class FixedScores(BundlePredictor):
    """A BundlePredictor whose probabilities are given (no bundle, no session)."""

    def __init__(self, label_map: LabelMap, thresholds: list[float] | None, temperature: float, probs: Any) -> None:
        self.label_map, self.thresholds, self.temperature = label_map, thresholds, temperature
        self.probs = np.asarray(probs, dtype=np.float32)

    def probabilities(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        return self.probs[: len(texts)]


def _main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], predictor: FixedScores, *texts: str
) -> tuple[list[dict[str, Any]], str]:
    monkeypatch.setattr(predict, "BundlePredictor", lambda *args, **kwargs: predictor)
    assert predict.main(["bundle", *texts]) == 0
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_binary_rows_show_the_threshold_that_overrides_the_higher_score(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    predictor = FixedScores(BIN, [0.3], 1.5, [[0.41, 0.59], [0.2, 0.8]])
    out, err = _main(monkeypatch, capsys, predictor, "first", "second")
    # The first row's label is "hs" although not_hs scores higher: the row says why.
    assert out[0]["label"] == "hs" and out[0]["scores"]["not_hs"] > out[0]["scores"]["hs"]
    assert out[0]["decision"] == "hs: score of hs 0.4100 >= threshold 0.3000"
    assert out[1]["label"] == "not_hs" and out[1]["decision"] == "not_hs: score of hs 0.2000 < threshold 0.3000"
    # The rule, once, on stderr (stdout stays one JSON line per row).
    rule = "decision rule: 'hs' when its score >= 0.3000 (tuned threshold), else 'not_hs'"
    assert err.count("decision rule:") == 1 and rule in err and "softmax(logits / temperature 1.5000)" in err


def test_multilabel_rows_compare_every_label_with_its_threshold() -> None:
    rule = DecisionRule(ML, [0.2, 0.5, 0.9], 1.0)
    assert rule.describe() == (
        "decision rule: every label whose score reaches its tuned threshold: x >= 0.2000, y >= 0.5000, "
        "z >= 0.9000; scores = sigmoid(logits / temperature 1.0000)"
    )
    predictor = FixedScores(ML, rule.thresholds, 1.0, [[0.3, 0.4, 0.95]])
    (out,) = records(predictor, text_rows(["t"]), RowPolicy(), rule=DecisionRule.of(predictor))
    assert out["labels"] == ["x", "z"]
    assert out["decision"] == "x 0.3000 >= 0.2000; y 0.4000 < 0.5000; z 0.9500 >= 0.9000"


def test_multiclass_is_argmax_and_untuned_binary_says_default() -> None:
    predictor = FixedScores(MC, None, 2.0, [[0.2, 0.5, 0.3]])
    rule = DecisionRule.of(predictor)
    assert rule is not None and "highest score (argmax over 3 labels)" in rule.describe()
    (out,) = records(predictor, text_rows(["t"]), RowPolicy(), rule=rule)
    assert out["label"] == "b" and out["decision"] == "b: highest score 0.5000"
    assert "0.5000 (default threshold)" in DecisionRule(BIN, None).describe()
    # A predictor that only implements predict() has no rule to show, and its rows stay as they were.
    assert DecisionRule.of(object()) is None
