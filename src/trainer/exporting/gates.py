"""The two export gates. A bundle that fails either is never moved into place nor registered.

1. Parity: the fp32 graph reproduces the PyTorch model's logits on a held-out batch (with padding),
   and the bundle's tokenizer reproduces the training tokenizer's ids.
2. Accuracy: the reduced-precision graph loses at most ``max_drop_overall`` points of the main metric
   against the fp32 graph, and at most ``max_drop_per_language`` for every language with at least
   ``min_language_rows`` rows. Metrics come from :func:`trainer.scoring.metrics.compute_metrics`, the code
   training reports with; the report lists every language, gated or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trainer.data.labels import LabelMap
from trainer.scoring.metrics import POINTS_TOLERANCE, compute_metrics
from trainer.serving.predictor import BundlePredictor


class GateError(RuntimeError):
    """A gate failed; ``report`` holds the measured values."""

    def __init__(self, gate: str, message: str, report: dict[str, Any]) -> None:
        super().__init__(f"{gate} gate failed: {message}")
        self.gate = gate
        self.report = report


@dataclass(frozen=True)
class GateSettings:
    """``gates.*`` in ``configs/export.yaml``."""

    parity_atol: float = 1e-4
    parity_rows: int = 32
    parity_split: str = "test"
    # The accuracy gate's split, or a file with the training data's columns (``eval_file``).
    split: str = "validation"
    eval_file: str | None = None
    max_drop_overall: float = 1.0
    max_drop_per_language: float = 2.0
    min_language_rows: int = 20
    # null: the run's main metric (module.main_metric).
    metric: str | None = None


def gate_settings_from_dict(values: dict[str, Any]) -> GateSettings:
    from trainer.data.spec import build_dataclass  # names unknown keys

    return build_dataclass(GateSettings, dict(values), "gates")


def check_parity(
    torch_model: torch.nn.Module,
    predictor: BundlePredictor,
    texts: Sequence[str],
    reference_ids: Sequence[Sequence[int]],
    atol: float,
) -> dict[str, Any]:
    """Compare logits of ``torch_model`` and the fp32 graph on ``texts`` (already normalised).

    Two batches: all rows padded together, and the first row alone (batch 1, no padding), so a
    graph that baked in a batch size or a padding path shows up. ``reference_ids`` are the training
    tokenizer's ids for the same texts: the bundle's tokenizer must produce exactly these, or
    serving would feed the graph other inputs than training did.
    """
    ids = predictor.encode(texts, normalize=False)
    mismatched = [i for i, (a, b) in enumerate(zip(ids, reference_ids, strict=True)) if list(a) != list(b)]
    torch_model.eval()
    max_diff, shapes, padded = 0.0, [], 0
    for batch in (ids, ids[:1]):
        feeds = predictor.feeds(batch)
        onnx_logits = predictor.session.run(["logits"], feeds)[0]
        with torch.inference_mode():
            torch_logits = torch_model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.float().numpy()
        diff = np.abs(onnx_logits.astype(np.float64) - torch_logits.astype(np.float64))
        max_diff = max(max_diff, float(diff.max()) if np.isfinite(diff).all() else float("inf"))
        shapes.append(list(feeds["input_ids"].shape))
        padded = max(padded, int((feeds["attention_mask"] == 0).any(axis=1).sum()))
    report = {
        "rows": len(texts),
        "shapes": shapes,
        "padded_rows": padded,
        "max_abs_diff": max_diff,
        "atol": atol,
        "tokenizer_mismatched_rows": mismatched[:20],
        "passed": max_diff <= atol and not mismatched,
    }
    _raise_on_parity_failure(report, mismatched)
    return report


def _raise_on_parity_failure(report: dict[str, Any], mismatched: list[int]) -> None:
    if mismatched:
        raise GateError(
            "parity",
            f"the bundle tokenizer gives different ids than training for "
            f"{len(mismatched)} of {report['rows']} rows (first: {mismatched[:5]})",
            report,
        )
    if not report["max_abs_diff"] <= report["atol"]:
        raise GateError(
            "parity",
            f"max |logits(onnx) - logits(torch)| = {report['max_abs_diff']:.3g} > "
            f"gates.parity_atol={report['atol']:g} on batches of shape {report['shapes']}",
            report,
        )


def evaluate(
    predictor: BundlePredictor,
    texts: Sequence[str],
    targets: torch.Tensor,
    langs: Sequence[str],
    label_map: LabelMap,
    thresholds: Sequence[float] | None,
    main_metric: str,
) -> dict[str, Any]:
    """Metrics of one graph on already-normalised texts, with the run's temperature and thresholds."""
    probs = torch.from_numpy(predictor.probabilities(texts, normalize=False))
    return compute_metrics(probs, targets, langs, label_map, thresholds, main_metric, min_language_rows=1)


