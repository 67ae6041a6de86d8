"""Checkpoints run no code on load and are never half-written (issue 13 #3, #9)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from trainer.tracking.lightning_hooks import CHECKPOINT_STATE_KEY, run_id_in_checkpoint
from trainer.training.checkpoints import (
    SAFE_GLOBALS,
    AtomicCheckpointIO,
    CheckpointError,
    UnsafeCheckpointError,
    atomic_save,
    load_checkpoint,
)


class _Payload:
    """Unpickling this creates ``marker``: the code a tampered checkpoint would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _tampered(path: Path, marker: Path) -> Path:
    checkpoint = {
        "state_dict": {"w": torch.zeros(2)},
        "callbacks": {CHECKPOINT_STATE_KEY: {"run_id": _Payload(marker)}},
    }
    torch.save(checkpoint, path)
    return path


class _Tiny(pl.LightningModule):
    """What the trainer's checkpoints hold: AdamW, a warmup LambdaLR stepped per batch, val metric."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.cross_entropy(self.layer(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val/macro_f1", (self.layer(x).argmax(-1) == y).float().mean())

    def configure_optimizers(self) -> Any:
        from transformers import get_linear_schedule_with_warmup

        opt = torch.optim.AdamW(self.parameters(), lr=1e-3, foreach=True)
        sched = get_linear_schedule_with_warmup(opt, 1, 10)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class _RunId(pl.Callback):
    @property
    def state_key(self) -> str:
        return CHECKPOINT_STATE_KEY

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": "abc123"}


def _fit(tmp_path: Path, **trainer_args: Any) -> pl.Trainer:
    data = TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,)))
    loader = DataLoader(data, batch_size=4)
    callbacks = [
        pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ck", filename="best", monitor="val/macro_f1", mode="max"),
        pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ck", filename="last", monitor=None),
        pl.callbacks.EarlyStopping(monitor="val/macro_f1", mode="max", patience=3),
        _RunId(),
    ]
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **trainer_args,
    )
    trainer.fit(_Tiny(), loader, loader)
    return trainer


def test_a_real_lightning_checkpoint_needs_only_the_allow_listed_globals(tmp_path: Path) -> None:
    _fit(tmp_path, plugins=[AtomicCheckpointIO()])
    for name in ("best.ckpt", "last.ckpt"):
        path = tmp_path / "ck" / name
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        allowed = {f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}
        assert set(unsafe) <= allowed, unsafe
        checkpoint = load_checkpoint(path)
        assert checkpoint["state_dict"]["layer.weight"].shape == (2, 4) and checkpoint["optimizer_states"]
    assert run_id_in_checkpoint(tmp_path / "ck" / "last.ckpt") == "abc123"
    assert not list((tmp_path / "ck").glob(".*tmp"))  # no temp file left beside the checkpoints


def test_resume_through_the_plugin_loads_weights_only(tmp_path: Path) -> None:
    _fit(tmp_path, plugins=[AtomicCheckpointIO()])
    data = DataLoader(TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,))), batch_size=4)

    def _trainer() -> pl.Trainer:
        return pl.Trainer(
            max_epochs=3,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            default_root_dir=str(tmp_path / "resume"),
            plugins=[AtomicCheckpointIO()],
        )

    trainer = _trainer()
    trainer.fit(_Tiny(), data, ckpt_path=str(tmp_path / "ck" / "last.ckpt"))
    assert trainer.current_epoch == 3
    marker = tmp_path / "pwned"
    with pytest.raises(UnsafeCheckpointError, match=r"tampered\.ckpt"):
        _trainer().fit(_Tiny(), data, ckpt_path=str(_tampered(tmp_path / "tampered.ckpt", marker)))
    assert not marker.exists()


def test_tampered_checkpoint_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _tampered(tmp_path / "last.ckpt", marker)
    with pytest.raises(UnsafeCheckpointError, match=r"last\.ckpt"):
        load_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError, match=r"last\.ckpt"):
        run_id_in_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError, match=r"last\.ckpt"):
        AtomicCheckpointIO().load_checkpoint(path, weights_only=False)  # whatever Lightning asks for
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated"])
def test_empty_or_truncated_checkpoint_is_one_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "last.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"last\.ckpt.*not a readable checkpoint"):
        load_checkpoint(path)


def test_full_disk_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ck" / "best.ckpt"
    atomic_save({"state_dict": {"w": torch.ones(3)}}, path)
    before = path.read_bytes()

    def _disk_full(obj: Any, fh: Any, *args: Any, **kwargs: Any) -> None:
        fh.write(b"half a checkpoint")  # some bytes reach the disk, then it is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", _disk_full)
    with pytest.raises(CheckpointError, match=r"best\.ckpt: No space left on device; the previous file") as info:
        atomic_save({"state_dict": {"w": torch.zeros(3)}}, path)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["best.ckpt"]  # no partial temp file left


def test_full_disk_during_a_lightning_save_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def _disk_full(obj: Any, fh: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", _disk_full)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*best\.ckpt"):
        _fit(tmp_path, plugins=[AtomicCheckpointIO()])
