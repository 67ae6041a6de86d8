"""The export accuracy gate (trainer.exporting.gates) on hand-made inputs: limits overall and per language.

Expected values are worked out from the rules in the comments, never copied from a run.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import PROJECT_ROOT
from trainer.data.labels import LabelMap
from trainer.exporting.gates import (
    GateError,
    GateSettings,
    accuracy_report,
    check_accuracy,
    format_accuracy_table,
    gate_settings_from_dict,
)
from trainer.scoring.metrics import compute_metrics

LABELS = LabelMap("multiclass", ("none", "propaganda", "incitement"))
METRIC = "macro_f1"


# --- export accuracy gate ---------------------------------------------------------------------------


def gate_metrics(overall: float, languages: dict[str, tuple[int, float | None]]) -> dict[str, Any]:
    """The shape :func:`trainer.scoring.metrics.compute_metrics` returns, with only ``METRIC`` filled in."""
    return {
        "n": sum(n for n, _ in languages.values()),
        "main_metric": METRIC,
        "overall": {METRIC: overall},
        "per_class": {},
        "per_language": {lang: {"n": n, METRIC: value} for lang, (n, value) in languages.items()},
        "thresholds": None,
    }


def gate(fp32: dict[str, Any], int8: dict[str, Any], settings: GateSettings | None = None) -> dict[str, Any]:
    """What export does: build the report, then raise GateError when it failed."""
    report = accuracy_report(fp32, int8, METRIC, settings or GateSettings())
    check_accuracy(report)
    return report


def test_gate_defaults_are_the_issue_thresholds_and_the_shipped_config_keeps_them() -> None:
    defaults = GateSettings()
    assert (defaults.max_drop_overall, defaults.max_drop_per_language) == (1.0, 2.0)
    shipped = gate_settings_from_dict(
        OmegaConf.to_container(OmegaConf.load(PROJECT_ROOT / "configs/export.yaml").gates)
    )
    assert shipped == defaults


def test_gate_passes_drops_within_both_limits() -> None:
    # Overall 80.0 -> 79.5 (0.5 point); en 1.0 and th 1.5 points, both gated (>= 20 rows) and <= 2.
    fp32 = gate_metrics(0.80, {"en": (100, 0.82), "th": (40, 0.70)})
    int8 = gate_metrics(0.795, {"en": (100, 0.81), "th": (40, 0.685)})
    report = gate(fp32, int8)
    assert report["passed"] is True and report["failing_languages"] == []
    assert report["overall"]["drop"] == pytest.approx(0.5)
    assert report["per_language"]["en"]["drop"] == pytest.approx(1.0)
    assert report["per_language"]["th"]["drop"] == pytest.approx(1.5)
    assert report["per_language"]["th"]["gated"] and report["per_language"]["th"]["passed"]


def test_gate_passes_a_drop_exactly_at_each_limit() -> None:
    """The docstring says "at most": a drop equal to the limit passes. A language with exactly
    ``min_language_rows`` rows is gated."""
    # 75 - 74 and 75 - 73 are exact in binary floating point, so the boundary itself is what is tested.
    assert 100 * 0.75 - 100 * 0.74 == 1.0 and 100 * 0.75 - 100 * 0.73 == 2.0
    settings = GateSettings()
    fp32 = gate_metrics(0.75, {"th": (settings.min_language_rows, 0.75)})
    int8 = gate_metrics(0.74, {"th": (settings.min_language_rows, 0.73)})
    report = gate(fp32, int8, settings)
    assert report["overall"]["passed"] is True
    assert report["per_language"]["th"] == {
        "n": settings.min_language_rows,
        "fp32": 75.0,
        "quantized": 73.0,
        "drop": 2.0,
        "gated": True,
        "passed": True,
    }


@pytest.mark.parametrize(
    ("int8_overall", "int8_th", "expected"),
    [
        (0.7399, 0.75, r"overall macro_f1 drop 1\.01 points > gates\.max_drop_overall=1 "),
        (0.75, 0.7299, r"th \(n=20\) drop 2\.01 > gates\.max_drop_per_language=2 "),
    ],
    ids=["overall", "language"],
)
def test_gate_fails_a_hair_over_each_limit(int8_overall: float, int8_th: float, expected: str) -> None:
    fp32 = gate_metrics(0.75, {"th": (20, 0.75)})
    with pytest.raises(GateError, match=expected):
        gate(fp32, gate_metrics(int8_overall, {"th": (20, int8_th)}))


def test_gate_fails_one_large_language_over_its_limit_and_names_only_it() -> None:
    # Overall 0.5 point (passes); en 0.5, vi 1.0 (pass); th 2.5 > 2.0 with 40 >= 20 rows: fails.
    fp32 = gate_metrics(0.80, {"en": (100, 0.82), "th": (40, 0.70), "vi": (30, 0.60)})
    int8 = gate_metrics(0.795, {"en": (100, 0.815), "th": (40, 0.675), "vi": (30, 0.59)})
    with pytest.raises(GateError) as caught:
        gate(fp32, int8)
    err = caught.value
    assert err.gate == "accuracy"
    assert "th (n=40) drop 2.50 > gates.max_drop_per_language=2" in str(err)
    assert "en (n=" not in str(err) and "vi (n=" not in str(err) and "overall" not in str(err)
    assert err.report["overall"]["passed"] is True
    assert err.report["failing_languages"] == ["th"]
    assert err.report["passed"] is False


def test_gate_fails_an_overall_drop_over_its_limit_even_when_every_language_is_within_its_own() -> None:
    # Each language loses 1.5 points (<= 2.0), so overall loses 1.5 (> 1.0).
    fp32 = gate_metrics(0.80, {"en": (100, 0.80), "th": (100, 0.80)})
    int8 = gate_metrics(0.785, {"en": (100, 0.785), "th": (100, 0.785)})
    with pytest.raises(GateError, match=r"overall macro_f1 drop 1\.50 points > gates\.max_drop_overall=1") as caught:
        gate(fp32, int8)
    assert caught.value.report["failing_languages"] == []


@pytest.mark.parametrize("below", [True, False], ids=["below_min_rows", "at_min_rows"])
def test_gate_reports_but_does_not_gate_a_language_with_too_few_rows(below: bool) -> None:
    settings = GateSettings()
    n = settings.min_language_rows - 1 if below else settings.min_language_rows
    # lo loses 50 points; overall only 0.5.
    fp32 = gate_metrics(0.80, {"en": (200, 0.80), "lo": (n, 0.90)})
    int8 = gate_metrics(0.795, {"en": (200, 0.80), "lo": (n, 0.40)})
    report = accuracy_report(fp32, int8, METRIC, settings)
    lo = report["per_language"]["lo"]
    assert lo["drop"] == pytest.approx(50.0)
    table = format_accuracy_table(report)
    if below:
        check_accuracy(report)  # does not raise
        assert lo["gated"] is False and lo["passed"] is None and report["passed"] is True
        assert f"| lo | {n} | 90.00 | 40.00 | 50.00 | no (too few rows) |" in table
    else:
        with pytest.raises(GateError, match=rf"lo \(n={n}\) drop 50\.00"):
            check_accuracy(report)
        assert f"| lo | {n} | 90.00 | 40.00 | 50.00 | FAIL |" in table


def test_gate_report_and_table_list_every_language() -> None:
    languages = {"en": (300, 0.80), "id": (60, 0.75), "th": (25, 0.70), "lo": (5, 0.90), "km": (1, 1.0)}
    int8 = {"en": (300, 0.80), "id": (60, 0.70), "th": (25, 0.69), "lo": (5, 0.20), "km": (1, 0.0)}
    report = accuracy_report(gate_metrics(0.80, languages), gate_metrics(0.795, int8), METRIC, GateSettings())
    assert list(report["per_language"]) == list(languages)
    assert report["failing_languages"] == ["id"]  # 5 points over 60 rows; lo and km are too small to gate
    rows = format_accuracy_table(report).splitlines()
    assert [r.split(" | ")[0].removeprefix("| ") for r in rows[3:]] == list(languages)
    assert rows[2].startswith("| **all** |")


def test_gate_table_tells_an_undefined_metric_from_too_few_rows() -> None:
    # "my" has rows enough to gate, but its metric is undefined (None: e.g. AUROC with one class present).
    fp32 = gate_metrics(0.80, {"en": (200, 0.80), "my": (50, None), "lo": (5, 0.9)})
    int8 = gate_metrics(0.80, {"en": (200, 0.80), "my": (50, None), "lo": (5, 0.9)})
    report = accuracy_report(fp32, int8, METRIC, GateSettings())
    table = format_accuracy_table(report)
    assert report["per_language"]["my"]["gated"] is False and report["passed"] is True
    assert "| my | 50 | n/a | n/a | n/a | no (metric undefined) |" in table
    assert "| lo | 5 |" in table and "no (too few rows) |" in table.split("| lo | 5 |")[1].splitlines()[0]


def _predictions(right: list[bool]) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot probabilities that are right exactly where ``right`` says, and their gold labels."""
    targets = torch.arange(len(right)) % LABELS.num_labels
    preds = torch.where(torch.tensor(right), targets, (targets + 1) % LABELS.num_labels)
    return torch.nn.functional.one_hot(preds, LABELS.num_labels).float(), targets


