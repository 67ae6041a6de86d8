"""Where MLflow runs go: the ``tracking.*`` settings, the store's reachability, and the experiment.

Shared by everything that talks to a tracking store (training, evaluate, compare, promote, k-fold,
multirun parents), so that each checks the URI the same way and fails naming the key to change.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

_RESERVED_ALIASES = ("latest",)

# MLflow's REST client retries a failing call for minutes (7 retries, backoff 2, 120 s timeout): with a
# dead server every call froze its caller that long. The tracker logs from a background writer that
# spools what fails and replays it later, so one short attempt per call is all it needs. setdefault:
# a user's own value wins.
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


class TrackingError(RuntimeError):
    """Tracking cannot start; the message names the ``tracking.*`` key to change."""


@dataclass(frozen=True)
class MlflowSettings:
    """``configs/tracking/mlflow.yaml``; every field is a ``tracking.<field>`` key."""

    uri: str
    experiment_name: str
    backend: str = "mlflow"
    # null: beside the database for a local sqlite store (``<db dir>/artifacts/<experiment>``), the server's
    # choice for a tracking server (proxied uploads with ``--serve-artifacts``).
    artifact_location: str | None = None
    run_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    register_model: str | None = None
    alias: str | None = "candidate"
    log_system_metrics: bool = True
    system_metrics_interval_s: float = 10.0
    log_model: bool = True
    figures_every_n_epochs: int = 1

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MlflowSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join('tracking.' + k for k in unknown)}; known: {', '.join(sorted(known))}"
            )
        for key in ("uri", "experiment_name"):
            if not values.get(key):
                raise ValueError(f"tracking.{key} is required for tracking.backend=mlflow")
        settings = cls(**{**values, "tags": {str(k): str(v) for k, v in (values.get("tags") or {}).items()}})
        for f in dataclasses.fields(cls):
            value = getattr(settings, f.name)
            if f.type == "bool" and not isinstance(value, bool):
                raise ValueError(f"tracking.{f.name} must be true or false, got {value!r}")
            if f.type in ("int", "float") and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"tracking.{f.name} must be a number, got {value!r}")
        if settings.figures_every_n_epochs < 0:
            raise ValueError(
                f"tracking.figures_every_n_epochs must be >= 0 (0 = only test figures), "
                f"got {settings.figures_every_n_epochs}"
            )
        if settings.system_metrics_interval_s <= 0:
            raise ValueError(
                f"tracking.system_metrics_interval_s must be > 0, got {settings.system_metrics_interval_s}"
            )
        alias = settings.alias
        if alias is not None and (alias in _RESERVED_ALIASES or (alias[:1] in "vV" and alias[1:].isdigit())):
            raise ValueError(f"tracking.alias={alias!r} is reserved by MLflow (latest, v<number>); choose another")
        return settings


def local_artifact_location(uri: str, experiment_name: str) -> str | None:
    """``<db dir>/artifacts/<experiment>`` as a file URI for a ``sqlite:///`` store; None otherwise.

    MLflow would otherwise put an embedded store's artifacts under ``./mlruns`` of whatever folder
    the job ran from. One folder per experiment keeps them browsable by name.
    """
    if uri.startswith("sqlite:///"):
        folder = re.sub(r"[^\w.-]+", "_", experiment_name).strip(".") or "_"
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts" / folder).resolve().as_uri()
    return None


def experiment_id(client: MlflowClient, settings: MlflowSettings) -> str:
    """The id of ``tracking.experiment_name``, created (with its artifact location) when missing."""
    name = settings.experiment_name
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = settings.artifact_location or local_artifact_location(settings.uri, name)
        if location and "://" not in location:
            location = Path(location).resolve().as_uri()
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by a parallel job
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        raise TrackingError(
            f"tracking.experiment_name={name!r} is a deleted experiment in {settings.uri}: "
            f"restore it (mlflow experiments restore) or choose another name"
        )
    return experiment.experiment_id


def connect(settings: MlflowSettings) -> MlflowClient:
    """A client for ``tracking.uri`` (also made the process-wide URI), after a fast reachability check."""
    return connect_uri(settings.uri)


def connect_uri(uri: str) -> MlflowClient:
    """:func:`connect` for a bare URI (``trainer.sync`` knows only the URI its spool recorded)."""
    if uri.startswith(("http://", "https://")):
        for name, value in CLIENT_ENV.items():
            os.environ.setdefault(name, value)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):
        return open_sqlite_store(uri, Path(uri.removeprefix("sqlite:///")))
    return MlflowClient(uri)


def open_sqlite_store(uri: str, db: Path) -> MlflowClient:
    """Create (or verify) an embedded store's schema once, under ``<db>.lock``.

    MLflow creates a new sqlite store's tables on first use without a lock: two first runs of a sweep
    into one new store raced the migration (``table _alembic_tmp_metrics already exists``) and left it
    broken for every later run. The first process here runs the migration while the others wait, then
    find the tables in place. The store objects are cached per URI, so later calls do not migrate again.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(uri)  # builds the tracking store: creates and migrates the tables
            client.search_registered_models(max_results=1)  # the registry store shares them: verifies
        except MlflowException as err:
            raise TrackingError(f"tracking.uri=sqlite:///{db}: the store cannot be opened ({err})") from err
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return client


def check_reachable(uri: str) -> None:
    """Fail in seconds, naming the key, instead of after MLflow's minutes of retries."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10):
            return
    except urllib.error.HTTPError:
        return  # it answered: a proxy or auth layer may guard /health, the real calls will tell
    except (urllib.error.URLError, OSError) as err:
        raise TrackingError(
            f"tracking.uri={uri} is not reachable ({err}); start the server, point "
            f"tracking.uri elsewhere, or run with tracking=none"
        ) from None
