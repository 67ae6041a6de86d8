"""The console summary a run ends with: the run folder, and the test main metric next to the majority baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def print_summary(run_dir: Path, metrics: dict[str, Any], main: str) -> None:
    test, base = metrics["test"], metrics["baseline_test"]
    lines = [
        f"run folder: {run_dir}",
        f"test {main}: {test['overall'][main]:.4f} (majority baseline {base['overall'].get(main) or 0:.4f})",
    ]
    for lang, values in test["per_language"].items():
        lines.append(
            f"  {lang:>4} n={values['n']:<4} {main}={values.get(main) or 0:.4f} "
            f"(baseline {base['per_language'].get(lang) or 0:.4f})"
        )
    print("\n".join(lines), flush=True)
