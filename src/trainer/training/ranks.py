"""Which process this is, before Lightning has set anything up.

Run-wide side effects (the data report on the console, the MLflow run) belong to global rank 0. They are
decided before the ``Trainer`` exists, so the rank comes from the launcher, through Lightning's own
cluster environments: ``torchrun`` (``RANK``), SLURM's ``srun`` (``SLURM_PROCID``; ``LOCAL_RANK`` and
``NODE_RANK`` are not set there until Lightning sets them), else Lightning's own DDP launcher, which
starts worker processes with ``LOCAL_RANK`` (and ``NODE_RANK`` on multi-node runs) in their environment.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment


def launcher() -> str:
    """``torchrun``, ``slurm`` or ``lightning`` (Lightning starts the other processes itself, or a single process)."""
    if TorchElasticEnvironment.detect():
        return "torchrun"
    if SLURMEnvironment.detect():
        return "slurm"
    return "lightning"


def launcher_rank() -> int | None:
    """The global rank an external launcher gave this process (``RANK``, ``SLURM_PROCID``); None under
    Lightning's own launcher, which numbers its processes only once the Trainer sets up."""
    kind = launcher()
    if kind == "torchrun":
        return int(os.environ["RANK"])
    if kind == "slurm":
        return int(os.environ["SLURM_PROCID"])
    return None


def is_global_zero() -> bool:
    rank = launcher_rank()
    if rank is not None:
        return rank == 0
    # Lightning's launcher: its workers carry LOCAL_RANK (and NODE_RANK on later nodes) in their environment.
    return int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0


def hydra_overrides_for_rank(argv: list[str]) -> list[str]:
    """``argv`` for this process: under ``torchrun``/``srun`` a rank other than 0 sends Hydra's output to a
    throwaway folder, so a run has exactly one run folder however many processes start it.

    Every process composes the config once from the same command line (the launcher starts them all);
    only global rank 0 writes the run folder, and Lightning broadcasts rank 0's checkpoint folder. With
    Lightning's own launcher (one ``python -m trainer.train`` on one node) Lightning already passes rank 0's
    ``hydra.run.dir`` to its workers.
    """
    rank = launcher_rank()
    if rank is None or rank == 0:
        return argv
    scratch = tempfile.mkdtemp(prefix=f"seaguard-rank{rank}-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    kept = [a for a in argv if not a.startswith(("hydra.run.dir=", "hydra.output_subdir="))]
    return [*kept, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"]
