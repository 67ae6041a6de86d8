"""Secrets never reach MLflow params, tags or the config.yaml artifact (issue 13 #4)."""

from __future__ import annotations

import pytest
import yaml

from trainer.config import compose, to_container
from trainer.config.safety import REDACTED, is_secret_key, redact
from trainer.tracking.params import config_params

SECRET = "hunter2-s3cr3t"


@pytest.fixture
def leaky_cfg(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    monkeypatch.setenv("SEAGUARD_CACHE", str(tmp_path / "cache"))
    return compose(
        "train",
        [
            "+tracking.tags.build_id=${oc.env:MLFLOW_TRACKING_PASSWORD,none}",
            "+notes=built by ci with ${tracking.tags.build_id}",  # reaches the secret through another key
            "+extra.url='https://ci:${oc.env:MLFLOW_TRACKING_PASSWORD}@mlflow.internal'",
            "+extra.list=[a, '${oc.env:MLFLOW_TRACKING_PASSWORD}']",
        ],
    )


def test_values_from_the_environment_are_redacted_in_params(leaky_cfg) -> None:
    params = config_params(to_container(leaky_cfg), leaky_cfg)
    assert not [k for k, v in params.items() if SECRET in v]
    assert params["tracking.tags.build_id"] == REDACTED and params["notes"] == REDACTED
    assert params["extra.url"] == REDACTED and params["extra.list"] == f'["a", "{REDACTED}"]'


def test_config_artifact_and_tags_hold_no_secret(leaky_cfg, tmp_path) -> None:
    safe = redact(to_container(leaky_cfg), leaky_cfg)
    assert SECRET not in yaml.safe_dump(safe)
    assert safe["tracking"]["tags"] == {"build_id": REDACTED}
    # The project's own path variable is not a secret; neither is anything else.
    assert safe["paths"]["cache_dir"] == str(tmp_path / "cache")
    assert safe["model"] == to_container(leaky_cfg.model) and safe["seed"] == leaky_cfg.seed


def test_secret_named_keys_are_redacted_without_the_raw_config() -> None:
    config = {
        "tracking": {"tags": {"hf_token": "abc", "owner": "alice"}},
        "db": {"MlflowPassword": "x", "client_secret": "y", "api_key": "z", "passwd": None},
        "data": {"normalizer": {"url_token": "HTTPURL", "user_token": "@USER"}},
    }
    params = config_params(config)
    assert params["tracking.tags.hf_token"] == REDACTED and params["tracking.tags.owner"] == "alice"
    assert {params[f"db.{k}"] for k in ("MlflowPassword", "client_secret", "api_key")} == {REDACTED}
    assert params["db.passwd"] == "null"  # nothing to hide
    assert params["data.normalizer.url_token"] == "HTTPURL" and params["data.normalizer.user_token"] == "@USER"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("authToken", True),
        ("tokens", False),
        ("tokenizer", False),
        ("max_length", False),
        ("secrets", True),
        ("apiKey", True),
        ("url_token", False),
    ],
)
def test_secret_key_names(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


def test_shipped_config_is_unchanged_by_redaction() -> None:
    cfg = compose("train", ["experiment=demo_tiny"])
    assert redact(to_container(cfg), cfg) == to_container(cfg)
