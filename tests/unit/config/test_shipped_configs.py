"""Every shipped config composes, and every data/model config validates against its schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from trainer.config import CONFIG_DIR, compose, to_container
from trainer.config.instantiate import check_targets
from trainer.data import data_spec_from_dict
from trainer.models.sources import model_spec_from_dict

ROOTS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
GROUP_OPTIONS = sorted(
    (p.parent.relative_to(CONFIG_DIR).as_posix(), p.stem)
    for p in CONFIG_DIR.rglob("*.yaml")
    if p.parent != CONFIG_DIR and p.parent.relative_to(CONFIG_DIR).parts[0] != "hydra"
)


def test_the_expected_roots_and_groups_exist() -> None:
    assert "train" in ROOTS
    groups = {g for g, _ in GROUP_OPTIONS}
    assert {"data", "model", "module", "trainer", "tracking", "experiment", "debug", "paths"} <= groups
    assert {"tiny", "me5_small", "minilm_l6_en", "xlmr_base", "xlmr_large", "mdeberta_v3_base"} <= {
        name for g, name in GROUP_OPTIONS if g == "model"
    }


@pytest.mark.parametrize("root", ROOTS)
def test_root_config_composes(root: str) -> None:
    cfg = compose(root)
    assert OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_group_option_composes_and_validates(group: str, option: str) -> None:
    if group.split("/")[0] not in (
        "data",
        "model",
        "module",
        "trainer",
        "tracking",
        "experiment",
        "debug",
        "paths",
        "loader",
        "callbacks",
    ):
        pytest.skip(f"{group} is not a train.yaml group")
    prefix = "+" if group.split("/")[0] in ("experiment", "debug") else ""
    overrides = [f"{prefix}{group}={option}".lstrip("+")]
    if group == "model" and option == "hub":
        overrides.append("model.name_or_path=some/model")
    cfg = compose("train", overrides)
    resolved = to_container(cfg)
    data_spec_from_dict(resolved["data"])
    model_spec_from_dict(resolved["model"])
    check_targets(cfg.module, "module")
    first_line = (CONFIG_DIR / group / f"{option}.yaml").read_text().splitlines()[0]
    if group in ("experiment", "data", "model", "debug"):
        assert first_line.startswith("#"), f"{group}/{option}.yaml should start with its run command"


def test_config_files_are_shallow_and_literal() -> None:
    for path in CONFIG_DIR.rglob("*.yaml"):
        text = path.read_text()
        if "@package _global_" in text:
            assert path.parent.name in ("experiment", "debug"), f"{path}: _global_ only in experiment/ and debug/"


def test_unknown_override_key_fails_at_compose_time(tmp_path: Path) -> None:
    from trainer.data.spec import ConfigError

    cfg = compose("train", ["+data.text_colum=oops"])
    with pytest.raises(ConfigError, match=r"data\.text_colum"):
        data_spec_from_dict(to_container(cfg.data))
