"""Compare and promote as MLflow sees them: which runs to compare, their evidence files, the registered
versions a promotion is between, the alias move, and the report's own run.

The statistics and rules (:mod:`trainer.comparison`) never touch MLflow; they get plain files and
version objects from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from trainer.data.spec import ConfigError
from trainer.runs.folder import MODEL_MB_METRIC
from trainer.tracking.connection import MlflowSettings, check_reachable, experiment_id
from trainer.tracking.registry import RegistryError, model_version, parse_model_uri, version_for_run

# Runs logged by hand may carry the transformers folder as an artifact (the tracker logs the weights
# only inside the pyfunc model, and their size as the MODEL_MB_METRIC metric).
MODEL_HF_ARTIFACT = "model_hf"


def open_client(uri: str) -> MlflowClient:
    """A client for ``tracking.uri`` (the process-wide URI stays as it was)."""
    return MlflowClient(uri)


# -- selecting runs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """``select.*``: runs matching all given criteria (experiments by name; no experiment: all)."""

    experiments: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    filter: str | None = None
    max_runs: int = 20


def _experiment_ids(client: Any, names: list[str]) -> list[str]:
    if not names:
        return [e.experiment_id for e in client.search_experiments()]
    ids = []
    for name in names:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise ConfigError(f"select.experiments: no experiment named {name!r}")
        ids.append(exp.experiment_id)
    return ids


def select_runs(client: Any, selection: Selection) -> list[Any]:
    """MLflow runs matching ``selection``, oldest first."""
    experiments = _experiment_ids(client, selection.experiments)
    clauses = [f"tags.`{k}` = '{v}'" for k, v in selection.tags.items()]
    if selection.run_ids:
        clauses.append("attributes.run_id IN (" + ", ".join(f"'{r}'" for r in selection.run_ids) + ")")
    if selection.filter:
        clauses.append(selection.filter)
    if not clauses and not selection.experiments:
        raise ConfigError("select: give experiments, run_ids, tags or a filter (refusing to compare every run)")
    runs = client.search_runs(
        experiments,
        filter_string=" and ".join(clauses),
        max_results=selection.max_runs,
        order_by=["attributes.start_time ASC"],
    )
    missing = set(selection.run_ids) - {r.info.run_id for r in runs}
    if missing:
        raise ConfigError(f"select.run_ids: {sorted(missing)} not found (or excluded by the other criteria)")
    return list(runs)


def select_with_baseline(
    client: Any, selection: Selection, baseline: str | None, min_runs: int = 2
) -> tuple[str, dict[str, str]]:
    """The baseline's run id (``baseline``, else the oldest selected run) and every run to compare,
    ``{run id: name}``, the baseline first when it was not among the selected. ``min_runs=1`` when the
    reference is not a selected run (the TF-IDF baseline saved with one)."""
    runs = select_runs(client, selection)
    if len(runs) < min_runs:
        raise ConfigError(f"select matched {len(runs)} run(s); a comparison needs at least {min_runs}")
    base_id = baseline or runs[0].info.run_id
    if base_id not in {r.info.run_id for r in runs}:
        runs.insert(0, client.get_run(base_id))
    return base_id, {r.info.run_id: r.info.run_name or r.info.run_id for r in runs}


# -- a run's files ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DownloadedRun:
    """What :func:`download_run_files` fetched, and what the run says about itself."""

    run_id: str
    name: str
    tags: dict[str, str]
    model_bytes: float | None  # the best model's weights, when the run records them
    downloaded: list[str]
    failed: dict[str, str]  # artifact path -> why its download failed


def _artifact_paths(client: Any, run_id: str, folder: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, folder)}


def _model_bytes(client: Any, run: Any, present: set[str]) -> float | None:
    if run.data.metrics.get(MODEL_MB_METRIC):
        return 1e6 * float(run.data.metrics[MODEL_MB_METRIC])
    if MODEL_HF_ARTIFACT in present:
        weights = client.list_artifacts(run.info.run_id, MODEL_HF_ARTIFACT)
        return float(sum(a.file_size or 0 for a in weights if a.path.endswith(".safetensors"))) or None
    return None


def download_run_files(client: Any, run_id: str, paths: Sequence[str], dest: Path, tracking_uri: str) -> DownloadedRun:
    """Download those of ``paths`` (artifact paths such as ``labels.json``, ``predictions/test.csv``) that
    the run holds into ``dest``, keeping their folders; absent ones are skipped, failed ones listed."""
    run = client.get_run(run_id)
    present = _artifact_paths(client, run_id)
    folders = {str(PurePosixPath(p).parent) for p in paths} - {"."}
    for folder in sorted(folders & present):
        present |= _artifact_paths(client, run_id, folder)
    dest.mkdir(parents=True, exist_ok=True)
    downloaded, failed = [], {}
    for path in (p for p in paths if p in present):
        # A single file lands directly in dst_path: keep its folder (predictions/, export/) ourselves.
        target = dest / PurePosixPath(path).parent
        target.mkdir(parents=True, exist_ok=True)
        try:
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=str(target), tracking_uri=tracking_uri
            )
            downloaded.append(path)
        except Exception as err:  # noqa: BLE001 - the caller decides which files it cannot do without
            failed[path] = str(err)
    return DownloadedRun(
        run_id, run.info.run_name or run_id, dict(run.data.tags), _model_bytes(client, run, present), downloaded, failed
    )


# -- promotion ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionPair:
    """A promotion's two registered versions: the candidate and the one holding the alias (if any)."""

    name: str
    alias: str
    candidate: Any
    champion: Any | None


