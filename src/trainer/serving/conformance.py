"""Check a bundle against its conformance vectors with the Python predictor (torch-free).

``conformance.json`` (written at export by :mod:`trainer.exporting.conformance`) holds raw texts and
what every stage must give: normalised text, token ids, and per graph the logits, scores and decision,
each with its tolerance. :func:`check_conformance` replays every vector through
:class:`~trainer.serving.predictor.BundlePredictor` stage by stage, so a failure names the vector and
the first stage that differs (a tokenizer that changed shows as ``token_ids``, not as a wrong label).
``trainer.pull`` and the predictor call it; any other runtime implements the same checks (the Node.js
client in ``clients/node`` does).

A decision may differ from the vector's only where the vector says it is within the score tolerance
of the boundary (``margin`` <= ``atol_scores``): there two correct runtimes can disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data.normalize import normalize_text
from trainer.serving.bundle import CONFORMANCE, Bundle, BundleError
from trainer.serving.precisions import PRECISIONS, Precision
from trainer.serving.predictor import BundlePredictor, decide, scores_from_logits

CONFORMANCE_FORMAT = "seaguard-conformance/1"
STAGES = ("normalized", "token_ids", "logits", "scores", "decision")


class ConformanceError(BundleError):
    """A bundle does not reproduce its vectors; ``failures`` lists (vector, precision, stage, detail)."""

    def __init__(self, message: str, failures: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.failures = failures


def decision_of(probs: np.ndarray, predictor: BundlePredictor) -> dict[str, Any]:
    """The decision of one row of scores, as the predictor reports it (``label`` or ``labels``)."""
    row = decide(probs[None, :], predictor.label_map, predictor.thresholds)[0]
    names = predictor.label_map.names
    if predictor.label_map.task == "multilabel":
        return {"labels": [n for n, on in zip(names, row, strict=True) if on]}
    return {"label": names[int(row)]}


def margin(probs: np.ndarray, predictor: BundlePredictor) -> float:
    """How far one row of scores is from changing its decision (threshold or runner-up distance)."""
    task, thresholds = predictor.label_map.task, predictor.thresholds
    if task == "multilabel":
        per_label = np.asarray(thresholds if thresholds is not None else [0.5] * len(probs), dtype=np.float32)
        return float(np.min(np.abs(probs - per_label)))
    if task == "binary":
        pos = predictor.label_map.positive_index or 0
        return float(abs(probs[pos] - np.float32(thresholds[0] if thresholds is not None else 0.5)))
    top = np.sort(probs)[::-1]
    return float(top[0] - top[1]) if len(top) > 1 else float("inf")


def _graph_stages(vector: dict[str, Any], want: dict[str, Any], p: BundlePredictor, tol: dict[str, Any]) -> list:
    """(stage, detail) of the first graph stage that differs, from the vector's own token ids."""
    logits = p.session.run(["logits"], p.feeds([vector["token_ids"]]))[0][0]
    diff = float(np.max(np.abs(logits - np.asarray(want["logits"], dtype=np.float32))))
    if diff > tol["atol_logits"]:
        return [("logits", f"max |diff| {diff:.2e} > atol {tol['atol_logits']:g}")]
    probs = scores_from_logits(logits[None, :], p.label_map.task, p.temperature)[0]
    diff = float(np.max(np.abs(probs - np.asarray(want["scores"], dtype=np.float32))))
    if diff > tol["atol_scores"]:
        return [("scores", f"max |diff| {diff:.2e} > atol {tol['atol_scores']:g}")]
    got = decision_of(probs, p)
    if got != want["decision"] and float(want["margin"]) > tol["atol_scores"]:
        return [("decision", f"{got}, expected {want['decision']} (margin {want['margin']:.2e})")]
    return []


