"""Secrets out of everything logged: params, tags and the ``config.yaml`` artifact.

A shared experiment file can write ``tracking.tags.build_id: ${oc.env:MLFLOW_TRACKING_PASSWORD}``,
and the resolved config is logged whole. :func:`redact` returns the resolved config with

- every value that came from the environment (``${oc.env:NAME}``, directly, inside a longer string,
  or through another interpolation) replaced by :data:`REDACTED`, except the project's own path
  variables in :data:`PUBLIC_ENV` (``paths.cache_dir`` comes from ``SEAGUARD_CACHE``);
- every value under a key named like a secret (a word ``password``, ``passwd``, ``token``, ``secret``,
  ``credential(s)``, ``apikey``/``api_key``, any case: ``hf_token``, ``MlflowPassword``,
  ``client_secret``) replaced too, except :data:`PUBLIC_KEYS` (the normaliser's placeholder words).

What came from the environment is found by resolving the config once more with ``oc.env`` swapped for
a resolver that returns a marker, so no interpolation path is missed. The run itself still gets the
real values: only what is logged is redacted.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

REDACTED = "<redacted>"
# Environment variables the shipped configs read that hold paths, not secrets.
PUBLIC_ENV = frozenset({"SEAGUARD_CACHE", "SEAGUARD_ROOT", "SEAGUARD_DATA_ROOT"})
# Keys that contain a secret word but hold a placeholder the normaliser writes into the text.
PUBLIC_KEYS = frozenset({"url_token", "user_token"})

_SECRET_WORDS = frozenset({"password", "passwd", "token", "secret", "secrets", "credential", "credentials", "apikey"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_ENV_CALL = re.compile(r"oc\.env\s*:\s*(['\"]?)([^,'\"}\s]+)\1")
_MARKER_RESOLVER = "trainer_env_marker"
_MARKER = "\u241ftrainer-env-value\u241f"


def is_secret_key(name: str) -> bool:
    """Whether a config key names a secret (see the module docstring)."""
    if name in PUBLIC_KEYS:
        return False
    words = [w for w in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", name).lower()) if w]
    joined = "".join(words)
    return any(w in _SECRET_WORDS for w in words) or "apikey" in joined


def _mark_env(text: str) -> str:
    def swap(match: re.Match[str]) -> str:
        return match.group(0) if match.group(2) in PUBLIC_ENV else f"{_MARKER_RESOLVER}:{match.group(2)}"

    return _ENV_CALL.sub(swap, text)


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _rewrite(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return _mark_env(node) if isinstance(node, str) and "oc.env" in node else node


def _env_marked(raw_cfg: DictConfig) -> Any:
    """``raw_cfg`` resolved with each non-public ``oc.env`` returning the marker (None if that fails)."""
    if not OmegaConf.has_resolver(_MARKER_RESOLVER):
        OmegaConf.register_new_resolver(_MARKER_RESOLVER, lambda *args: _MARKER, use_cache=False)
    rewritten = _rewrite(OmegaConf.to_container(raw_cfg, resolve=False))
    try:
        return OmegaConf.to_container(OmegaConf.create(rewritten), resolve=True)
    except Exception as err:  # a resolver that needs the live Hydra context, a typed node, ...
        log.warning(
            "redaction: could not trace environment values through the config (%s); values whose "
            "own text reads ${oc.env:...} are redacted",
            err,
        )
        return rewritten  # unresolved: the direct ${trainer_env_marker:...} texts still carry the marker name


def _has_marker(value: Any) -> bool:
    return isinstance(value, str) and (_MARKER in value or f"{_MARKER_RESOLVER}:" in value)


def _walk(value: Any, marked: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            twin = marked.get(key) if isinstance(marked, dict) else None
            secret = is_secret_key(str(key)) and item not in (None, "")
            out[key] = REDACTED if secret else _walk(item, twin)
        return out
    if isinstance(value, list):
        twins = marked if isinstance(marked, list) and len(marked) == len(value) else [None] * len(value)
        return [_walk(item, twin) for item, twin in zip(value, twins, strict=True)]
    return REDACTED if _has_marker(marked) else value


def redact(config: Any, raw_cfg: DictConfig | None = None) -> Any:
    """A copy of resolved ``config`` with secrets replaced by :data:`REDACTED` (module docstring).

    Args:
        config: plain resolved data (``to_container(cfg)``), a mapping at the top.
        raw_cfg: the config it was resolved from, to find values that came from the environment;
            without it only secret-named keys are redacted.
    """
    marked = _env_marked(raw_cfg) if raw_cfg is not None else None
    return _walk(config, marked)
