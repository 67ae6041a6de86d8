"""The console summary a run ends with: the run folder, and the test main metric next to the majority and
TF-IDF baselines (the TF-IDF one when the run fitted it: ``classical=none`` turns it off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def print_summary(run_dir: Path, metrics: dict[str, Any], main: str) -> None:
    test, base = metrics["test"], metrics["baseline_test"]
    tfidf = metrics.get("baseline_tfidf_test")
    lines = [
        f"run folder: {run_dir}",
        f"test {main}: {test['overall'][main]:.4f} (majority baseline {base['overall'].get(main) or 0:.4f}"
        f"{_tfidf(tfidf, main, tfidf and tfidf['overall'])})",
    ]
    for lang, values in test["per_language"].items():
        lines.append(
            f"  {lang:>4} n={values['n']:<4} {main}={values.get(main) or 0:.4f} "
            f"(baseline {base['per_language'].get(lang) or 0:.4f}"
            f"{_tfidf(tfidf, main, tfidf and tfidf['per_language'].get(lang))})"
        )
    print("\n".join(lines), flush=True)


def _tfidf(baseline: dict[str, Any] | None, main: str, values: dict[str, Any] | None) -> str:
    """``, TF-IDF 0.9180``: the classical baseline's score on the same rows, when it has one."""
    if baseline is None or not values or values.get(main) is None:
        return ""
    return f", TF-IDF {values[main]:.4f}"
