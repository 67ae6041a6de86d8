"""Re-tune a finished run's decision thresholds on its validation predictions and re-score its test predictions.

    python scripts/retune_thresholds.py RUN_DIR [--objective macro_f1] [--json OUT.json]
    python scripts/retune_thresholds.py RUN_DIR --class-offsets     # multiclass: what per-class thresholds would give

Uses the run's own ``predictions/{validation,test}.csv`` and ``labels.json`` and the library's threshold
search and metric code (trainer.scoring.metrics), so no model is loaded. For runs trained before threshold tuning
followed ``module.main_metric`` (binary runs tuned the positive class's F1 whatever the main metric was).

``--class-offsets`` (multiclass runs, which decide by argmax) reports what thresholds per class would have given: one
offset per class added to the log scores, tuned on validation for the objective by coordinate ascent (a grid of
-3..3, four sweeps), the test split decided with them. A report only: the framework's decision rule stays argmax.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from trainer.data.labels import LabelMap
from trainer.scoring.metrics import MAIN_METRICS, compute_metrics, tune_thresholds
from trainer.scoring.predictions import read_predictions


def retune(run_dir: Path, objective: str) -> dict:
    label_map = LabelMap.load(run_dir / "labels.json")
    val = read_predictions(run_dir / "predictions/validation.csv", label_map)
    test = read_predictions(run_dir / "predictions/test.csv", label_map)
    thresholds = tune_thresholds(val.probs, val.targets, label_map, objective=objective)
    return {
        "run_dir": str(run_dir),
        "objective": objective,
        "thresholds": thresholds,
        "validation": compute_metrics(val.probs, val.targets, val.langs, label_map, thresholds, objective),
        "test": compute_metrics(test.probs, test.targets, test.langs, label_map, thresholds, objective),
    }


def _with_offsets(probs: torch.Tensor, offsets: list[float]) -> torch.Tensor:
    """Scores whose argmax is that of ``log(probs) + offsets`` (renormalised; only decisions are meaningful)."""
    return torch.softmax(torch.log(probs.clamp_min(1e-12)) + torch.tensor(offsets), dim=1)


def class_offsets(run_dir: Path, objective: str, sweeps: int = 4) -> dict:
    label_map = LabelMap.load(run_dir / "labels.json")
    if label_map.task != "multiclass":
        raise SystemExit(f"--class-offsets: {run_dir} is a {label_map.task} run (multiclass only)")
    val = read_predictions(run_dir / "predictions/validation.csv", label_map)
    test = read_predictions(run_dir / "predictions/test.csv", label_map)

    def score(offsets: list[float]) -> float:
        adjusted = _with_offsets(val.probs, offsets)
        return float(
            compute_metrics(adjusted, val.targets, val.langs, label_map, None, objective)["overall"][objective]
        )

    offsets = [0.0] * len(label_map.names)
    best = score(offsets)
    for _ in range(sweeps):
        for k in range(len(offsets)):
            for value in (round(-3 + 0.1 * i, 1) for i in range(61)):
                trial = offsets[:k] + [value] + offsets[k + 1 :]
                if (found := score(trial)) > best + 1e-9:
                    best, offsets = found, trial
    return {
        "run_dir": str(run_dir),
        "objective": objective,
        "offsets": dict(zip(label_map.names, offsets, strict=True)),
        "validation": {"argmax": score([0.0] * len(offsets)), "offsets": best},
        "test_argmax": compute_metrics(test.probs, test.targets, test.langs, label_map, None, objective),
        "test": compute_metrics(
            _with_offsets(test.probs, offsets), test.targets, test.langs, label_map, None, objective
        ),
    }


def _print_offsets(result: dict) -> None:
    objective = result["objective"]
    print(f"offsets {result['offsets']}  validation {objective} {result['validation']}")
    for name in ("test_argmax", "test"):
        overall = result[name]["overall"]
        per_class = {c: round(v["f1"], 3) for c, v in result[name]["per_class"].items()}
        print(f"  {name}: {objective}={overall[objective]:.4f}  per-class F1 {per_class}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--objective", default="macro_f1", choices=MAIN_METRICS)
    parser.add_argument("--json", type=Path, help="write the full result here")
    parser.add_argument("--class-offsets", action="store_true", help="multiclass: per-class offsets (report only)")
    args = parser.parse_args()
    if args.class_offsets:
        result = class_offsets(args.run_dir, args.objective)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
        _print_offsets(result)
        return
    result = retune(args.run_dir, args.objective)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    overall = result["test"]["overall"]
    print(
        f"thresholds {result['thresholds']}  test "
        + "  ".join(f"{k}={v:.4f}" for k, v in overall.items() if isinstance(v, float))
    )
    for lang, values in result["test"]["per_language"].items():
        print(
            f"  {lang} n={values['n']}  " + "  ".join(f"{k}={v:.4f}" for k, v in values.items() if isinstance(v, float))
        )


if __name__ == "__main__":
    main()
