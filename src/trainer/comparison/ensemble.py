"""A probability-average ensemble of finished runs, scored like a run: the usual remedy for seed variance
on small, imbalanced test sets (shared-task systems report seed ensembles), without retraining anything.

Members are run (or evaluation) folders on the *same* data: the same labels, the same validation and test
rows (by id, with the same gold labels) and, where recorded, the same split digests. Their saved calibrated
probabilities (``predictions/<split>.csv``) are averaged row by row; the decision thresholds are tuned again
on the averaged *validation* probabilities with the training code path
(:func:`trainer.scoring.metrics.tune_thresholds`), so no test row influences a decision. Test metrics,
and the paired bootstrap deltas against the best member (chosen on validation) and against the members'
TF-IDF baseline, come from the same rows the statistics resample (:mod:`trainer.comparison.stats`).
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from trainer.comparison.evidence import EvidenceError, RunEvidence, classical_evidence, evidence_from_folder
from trainer.comparison.stats import paired_bootstrap
from trainer.runs.folder import (
    CLASSICAL_BASELINE,
    CONFIG,
    DATA_DIGEST,
    LABELS,
    METRICS,
    PREDICTIONS,
    README,
    THRESHOLDS,
    RunFolder,
)
from trainer.scoring.metrics import compute_metrics, flatten_metrics, tune_thresholds
from trainer.scoring.predictions import write_predictions

SPLITS = ("validation", "test")


class EnsembleError(ValueError):
    """Members that cannot be averaged; the message names the folder and what differs."""


@dataclass(frozen=True)
class EnsembleStats:
    """The paired bootstrap behind the deltas (as ``trainer.compare``'s ``stats``)."""

    n_boot: int = 1000
    seed: int = 0
    confidence: float = 0.95


@dataclass
class Ensemble:
    """The members, the averaged evidence per split (thresholds tuned on validation) and the deltas."""

    members: list[Path]
    splits: dict[str, RunEvidence]
    member_scores: list[dict[str, Any]]
    comparisons: dict[str, dict[str, Any]]

    @property
    def main_metric(self) -> str:
        return self.splits["test"].main_metric

    @property
    def thresholds(self) -> list[float] | None:
        return self.splits["test"].thresholds


def read_member_splits(folders: list[Path], with_baseline_tfidf: bool = False) -> dict[str, list[RunEvidence]]:
    """Every member's validation and test evidence, checked to be averageable row by row.

    ``with_baseline_tfidf``: the first folder's TF-IDF baseline (``predictions/baseline_tfidf_<split>.csv``) is
    one more member, a hybrid of the models and the linear model.
    """
    if len(folders) < (1 if with_baseline_tfidf else 2):
        raise EnsembleError(f"runs={[str(f) for f in folders]}: an ensemble needs at least two run folders")
    seen = Counter(f.resolve() for f in folders)
    repeated = sorted({str(f) for f in folders if seen[f.resolve()] > 1})
    if repeated:
        raise EnsembleError(f"runs: {repeated} given more than once; each member counts once")
    out: dict[str, list[RunEvidence]] = {}
    for split in SPLITS:
        try:
            members = [evidence_from_folder(folder, split, name=str(folder)) for folder in folders]
            if with_baseline_tfidf:
                members.append(classical_evidence(folders[0], members[0]))
        except EvidenceError as err:
            raise EnsembleError(str(err)) from None
        for member in members[1:]:
            _check_same(members[0], member)
        out[split] = members
    return out


def _check_same(first: RunEvidence, other: RunEvidence) -> None:
    where = f"{other.name} (split {other.split}), against {first.name}"
    if (other.label_map.task, other.label_map.names) != (first.label_map.task, first.label_map.names):
        raise EnsembleError(
            f"{where}: labels differ ({other.label_map.task} {other.label_map.names} vs "
            f"{first.label_map.task} {first.label_map.names}); members must be trained on the same label map"
        )
    if other.ids != first.ids:
        missing = sorted(set(first.ids) - set(other.ids))[:3]
        extra = sorted(set(other.ids) - set(first.ids))[:3]
        raise EnsembleError(
            f"{where}: not the same rows ({len(other.ids)} vs {len(first.ids)}; ids only in the first e.g. "
            f"{missing}, only here e.g. {extra}); members must be scored on the same data"
        )
    if not torch.equal(other.targets, first.targets):
        row = int((other.targets != first.targets).reshape(len(first.ids), -1).any(1).nonzero()[0])
        raise EnsembleError(f"{where}: gold labels differ, first at id {first.ids[row]!r}")
    if first.split_digest and other.split_digest and first.split_digest != other.split_digest:
        raise EnsembleError(
            f"{where}: data_digest.json splits.{other.split} differs ({other.split_digest[:12]} vs "
            f"{first.split_digest[:12]}): the members read different versions of the data"
        )
    if other.main_metric != first.main_metric:
        raise EnsembleError(f"{where}: main metric {other.main_metric!r} vs {first.main_metric!r}")


def _mean_probs(members: list[RunEvidence]) -> torch.Tensor:
    return torch.stack([m.probs.float() for m in members]).mean(0)


def average(members: list[RunEvidence], thresholds: list[float] | None) -> RunEvidence:
    """The members' mean probabilities as one run's evidence, deciding with ``thresholds``."""
    first = members[0]
    probs = _mean_probs(members)
    metrics = compute_metrics(probs, first.targets, first.langs, first.label_map, thresholds, first.main_metric)
    return replace(
        first, run_id=None, name="ensemble", thresholds=thresholds, probs=probs, metrics=metrics, costs={}, tags={}
    )


def build_ensemble(folders: list[Path], stats: EnsembleStats, with_baseline_tfidf: bool = False) -> Ensemble:
    """Average the members, tune thresholds on validation, score test, and pair it with the references."""
    by_split = read_member_splits(folders, with_baseline_tfidf)
    val = by_split["validation"]
    thresholds = tune_thresholds(_mean_probs(val), val[0].targets, val[0].label_map, objective=val[0].main_metric)
    splits = {split: average(members, thresholds) for split, members in by_split.items()}
    main = splits["test"].main_metric
    scores = [
        {"run": val.name, "validation": val.metrics["overall"][main], "test": test.metrics["overall"][main]}
        for val, test in zip(by_split["validation"], by_split["test"], strict=True)
    ]
    # Chosen on validation, not test, among the trained members: the TF-IDF member's C was chosen on validation,
    # so its validation score is optimistic.
    models = range(len(scores) - 1 if with_baseline_tfidf else len(scores))
    best = max(models, key=lambda i: scores[i]["validation"])
    references = {"best_member": by_split["test"][best]}
    try:  # with_baseline_tfidf: it is the last member already
        tfidf = by_split["test"][-1] if with_baseline_tfidf else classical_evidence(folders[0], by_split["test"][0])
        references["baseline_tfidf"] = tfidf
    except EvidenceError:
        pass  # members trained with classical=none: no TF-IDF reference
    comparisons = {name: _paired(ref, splits["test"], stats) for name, ref in references.items()}
    return Ensemble(list(folders), splits, scores, comparisons)


def _paired(reference: RunEvidence, ensemble: RunEvidence, stats: EnsembleStats) -> dict[str, Any]:
    metrics = list(dict.fromkeys([ensemble.main_metric, "accuracy"]))
    deltas = paired_bootstrap(
        reference.decisions, ensemble.decisions, metrics, stats.n_boot, stats.seed, stats.confidence, group="overall"
    )
    return {
        "reference": reference.name,
        "confidence": stats.confidence,
        "n_boot": stats.n_boot,
        **{
            m: {"reference": d.a, "ensemble": d.b, "delta": d.delta, "low": d.low, "high": d.high, "p_value": d.p_value}
            for m, d in deltas.items()
        },
    }


# -- the ensemble folder -----------------------------------------------------------------------------------
ENSEMBLE_FILES = {
    README: "this description",
    CONFIG: "the member run folders, whether their TF-IDF baseline is a member, the bootstrap settings",
    LABELS: "label map (the members')",
    THRESHOLDS: "decision thresholds tuned on the averaged validation probabilities (null for multiclass)",
    METRICS: "validation and test metrics of the average, each member's main metric, the paired deltas against "
    "the best member (by validation) and the TF-IDF baseline, the members' majority and TF-IDF baselines",
    DATA_DIGEST: "the first member's (every member's split digests agree)",
    f"{PREDICTIONS}/": f"validation.csv and test.csv of the average; {CLASSICAL_BASELINE}_<split>.csv copied from "
    "the first member, so the TF-IDF reference reads this folder like a run",
}
# Copied from the first member's metrics.json: same rows and training data, so the same baselines.
BASELINE_KEYS = ("baseline_test", f"{CLASSICAL_BASELINE}_val", f"{CLASSICAL_BASELINE}_test")


def ensemble_metrics(ensemble: Ensemble) -> dict[str, Any]:
    """``metrics.json`` of the ensemble folder."""
    first = RunFolder(ensemble.members[0]).metrics() or {}
    return {
        "main_metric": ensemble.main_metric,
        "validation": ensemble.splits["validation"].metrics,
        "test": ensemble.splits["test"].metrics,
        **{key: first[key] for key in BASELINE_KEYS if key in first},
        "members": ensemble.member_scores,
        "comparisons": ensemble.comparisons,
    }


def write_ensemble_folder(out_dir: Path, ensemble: Ensemble, config: dict[str, Any]) -> RunFolder:
    folder = RunFolder(out_dir).create()
    test = ensemble.splits["test"]
    folder.write_config(config)
    folder.write_labels(test.label_map)
    folder.write_thresholds(test.label_map, ensemble.thresholds, tuned_on="validation (averaged probabilities)")
    for split, ev in ensemble.splits.items():
        write_predictions(
            folder.predictions_file(split), ev.ids, ev.langs, ev.targets, ev.probs, ev.label_map, ev.thresholds
        )
    first = RunFolder(ensemble.members[0])
    for split in SPLITS:
        if first.baseline_predictions_file(split).is_file():
            shutil.copy2(first.baseline_predictions_file(split), folder.baseline_predictions_file(split))
    digest = first.data_digest()
    if digest is not None:
        folder.write_data_digest(digest)
    folder.write_metrics(ensemble_metrics(ensemble))
    main = ensemble.main_metric
    summary = {
        "members": ", ".join(f"`{m}`" for m in ensemble.members),
        f"test {main}": f"{test.metrics['overall'][main]:.4f}",
        **{f"against {name}": _delta_line(c, main) for name, c in ensemble.comparisons.items()},
    }
    folder.write_readme(summary, ENSEMBLE_FILES, by="trainer.ensemble", title=f"Ensemble {folder.name}")
    return folder


def _delta_line(comparison: dict[str, Any], metric: str) -> str:
    d = comparison[metric]
    pct = round(100 * comparison["confidence"])
    return (
        f"{metric} {d['reference']:.4f} -> {d['ensemble']:.4f}, delta {d['delta']:+.4f} "
        f"[{d['low']:+.4f}, {d['high']:+.4f}] ({pct}% paired bootstrap, p={d['p_value']:.3f}; {comparison['reference']})"
    )


def ensemble_tags(ensemble: Ensemble) -> dict[str, str]:
    """MLflow tags of the ensemble run: what it is made of."""
    test = ensemble.splits["test"]
    return {
        "entry_point": "trainer.ensemble",
        "task": test.label_map.task,
        "ensemble_members": ",".join(s["run"] for s in ensemble.member_scores),
        "ensemble_size": str(len(ensemble.member_scores)),
    }


def ensemble_scalars(ensemble: Ensemble) -> dict[str, float]:
    """MLflow metrics: ``test/...`` and ``val/...`` as training logs them, and each paired delta."""
    out = {**flatten_metrics("test", ensemble.splits["test"].metrics)}
    out.update(flatten_metrics("val", ensemble.splits["validation"].metrics))
    for name, comparison in ensemble.comparisons.items():
        for metric in (ensemble.main_metric, "accuracy"):
            if metric in comparison:
                out.update({f"vs_{name}/{metric}_{k}": comparison[metric][k] for k in ("delta", "low", "high")})
    return out


def summary_lines(ensemble: Ensemble) -> list[str]:
    """What the entry point prints: each member, the average, the deltas."""
    main = ensemble.main_metric
    lines = [
        f"member {s['run']}: validation {main} {s['validation']:.4f}, test {s['test']:.4f}"
        for s in ensemble.member_scores
    ]
    val, test = (ensemble.splits[s].metrics["overall"][main] for s in SPLITS)
    lines.append(f"ensemble of {len(ensemble.member_scores)}: validation {main} {val:.4f}, test {test:.4f}")
    lines += [f"against {name}: {_delta_line(c, main)}" for name, c in ensemble.comparisons.items()]
    return lines
