"""Re-tune a finished run's decision thresholds on its validation predictions and re-score its test predictions.

    python scripts/retune_thresholds.py RUN_DIR [--objective macro_f1] [--json OUT.json]

Uses the run's own ``predictions/{validation,test}.csv`` and ``labels.json`` and the library's threshold
search and metric code (trainer.scoring.metrics), so no model is loaded. For runs trained before threshold tuning
followed ``module.main_metric`` (binary runs tuned the positive class's F1 whatever the main metric was).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--objective", default="macro_f1", choices=MAIN_METRICS)
    parser.add_argument("--json", type=Path, help="write the full result here")
    args = parser.parse_args()
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
