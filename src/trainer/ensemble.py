"""Average finished runs into one scored ensemble: ``python -m trainer.ensemble 'runs=[<run>,<run>,...]'``.

Reads top to bottom: the members' saved validation and test predictions (checked to be the same rows,
labels and data) → mean probabilities → thresholds tuned on validation → test metrics → paired deltas
against the best member (by validation) and the TF-IDF baseline → the ensemble folder → summary. Nothing is
retrained or re-scored; the steps live in :mod:`trainer.comparison.ensemble`. ``main`` only wires Hydra to
:func:`run_ensemble`.

The folder has a run folder's evidence files (labels, thresholds, data digest, metrics, predictions), so
comparisons read it like a run; it has no ``model/``: serving an ensemble means serving every member.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from trainer.comparison.ensemble import Ensemble, EnsembleStats, build_ensemble, summary_lines, write_ensemble_folder
from trainer.config import to_container
from trainer.data.spec import build_dataclass

__all__ = ["EnsembleStats", "main", "run_ensemble"]


def run_ensemble(
    runs: list[Path], stats: EnsembleStats, out_dir: Path, config: dict[str, Any], with_baseline_tfidf: bool = False
) -> Ensemble:
    """Build the ensemble of ``runs`` (plus the first run's TF-IDF baseline when asked), write it to ``out_dir``
    and print its summary."""
    ensemble = build_ensemble(runs, stats, with_baseline_tfidf)
    write_ensemble_folder(out_dir, ensemble, config)
    for line in summary_lines(ensemble):
        print(line, flush=True)
    print(f"ensemble folder: {out_dir}", flush=True)
    return ensemble


@hydra.main(config_path="../../configs", config_name="ensemble", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    c = to_container(cfg)
    runs = [Path(r) for r in (c["runs"] or [])]
    out_dir = Path(c["out_dir"]) if c["out_dir"] else Path(HydraConfig.get().runtime.output_dir)
    stats = build_dataclass(EnsembleStats, dict(c["stats"]), "stats")
    run_ensemble(runs, stats, out_dir, c, bool(c["with_baseline_tfidf"]))


if __name__ == "__main__":
    main()
