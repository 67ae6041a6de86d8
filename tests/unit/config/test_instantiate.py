"""No code from configs (issue 13 #1, #2): targets are checked resolved, and only where they are instantiated."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from trainer.config import compose
from trainer.config.instantiate import (
    UnsafeTargetError,
    check_config_targets,
    check_hydra_callbacks,
    preflight,
    safe_instantiate,
)


def _open_payload(marker: Path) -> str:
    # builtins.open(marker, "w") creates the marker: proof that the payload ran.
    return f"{{_target_: builtins.open, file: '{marker}', mode: w}}"


def test_shipped_configs_pass() -> None:
    for overrides in ([], ["experiment=demo_tiny"], ["experiment=id_hs1_me5"]):
        check_config_targets(compose("train", overrides))
    for entry_point in ("kfold", "evaluate", "export", "compare", "promote"):
        check_config_targets(compose(entry_point))
        preflight(entry_point, [])


def test_interpolated_payload_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cfg = compose("train", [f"+payload={_open_payload(marker)}", "module.optimizer.foreach=${payload}"])
    with pytest.raises(UnsafeTargetError, match=r"module\.optimizer\.foreach\._target_=builtins\.open"):
        safe_instantiate(cfg.module.optimizer, "module.optimizer")
    with pytest.raises(UnsafeTargetError, match=r"module\.optimizer\.foreach\._target_=builtins\.open"):
        check_config_targets(cfg)
    assert not marker.exists()


def test_oc_create_payload_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cfg = compose("train")
    cfg.module.optimizer.foreach = "${oc.create:" + _open_payload(marker) + "}"
    with pytest.raises(UnsafeTargetError, match=r"module\.optimizer\.foreach\._target_=builtins\.open"):
        check_config_targets(cfg)
    with pytest.raises(UnsafeTargetError, match=r"builtins\.open"):
        safe_instantiate(cfg.module.optimizer, "module.optimizer")
    assert not marker.exists()


def test_target_outside_the_instantiated_keys_is_refused_even_when_allow_listed() -> None:
    cfg = compose("train", ["+data.extra={_target_: torch.optim.AdamW}"])
    with pytest.raises(UnsafeTargetError, match=r"data\.extra\._target_.*only at module\.optimizer, module\.scheduler"):
        check_config_targets(cfg)


def test_disallowed_target_at_an_instantiated_key_is_named() -> None:
    cfg = compose("train", ["module.scheduler._target_=torch.load"])
    with pytest.raises(UnsafeTargetError, match=r"module\.scheduler\._target_=torch\.load is not an allowed"):
        check_config_targets(cfg)


def test_value_resolving_to_another_interpolation_is_refused() -> None:
    node = OmegaConf.create({"_target_": "torch.optim.AdamW", "_partial_": True, "lr": "\\${oc.env:HOME}"})
    with pytest.raises(UnsafeTargetError, match=r"module\.optimizer\.lr"):
        safe_instantiate(node, "module.optimizer")


# -- hydra.callbacks ---------------------------------------------------------------------------


def _experiment_dir(tmp_path: Path, marker: Path) -> Path:
    """A config folder holding one shared experiment file that adds a Hydra callback."""
    folder = tmp_path / "configs" / "experiment"
    folder.mkdir(parents=True)
    (folder / "shared.yaml").write_text(
        "# @package _global_\n"
        "hydra:\n  callbacks:\n    evil:\n"
        f"      _target_: builtins.open\n      file: '{marker}'\n      mode: w\n"
    )
    return folder.parent


def test_callback_from_an_experiment_file_is_refused_before_hydra_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    configs = _experiment_dir(tmp_path, marker)
    for mode in ([], ["--multirun"]):
        with pytest.raises(UnsafeTargetError, match=r"hydra\.callbacks\.evil\._target_=builtins\.open"):
            preflight("train", [*mode, "--config-dir", str(configs), "experiment=shared"])
    assert not marker.exists()


def test_own_callback_and_callbacks_from_the_command_line_pass(tmp_path: Path) -> None:
    preflight("train", [])
    preflight("train", ["--multirun", "experiment=demo,demo_tiny", "seed=1,2"])
    preflight("train", ["+hydra.callbacks.mine._target_=pytorch_lightning.Callback"])
    preflight("train", ["+hydra.callbacks.mine={_target_: pytorch_lightning.Callback}"])
    preflight("train", ["--cfg", "job", "+hydra.callbacks.x._target_=os.system"])  # prints only, runs nothing


def test_command_line_names_the_callback_but_not_its_target(tmp_path: Path) -> None:
    configs = _experiment_dir(tmp_path, tmp_path / "pwned")
    with pytest.raises(UnsafeTargetError, match=r"hydra\.callbacks\.evil"):
        preflight("train", ["--config-dir", str(configs), "experiment=shared", "hydra.callbacks.evil.mode=a"])


def test_overriding_the_own_callback_target_in_a_file_is_refused() -> None:
    hydra_cfg = OmegaConf.create(
        {"callbacks": {"mlflow_sweep": {"_target_": "os.system", "command": "id"}}, "overrides": {"hydra": []}}
    )
    with pytest.raises(UnsafeTargetError, match=r"hydra\.callbacks\.mlflow_sweep\._target_=os\.system"):
        check_hydra_callbacks(hydra_cfg)
    nested = OmegaConf.create(
        {
            "callbacks": {
                "mlflow_sweep": {
                    "_target_": "trainer.tracking.sweep.MlflowSweepCallback",
                    "x": {"_target_": "os.system"},
                }
            },
            "overrides": {"hydra": []},
        }
    )
    with pytest.raises(UnsafeTargetError, match=r"hydra\.callbacks\.mlflow_sweep\.x\._target_=os\.system"):
        check_hydra_callbacks(nested)
