"""Tracking pieces without a server: config → params, MLflow key rules, settings validation, lazy import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trainer.tracking.params import MAX_KEY, MAX_PARAM_VALUE, config_params, fit_value, flatten_config, mlflow_key

CONFIG = {
    "seed": 42,
    "ckpt_path": None,
    "module": {"optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3}, "class_weights": None},
    "data": {
        "files": {"train": "/d/train.csv"},
        "label_names": {},
        "split": {"ratios": [0.8, 0.1, 0.1]},
        "normalizer": {"mask_urls": True},
    },
    "tracking": {"tags": {}},
}


def test_every_leaf_is_one_param_with_a_readable_value() -> None:
    flat = flatten_config(CONFIG)
    assert flat == {
        "seed": "42",
        "ckpt_path": "null",
        "module.optimizer._target_": "torch.optim.AdamW",
        "module.optimizer._partial_": "true",
        "module.optimizer.lr": "0.001",
        "module.class_weights": "null",
        "data.files.train": "/d/train.csv",
        "data.label_names": "{}",
        "data.split.ratios": "[0.8, 0.1, 0.1]",
        "data.normalizer.mask_urls": "true",
        "tracking.tags": "{}",
    }
    assert config_params(CONFIG) == flat  # nothing here needs fixing for MLflow


def test_a_value_past_the_limit_keeps_its_key_and_says_where_the_rest_is() -> None:
    params = config_params({"notes": "y" * (MAX_PARAM_VALUE * 2)})
    assert set(params) == {"notes"}
    assert len(params["notes"]) == MAX_PARAM_VALUE
    assert params["notes"].startswith("yyy") and params["notes"].endswith("whole value in the config.yaml artifact]")
    assert fit_value("short") == "short"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("test/class/hate speech/f1", "test/class/hate speech/f1"),
        ("test/class/a:b+c/f1", "test/class/a_b_c/f1"),
        ("test/class/../f1", "test/class/_/f1"),
        ("test/class//f1", "test/class/_/f1"),
        ("val/lang/zh-Hant/macro_f1", "val/lang/zh-Hant/macro_f1"),
        ("test/class/ข่าว/f1", "test/class/ข_าว/f1"),  # combining marks are not \w: MLflow refuses them too
    ],
)
def test_metric_names_are_made_valid_for_mlflow(name: str, key: str) -> None:
    assert mlflow_key(name) == key


def test_long_and_colliding_keys_stay_distinct() -> None:
    a, b = mlflow_key("k" * 300 + "a"), mlflow_key("k" * 300 + "b")
    assert len(a) == len(b) == MAX_KEY and a != b
    params = config_params({"data": {"label_names": {"a:b": "x", "a+b": "y"}}})
    assert sorted(params) == ["data.label_names.a_b", "data.label_names.a_b_2"]


def _settings(**values: object) -> dict[str, object]:
    return {"backend": "mlflow", "uri": "sqlite:////tmp/x/mlflow.db", "experiment_name": "demo", **values}


def test_settings_reject_unknown_keys_by_their_config_name() -> None:
    pytest.importorskip("mlflow")
    from trainer.tracking.connection import MlflowSettings

    with pytest.raises(ValueError, match="tracking.regster_model"):
        MlflowSettings.from_dict(_settings(regster_model="x"))
    with pytest.raises(ValueError, match="tracking.alias"):
        MlflowSettings.from_dict(_settings(alias="v3"))
    with pytest.raises(ValueError, match="tracking.uri"):
        MlflowSettings.from_dict(_settings(uri=""))
    with pytest.raises(ValueError, match="tracking.figures_every_n_epochs"):
        MlflowSettings.from_dict(_settings(figures_every_n_epochs=-1))
    settings = MlflowSettings.from_dict(_settings(tags={"owner": "ana", "n": 3}))
    assert settings.tags == {"owner": "ana", "n": "3"} and settings.alias == "candidate"


def test_embedded_store_keeps_artifacts_beside_the_database() -> None:
    pytest.importorskip("mlflow")
    from trainer.tracking.connection import local_artifact_location

    assert local_artifact_location("sqlite:////p/mlruns/mlflow.db", "demo") == "file:///p/mlruns/artifacts/demo"
    assert local_artifact_location("sqlite:////p/mlruns/mlflow.db", "a b/c") == "file:///p/mlruns/artifacts/a_b_c"
    assert local_artifact_location("http://host:5000", "demo") is None


def test_unreachable_server_fails_fast_naming_the_key() -> None:
    pytest.importorskip("mlflow")
    from trainer.tracking.connection import TrackingError, check_reachable

    with pytest.raises(TrackingError, match="tracking.uri=http://127.0.0.1:9"):
        check_reachable("http://127.0.0.1:9")


def test_tracking_none_never_imports_mlflow() -> None:
    code = (
        "import sys\n"
        "from trainer.tracking import NullTracker, make_tracker\n"
        "import trainer.tracking.sweep, trainer.tracking.params\n"
        "assert isinstance(make_tracker({'backend': 'none'}, True), NullTracker)\n"
        "assert isinstance(make_tracker({'backend': 'mlflow', 'uri': 'x'}, False), NullTracker)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'mlflow'], 'mlflow was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_unknown_backend_is_named() -> None:
    from trainer.tracking import make_tracker

    with pytest.raises(ValueError, match="tracking.backend='wandb'"):
        make_tracker({"backend": "wandb"}, True)
