"""Multi-process training on CPU (gloo) under the launchers users have: torchrun on one node, torchrun as two
"nodes" on localhost, and SLURM's srun (its variables set as srun sets them).

Each launch must give exactly one run folder and one MLflow run, the same final weights on every rank (each
rank prints a digest of its weights at the end of fit), and tokenisation once per node (node-local rank 0, in
``prepare_data``; the other ranks read the cache).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_demo_data

pytestmark = pytest.mark.integration
pytest.importorskip("mlflow")

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
DIGEST = re.compile(r"^replica weights rank (\d+)/(\d+): sha256 ([0-9a-f]{64})$", re.M)
TOKENISED = "tokenisation on this node's local rank 0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _job_args(tmp: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "experiment=demo_tiny",
        "trainer=ddp_cpu",
        "trainer.max_epochs=1",
        "callbacks.early_stopping_patience=0",
        "+data.max_samples.train=96",
        "+data.max_samples.validation=42",
        "+data.max_samples.test=42",
        "tracking=mlflow",
        f"tracking.uri=sqlite:///{tmp / 'store' / 'mlflow.db'}",
        "tracking.experiment_name=dist",
        "tracking.log_model=false",
        "tracking.log_system_metrics=false",
        "tracking.figures_every_n_epochs=0",
        f"paths.cache_dir={cache}",
        f"paths.output_dir={tmp / 'outputs'}",
        *extra,
    ]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SEAGUARD_MLFLOW", "SLURM_"))}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return {**env, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **extra}


def _start(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(procs: list[subprocess.Popen[str]]) -> str:
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-4000:]
        outputs.append(out)
    return "\n".join(outputs)


def _check_one_run(tmp: Path, output: str, world_size: int, nodes: int) -> None:
    runs = sorted((tmp / "outputs" / "train" / "runs").iterdir())
    assert len(runs) == 1, f"one run folder expected: {runs}"
    assert (runs[0] / "model" / "config.json").is_file() and (runs[0] / "checkpoints" / "best.ckpt").is_file()
    digests = {int(rank): (int(size), digest) for rank, size, digest in DIGEST.findall(output)}
    assert sorted(digests) == list(range(world_size)), output[-3000:]
    assert len({d for _, d in digests.values()}) == 1, f"replicas diverged: {digests}"
    assert all(size == world_size for size, _ in digests.values())
    assert output.count(TOKENISED) == nodes, f"expected tokenisation once per node ({nodes})"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp / 'store' / 'mlflow.db'}")
    found = client.search_runs([client.get_experiment_by_name("dist").experiment_id])
    assert len(found) == 1 and found[0].info.status == "FINISHED"
    assert found[0].data.tags["run_dir"] == str(runs[0])


def test_torchrun_two_processes_one_node(shared_cache: Path, tmp_path: Path) -> None:
    require_demo_data()
    port = _free_port()
    cmd = [*TORCHRUN, "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(port)]
    cmd += ["-m", "trainer.train", *_job_args(tmp_path, shared_cache)]
    output = _wait([_start(cmd, tmp_path, _env())])
    _check_one_run(tmp_path, output, world_size=2, nodes=1)


def test_torchrun_two_nodes_on_localhost(shared_cache: Path, tmp_path: Path) -> None:
    """Two torchrun agents, one process each; each "node" has its own cache, as node-local disks would."""
    require_demo_data()
    port = _free_port()
    procs = []
    for node in (0, 1):
        cmd = [*TORCHRUN, "--nnodes", "2", "--node-rank", str(node), "--nproc-per-node", "1"]
        cmd += ["--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "trainer.train"]
        cmd += _job_args(tmp_path, tmp_path / f"cache-node{node}", "trainer.devices=1", "+trainer.num_nodes=2")
        procs.append(_start(cmd, tmp_path, _env()))
    output = _wait(procs)
    _check_one_run(tmp_path, output, world_size=2, nodes=2)
    for node in (0, 1):
        assert len(list((tmp_path / f"cache-node{node}" / "tokenized").iterdir())) == 1


def test_srun_style_two_tasks(shared_cache: Path, tmp_path: Path) -> None:
    """What ``srun --ntasks 2 python -m trainer.train ...`` gives each task: SLURM_* set, LOCAL_RANK/NODE_RANK not."""
    require_demo_data()
    port = _free_port()
    procs = []
    for rank in (0, 1):
        slurm = {
            "SLURM_JOB_ID": "4242",
            "SLURM_JOB_NAME": "seaguard",
            "SLURM_NTASKS": "2",
            "SLURM_NTASKS_PER_NODE": "2",
            "SLURM_NNODES": "1",
            "SLURM_NODEID": "0",
            "SLURM_PROCID": str(rank),
            "SLURM_LOCALID": str(rank),
            "SLURM_NODELIST": "127.0.0.1",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        cmd = [sys.executable, "-m", "trainer.train", *_job_args(tmp_path, shared_cache)]
        procs.append(_start(cmd, tmp_path, _env(**slurm)))
    output = _wait(procs)
    _check_one_run(tmp_path, output, world_size=2, nodes=1)


def test_rank_overrides_send_hydra_output_of_other_ranks_away(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit: only global rank 0 keeps the command line's run folder; Lightning's own launcher is left alone."""
    from trainer.training.ranks import hydra_overrides_for_rank

    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_NTASKS", "SLURM_PROCID", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    argv = ["experiment=demo_tiny", "hydra.run.dir=/runs/x"]
    assert hydra_overrides_for_rank(argv) == argv
    monkeypatch.setenv("LOCAL_RANK", "1")  # a worker started by Lightning: it passes rank 0's run dir itself
    assert hydra_overrides_for_rank(argv) == argv
    monkeypatch.delenv("LOCAL_RANK")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_JOB_NAME", "job")
    monkeypatch.setenv("SLURM_PROCID", "1")
    out = hydra_overrides_for_rank(argv)
    assert "hydra.run.dir=/runs/x" not in out and "hydra.output_subdir=null" in out
    assert any(a.startswith("hydra.run.dir=") and "seaguard-rank1-" in a for a in out)
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert hydra_overrides_for_rank(argv) == argv