def find_versions(client: Any, candidate: str, against: str) -> VersionPair:
    """``candidate`` (a version URI or a run id) and the version ``against`` (``models:/name@alias``) names."""
    name, alias, _ = parse_model_uri(against)
    if alias is None:
        raise ConfigError(f"against={against}: name the alias to move, e.g. models:/{name}@champion")
    cand = (
        model_version(client, candidate)
        if candidate.startswith("models:/")
        else version_for_run(client, name, candidate)
    )
    if cand.name != name:
        raise ConfigError(
            f"candidate={candidate} is a version of {cand.name!r}, against={against} of {name!r}: "
            f"aliases live within one registered model"
        )
    try:
        champ = model_version(client, against)
    except RegistryError:
        champ = None
    if champ is not None and champ.version == cand.version:
        raise ConfigError(f"candidate={candidate} is already {against} (version {cand.version})")
    return VersionPair(name, alias, cand, champ)


def move_alias(client: Any, versions: VersionPair) -> None:
    """Point the alias at the candidate; the replaced champion says by which version."""
    client.set_registered_model_alias(versions.name, versions.alias, versions.candidate.version)
    if versions.champion is not None:
        client.set_model_version_tag(
            versions.name, versions.champion.version, "promotion.replaced_by", str(versions.candidate.version)
        )


# -- the report's run ---------------------------------------------------------------------------------
def log_folder_run(
    client: Any,
    settings: MlflowSettings,
    run_name: str,
    tags: dict[str, str],
    metrics: dict[str, float],
    folder: Path,
) -> str:
    """A finished run of ``settings.experiment_name`` holding ``folder``'s files; returns its id.

    The experiment comes from :func:`trainer.tracking.connection.experiment_id`, so an embedded store
    keeps its artifacts beside the database, not in ``./mlruns`` of the current directory.
    """
    run = client.create_run(experiment_id(client, settings), run_name=run_name, tags=tags)
    run_id = run.info.run_id
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    client.log_artifacts(run_id, str(folder))
    client.set_terminated(run_id, "FINISHED")
    return str(run_id)


def log_ensemble_run(
    uri: str, experiment_name: str, folder: Path, tags: dict[str, str], metrics: dict[str, float]
) -> str:
    """An ensemble folder (:mod:`trainer.comparison.ensemble`) as a finished run, shaped like a training run's
    artifacts (evidence files at the root, ``predictions/``), so ``trainer.compare`` selects and pairs it."""
    check_reachable(uri)
    settings = MlflowSettings(uri=uri, experiment_name=experiment_name)
    return log_folder_run(open_client(uri), settings, folder.name, tags, metrics, folder)
