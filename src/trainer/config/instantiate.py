"""Instantiate config nodes, but only allow-listed targets at allow-listed keys.

Configs travel: through MLflow params, shared experiment files, pull requests. A ``_target_`` can
name any callable, so ``hydra.utils.instantiate`` on an untrusted config is arbitrary code execution.
The rules, checked on the config **as it resolves** (``instantiate`` resolves interpolations first, so
``foreach: ${payload}`` or ``${oc.create:{_target_: builtins.open}}`` must be seen resolved):

- a ``_target_`` may appear only at :data:`TARGET_KEYS` (``module.optimizer``, ``module.scheduler``),
  naming one of :data:`ALLOWED_TARGETS`; anywhere else in the config it is refused, instantiated or not;
- what is instantiated is exactly the resolved node that was checked (no second resolution);
- ``hydra.callbacks`` (which Hydra instantiates itself, before the task function runs) may hold only
  :data:`HYDRA_CALLBACK_TARGETS`, unless the user set that ``_target_`` on the command line
  (:func:`check_hydra_callbacks`; :func:`preflight` applies it before ``@hydra.main`` starts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

ALLOWED_TARGETS = frozenset(
    {
        "torch.optim.AdamW",
        "torch.optim.Adam",
        "torch.optim.SGD",
        "torch.optim.RAdam",
        "transformers.get_linear_schedule_with_warmup",
        "transformers.get_cosine_schedule_with_warmup",
        "transformers.get_constant_schedule_with_warmup",
        "transformers.get_polynomial_decay_schedule_with_warmup",
        "transformers.optimization.get_linear_schedule_with_warmup",
        "transformers.optimization.get_cosine_schedule_with_warmup",
    }
)
# The only config nodes the entry points instantiate.
TARGET_KEYS = ("module.optimizer", "module.scheduler")
# What a config file may put under hydra.callbacks: the project's own multirun callback.
HYDRA_CALLBACK_TARGETS = frozenset({"trainer.tracking.sweep.MlflowSweepCallback"})


class UnsafeTargetError(ValueError):
    """A config names a ``_target_`` outside the allow-list, or at a key that is never instantiated."""


def _resolved(node: Any) -> Any:
    """Plain data as ``instantiate`` would see it: every interpolation and resolver evaluated."""
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def _targets(node: Any, key: str) -> Iterator[tuple[str, Any]]:
    """Every ``(dotted key of the node, target)`` in resolved plain data, depth first."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "_target_":
                yield key, v
            else:
                yield from _targets(v, f"{key}.{k!s}" if key else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _targets(v, f"{key}[{i}]")


def _strings(node: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, f"{key}.{k!s}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{key}[{i}]")
    elif isinstance(node, str):
        yield key, node


def check_targets(node: Any, key: str, allowed: frozenset[str] = ALLOWED_TARGETS) -> None:
    """Raise :class:`UnsafeTargetError` if resolved ``node`` (recursively) names a target not in ``allowed``."""
    for where, target in _targets(_resolved(node), key):
        if str(target) not in allowed:
            raise UnsafeTargetError(
                f"config key {where}._target_={target!s} is not an allowed target; allowed: {sorted(allowed)}"
            )


def check_config_targets(cfg: DictConfig, hydra_cfg: DictConfig | None = None) -> None:
    """Refuse a composed config whose resolved form names a ``_target_`` it must not (module docstring).

    Args:
        cfg: the composed job config (``@hydra.main``'s ``cfg``); a ``hydra`` node in it is checked
            as ``hydra_cfg``.
        hydra_cfg: ``HydraConfig.get()``, to check ``hydra.callbacks`` too. In the job this is late
            (Hydra has instantiated them already): :func:`preflight` checks them before that.
    """
    plain = _resolved(cfg)
    hydra_node = plain.pop("hydra", None) if isinstance(plain, dict) else None
    for where, target in _targets(plain, ""):
        if where not in TARGET_KEYS:
            raise UnsafeTargetError(
                f"config key {where}._target_={target!s}: a _target_ is allowed only at {', '.join(TARGET_KEYS)}"
                " (configs must not name code to run)"
            )
        if str(target) not in ALLOWED_TARGETS:
            raise UnsafeTargetError(
                f"config key {where}._target_={target!s} is not an allowed target; allowed: {sorted(ALLOWED_TARGETS)}"
            )
    if hydra_cfg is not None:
        check_hydra_callbacks(hydra_cfg)
    elif hydra_node is not None:
        check_hydra_callbacks(hydra_node)


def _command_line_targets(hydra_overrides: list[str]) -> dict[str, str]:
    """``{"hydra.callbacks.<name>...": target}`` for every ``_target_`` the command line sets itself."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    found: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(hydra_overrides):
        key = override.key_or_group
        if override.is_delete() or override.is_sweep_override() or not key.startswith("hydra.callbacks"):
            continue
        value = override.value()
        if key.endswith("._target_"):
            found[key.removesuffix("._target_")] = str(value)
        elif isinstance(value, dict):
            found.update((f"{key}.{k}" if k else key, str(v)) for k, v in _targets(value, ""))
    return found


def check_hydra_callbacks(hydra_cfg: DictConfig | dict[str, Any]) -> None:
    """Refuse ``hydra.callbacks`` that a config file (not the user's command line) points at other code.

    Allowed: :data:`HYDRA_CALLBACK_TARGETS` as a callback's own ``_target_``; any other ``_target_``
    inside ``hydra.callbacks`` only when the command line set it to that same value
    (``hydra.callbacks.mine._target_=pkg.Cb``, ``+hydra.callbacks.mine={_target_: pkg.Cb}``),
    as recorded in ``hydra.overrides.hydra``. An experiment file shared by someone else cannot run code.
    """
    node = hydra_cfg if isinstance(hydra_cfg, DictConfig) else OmegaConf.create(hydra_cfg)
    callbacks = _resolved(OmegaConf.select(node, "callbacks", default=None)) or {}
    overrides = OmegaConf.select(node, "overrides.hydra", default=None) or []
    from_user = _command_line_targets([str(o) for o in overrides])
    for where, target in _targets(callbacks, "hydra.callbacks"):
        top_level = where.count(".") == 2  # hydra.callbacks.<name>
        if (top_level and str(target) in HYDRA_CALLBACK_TARGETS) or from_user.get(where) == str(target):
            continue
        raise UnsafeTargetError(
            f"config key {where}._target_={target!s}: hydra.callbacks may hold only "
            f"{sorted(HYDRA_CALLBACK_TARGETS)} unless you set the callback on the command line "
            f"({where}._target_={target!s})"
        )


def preflight(config_name: str, argv: list[str]) -> None:
    """Check ``hydra.callbacks`` of the config that ``argv`` composes, before Hydra instantiates them.

    Call before the ``@hydra.main`` function (``preflight("train", sys.argv[1:]); main()``). Composes
    as Hydra's multirun does (sweep values left out: Hydra builds callbacks from that config in both
    modes). Does nothing for ``--help``, ``--cfg``, ``--info`` and the like, which run no callbacks.
    """
    from hydra import initialize_config_dir
    from hydra._internal.utils import get_args_parser
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from trainer.config import CONFIG_DIR

    if "--version" in argv:  # argparse would print it and exit here
        return
    args, _ = get_args_parser().parse_known_args(argv)
    if args.help or args.hydra_help or args.cfg or args.info or args.shell_completion:
        return
    config_dir = CONFIG_DIR
    if args.config_path is not None:  # relative to the entry points' folder, as Hydra resolves it
        config_dir = (Path(__file__).resolve().parents[1] / args.config_path).resolve()
    overrides = list(args.overrides)
    if args.config_dir is not None:
        overrides.append(f"hydra.searchpath=[file://{Path(args.config_dir).resolve()}]")
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None  # set by initialize_config_dir
        cfg = hydra.compose_config(args.config_name or config_name, overrides, run_mode=RunMode.MULTIRUN)
    check_hydra_callbacks(cfg.hydra)


def safe_instantiate(node: DictConfig | dict[str, Any] | None, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` of the checked, resolved ``node``; ``None`` stays ``None``."""
    if node is None:
        return None
    plain = _resolved(node)
    check_targets(plain, key)
    for where, text in _strings(plain, key):
        # A resolved value that still reads "${...}" would be resolved again by instantiate.
        if "${" in text:
            raise UnsafeTargetError(f"config key {where}={text!r}: an interpolation may not resolve to another one")
    return instantiate(OmegaConf.create(plain), **kwargs)
