"""Replica agreement under DDP: every rank logs a digest of its final weights.

DDP keeps replicas identical by all-reducing gradients; a rank that silently diverged (a different batch
count, a missed all-reduce, a non-deterministic kernel) would still finish. One line per rank, e.g.
``replica weights rank 1/2: sha256 3f…``, lets a user (and the distributed tests) check that every rank
ended with the same model. Single-process runs log nothing.
"""

from __future__ import annotations

import hashlib

import pytorch_lightning as pl
import torch


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer, in name order, as raw bytes (fp32 on CPU)."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


class ReplicaDigest(pl.Callback):
    """Logs ``replica weights rank r/n: sha256 <digest>`` at the end of fit, on every rank of a multi-process run."""

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size < 2:
            return
        digest = weights_digest(pl_module)
        # print, not the logger: non-zero ranks' log records may not reach the console.
        print(f"replica weights rank {trainer.global_rank}/{trainer.world_size}: sha256 {digest}", flush=True)
