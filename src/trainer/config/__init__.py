"""Where the Hydra configs live, the resolvers they use, and composing them without ``@hydra.main``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = PROJECT_ROOT / "configs"


def _project_root() -> str:
    return os.environ.get("SEAGUARD_ROOT", str(PROJECT_ROOT))


def _default_data_root() -> str:
    """``SEAGUARD_DATA_ROOT``, else ``../shared/datasets`` beside the checkout when it exists."""
    if "SEAGUARD_DATA_ROOT" in os.environ:
        return os.environ["SEAGUARD_DATA_ROOT"]
    return str(Path(_project_root()).parent / "shared" / "datasets")


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", _project_root)
    if not OmegaConf.has_resolver("default_data_root"):
        OmegaConf.register_new_resolver("default_data_root", _default_data_root)


register_resolvers()


def to_container(node: Any) -> Any:
    """Plain, resolved Python data from a config node."""
    if isinstance(node, DictConfig) or OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def compose(config_name: str = "train", overrides: list[str] | None = None) -> DictConfig:
    """Compose a shipped config with Hydra's compose API (tests, notebooks, other entry points)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides or [])
