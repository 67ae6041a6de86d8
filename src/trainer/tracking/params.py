"""Config → MLflow params, and any name → a valid MLflow key. No mlflow import: unit-testable alone.

Every leaf of the resolved config becomes exactly one param named by its dotted path
(``module.optimizer.lr``), so "params count == flattened config keys" holds and runs can be
filtered by any setting (``params.`module.optimizer.lr` = '0.001'``). Lists and empty mappings are
leaves, written as JSON. MLflow stores at most :data:`MAX_PARAM_VALUE` characters per value; a longer
value keeps its key, its head and a note pointing at the ``config.yaml`` artifact, which always holds
the whole resolved config. Secrets never reach a param: :func:`config_params` redacts values from
the environment and secret-named keys first (:func:`trainer.config.safety.redact`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from trainer.config.safety import redact

# mlflow.utils.validation: MAX_PARAM_VAL_LENGTH, MAX_ENTITY_KEY_LENGTH, MAX_TAG_VAL_LENGTH.
MAX_PARAM_VALUE = 6000
MAX_KEY = 250
MAX_TAG_VALUE = 8000
CONFIG_ARTIFACT = "config.yaml"

# What MLflow accepts in a param, metric or tag name on every OS (the colon is refused on Windows).
_BAD_KEY_CHARS = re.compile(r"[^\w.\- /]")


def mlflow_key(name: str) -> str:
    """``name`` with characters MLflow refuses replaced by ``_``, never resolving to another path.

    Label names and language codes end up inside metric names (``test/class/{label}/f1``), so they
    may hold anything; MLflow also refuses names that ``posixpath.normpath`` would change.
    """
    cleaned = _BAD_KEY_CHARS.sub("_", name)
    parts = [p if p not in ("", ".", "..") else "_" for p in cleaned.split("/")]
    key = "/".join(parts)
    if len(key) > MAX_KEY:
        # Cut, and keep a hash of the whole name so two long names stay distinct.
        key = f"{key[: MAX_KEY - 11]}_{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return key


def param_value(value: Any) -> str:
    """Strings as they are; everything else as JSON (``true``, ``null``, ``0.001``, ``[1, 2]``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def fit_value(text: str, limit: int = MAX_PARAM_VALUE) -> str:
    """``text`` if it fits, else its head and a note that the whole value is in config.yaml."""
    if len(text) <= limit:
        return text
    note = f"... [{len(text)} characters; whole value in the {CONFIG_ARTIFACT} artifact]"
    return text[: limit - len(note)] + note


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Every leaf of ``config`` as ``{"a.b.c": "value"}`` (values not yet cut to MLflow's limit)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, f"{name}."))
        else:
            flat[name] = param_value(value)
    return flat


def config_params(config: Mapping[str, Any], raw_cfg: DictConfig | None = None) -> dict[str, str]:
    """MLflow-ready params: one per config leaf, keys made valid and unique, values within limits.

    Args:
        config: the resolved config (plain data).
        raw_cfg: the config it was resolved from: values that came from ``${oc.env:...}`` are then
            redacted too (secret-named keys always are).
    """
    out: dict[str, str] = {}
    for name, value in flatten_config(redact(dict(config), raw_cfg)).items():
        key = mlflow_key(name)
        n = 2
        while key in out:  # two config keys that differ only in refused characters
            key = mlflow_key(f"{name}_{n}")
            n += 1
        out[key] = fit_value(value)
    return out