def accuracy_report(
    reference: dict[str, Any], candidate: dict[str, Any], metric: str, settings: GateSettings
) -> dict[str, Any]:
    """Drops in points (100 x metric) of ``candidate`` against ``reference``, overall and per language."""

    def points(value: float | None) -> float | None:
        return None if value is None else 100.0 * value

    ref, cand = points(reference["overall"].get(metric)), points(candidate["overall"].get(metric))
    overall_drop = None if ref is None or cand is None else ref - cand
    overall_ok = overall_drop is not None and overall_drop <= settings.max_drop_overall + POINTS_TOLERANCE
    languages = {}
    for lang, values in reference["per_language"].items():
        r = points(values.get(metric))
        c = points(candidate["per_language"].get(lang, {}).get(metric))
        drop = None if r is None or c is None else r - c
        gated = values["n"] >= settings.min_language_rows and drop is not None
        passed = None if drop is None or not gated else drop <= settings.max_drop_per_language + POINTS_TOLERANCE
        languages[lang] = {"n": values["n"], "fp32": r, "quantized": c, "drop": drop, "gated": gated, "passed": passed}
    failing = sorted(lang for lang, v in languages.items() if v["passed"] is False)
    return {
        "metric": metric,
        "units": "points (100 x metric)",
        "overall": {"fp32": ref, "quantized": cand, "drop": overall_drop, "passed": overall_ok},
        "max_drop_overall": settings.max_drop_overall,
        "max_drop_per_language": settings.max_drop_per_language,
        "min_language_rows": settings.min_language_rows,
        "per_language": languages,
        "failing_languages": failing,
        "passed": overall_ok and not failing,
    }


def check_accuracy(report: dict[str, Any]) -> None:
    if report["passed"]:
        return
    parts = []
    o = report["overall"]
    if not o["passed"]:
        parts.append(
            f"overall {report['metric']} drop {_fmt(o['drop'])} points > "
            f"gates.max_drop_overall={report['max_drop_overall']:g} "
            f"(fp32 {_fmt(o['fp32'])}, quantised {_fmt(o['quantized'])})"
        )
    for lang in report["failing_languages"]:
        v = report["per_language"][lang]
        parts.append(
            f"{lang} (n={v['n']}) drop {_fmt(v['drop'])} > gates.max_drop_per_language="
            f"{report['max_drop_per_language']:g} (fp32 {_fmt(v['fp32'])}, quantised {_fmt(v['quantized'])})"
        )
    raise GateError("accuracy", "; ".join(parts), report)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def format_accuracy_table(report: dict[str, Any]) -> str:
    """Every language, gated or not: the table printed after export and put in the README."""
    lines = [
        f"| language | n | fp32 {report['metric']} | quantised | drop (points) | gated |",
        "|---|---|---|---|---|---|",
    ]
    o = report["overall"]
    lines.append(
        f"| **all** | | {_fmt(o['fp32'])} | {_fmt(o['quantized'])} | {_fmt(o['drop'])} | "
        f"{'pass' if o['passed'] else 'FAIL'} |"
    )
    for lang, v in report["per_language"].items():
        if v["gated"]:
            status = "pass" if v["passed"] else "FAIL"
        else:
            status = "no (too few rows)" if v["n"] < report["min_language_rows"] else "no (metric undefined)"
        lines.append(
            f"| {lang} | {v['n']} | {_fmt(v['fp32'])} | {_fmt(v['quantized'])} | {_fmt(v['drop'])} | {status} |"
        )
    return "\n".join(lines)