def check_vector(vector: dict[str, Any], precision: str, p: BundlePredictor, tol: dict[str, Any]) -> list:
    """The failures of one vector on one graph: a list of (stage, detail), at most one."""
    normalized = normalize_text(vector["raw"], p.normalizer)
    if normalized != vector["normalized"]:
        return [("normalized", f"{normalized[:60]!r}, expected {vector['normalized'][:60]!r}")]
    ids = p.encode([normalized], normalize=False)[0]
    if list(ids) != list(vector["token_ids"]):
        return [("token_ids", f"{list(ids)[:12]}..., expected {list(vector['token_ids'])[:12]}...")]
    return _graph_stages(vector, vector["outputs"][precision], p, tol)


def _precisions(bundle: Bundle, vectors: dict[str, Any], precision: str | Precision | None) -> list[Precision]:
    shipped = [PRECISIONS[name] for name in vectors["graphs"] if name in PRECISIONS]
    if precision is None:  # every graph the folder holds (a --precision pull holds one)
        present = [p for p in shipped if bundle.graph(p).is_file()]
        if not present:
            raise BundleError(f"{bundle.path}: none of the graphs {[p.graph for p in shipped]} of {CONFORMANCE}")
        return present
    wanted = precision if isinstance(precision, Precision) else PRECISIONS.get(precision)
    if wanted is None or wanted not in shipped:
        raise BundleError(
            f"{bundle.path / CONFORMANCE}: no vectors for precision {precision!r}; it has {list(vectors['graphs'])}"
        )
    return [wanted]


def check_conformance(
    bundle_dir: str | Path,
    precision: str | Precision | None = None,
    predictors: dict[str, BundlePredictor] | None = None,
) -> dict[str, Any]:
    """Replay every conformance vector of ``bundle_dir`` on each graph it holds (or on ``precision``).

    ``predictors``: already-built predictors by precision name (the predictor passes itself). Returns a
    report (vectors, graphs, worst differences); raises :class:`ConformanceError` naming each vector,
    graph and stage that differs, or :class:`BundleError` when the file is missing or of another format.
    """
    bundle = Bundle(Path(bundle_dir))
    vectors = bundle.conformance()
    if vectors.get("format") != CONFORMANCE_FORMAT:
        raise BundleError(
            f"{bundle.path / CONFORMANCE}: format {vectors.get('format')!r}, expected {CONFORMANCE_FORMAT!r}"
        )
    failures: list[dict[str, Any]] = []
    checked = []
    for prec in _precisions(bundle, vectors, precision):
        p = (predictors or {}).get(prec.name) or BundlePredictor(bundle.path, prec.name, threads=1)
        tol = vectors["graphs"][prec.name]
        for vector in vectors["vectors"]:
            for stage, detail in check_vector(vector, prec.name, p, tol):
                failures.append({"vector": vector["name"], "precision": prec.name, "stage": stage, "detail": detail})
        checked.append(prec.name)
    if failures:
        raise ConformanceError(_message(bundle.path, failures), failures)
    return {"vectors": len(vectors["vectors"]), "graphs": checked, "stages": list(STAGES)}


def load_checked(bundle_dir: str | Path, model: str = "auto", **options: Any) -> BundlePredictor:
    """A :class:`BundlePredictor` whose files verified against the manifest and whose graph reproduces the
    bundle's conformance vectors (when it has them): how ``trainer.predict --verify`` and evaluation load it.

    The check lives here, not in the predictor's constructor, because this module replays vectors through
    the predictor (the import would be a cycle).
    """
    predictor = BundlePredictor(bundle_dir, model, verify=True, **options)
    if (predictor.bundle / CONFORMANCE).is_file():
        name = next(p.name for p in PRECISIONS.values() if p.graph == predictor.model_path.name)
        check_conformance(predictor.bundle, name, predictors={name: predictor})
    return predictor


def _message(path: Path, failures: Sequence[dict[str, Any]]) -> str:
    shown = "; ".join(
        f"vector {f['vector']!r} ({f['precision']}): {f['stage']} differs: {f['detail']}" for f in failures[:8]
    )
    more = f" (+{len(failures) - 8} more)" if len(failures) > 8 else ""
    return f"bundle {path} does not reproduce {CONFORMANCE}: {shown}{more}"