def _metrics_of(right: list[bool], langs: list[str]) -> dict[str, Any]:
    probs, targets = _predictions(right)
    return compute_metrics(probs, targets, langs, LABELS, None, "accuracy", min_language_rows=1)


@pytest.mark.parametrize(("wrong_row", "fails"), [(0, False), (199, True)], ids=["en_row", "th_row"])
def test_gate_on_compute_metrics_output(wrong_row: int, fails: bool) -> None:
    """The real shape: 160 en and 40 th rows; fp32 right everywhere, int8 wrong on one row.
    Overall that is 100/200 = 0.5 point; on en 100/160 = 0.625 (passes), on th 100/40 = 2.5 (fails)."""
    langs = ["en"] * 160 + ["th"] * 40
    fp32 = _metrics_of([True] * 200, langs)
    int8 = _metrics_of([i != wrong_row for i in range(200)], langs)
    report = accuracy_report(fp32, int8, "accuracy", GateSettings())
    assert report["overall"]["drop"] == pytest.approx(0.5, abs=1e-4)
    assert report["failing_languages"] == (["th"] if fails else [])
    if fails:
        with pytest.raises(GateError, match=r"th \(n=40\) drop 2\.50"):
            check_accuracy(report)
    else:
        check_accuracy(report)


def test_gate_passes_an_exact_one_point_drop_on_100_rows() -> None:
    # 85 of 100 right in fp32, 84 of 100 in int8: exactly 1 point, which "at most 1.0" allows.
    langs = ["en"] * 100
    fp32 = _metrics_of([i < 85 for i in range(100)], langs)
    int8 = _metrics_of([i < 84 for i in range(100)], langs)
    check_accuracy(accuracy_report(fp32, int8, "accuracy", GateSettings(min_language_rows=1000)))
